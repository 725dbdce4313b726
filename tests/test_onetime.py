"""Issue 11's rules for throttling, one-time tokens and codes, on every store (SPEC §13, §14).

Each test runs on memory, SQLite, PostgreSQL, and PostgreSQL users with Redis
sessions (where throttles, tokens and codes then live), with an injected clock
the test moves by hand. It starts at real time and only moves forward, since
Redis expires keys by its own clock (docs/topics/adapters.rst, "Redis").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from onetime_support import (
    HOUR,
    MANY,
    MINUTE,
    SECOND,
    STORES,
    THROTTLED_60,
    Clock,
    CountingHash,
    World,
    attempt,
    open_world,
    outcome,
)
from services import postgres_schema, redis_prefix

from lucia_wsgi import LuciaError, lucia
from lucia_wsgi.adapters import AsyncPostgresAdapter, AsyncRedisSessionAdapter, MemoryAdapter, SQLiteAdapter
from lucia_wsgi.testing import AdapterCall, FaultyAdapter
from lucia_wsgi.wsgi import AuthRequest


@pytest.fixture(params=STORES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as opened:
        yield opened



# throttling log-ins


def test_login_throttle_is_on_by_default_ten_at_once_then_one_a_minute(world: World) -> None:
    auth = world.auth()
    auth.create_user("username", "alice", password="alice-pw")
    assert [attempt(auth, "alice", "wrong") for _ in range(10)] == ["AUTH_INVALID_PASSWORD"] * 10
    assert attempt(auth, "alice", "alice-pw") == THROTTLED_60  # even the right password waits
    world.clock.advance(MINUTE - 1)
    assert attempt(auth, "alice", "alice-pw") == ("AUTH_TOO_MANY_ATTEMPTS", 1)
    world.clock.advance(1)
    assert attempt(auth, "alice", "alice-pw") == "ok"
    assert attempt(auth, "alice", "alice-pw") == THROTTLED_60


def test_a_throttled_attempt_costs_no_hash(world: World) -> None:
    auth = world.auth()
    auth.create_user("username", "alice", password="alice-pw")
    for expected in range(1, 11):
        attempt(auth, "alice", "wrong")
        assert world.hashing.validated == expected  # one verification per attempt let through
    for _ in range(20):
        assert attempt(auth, "alice", "wrong") == THROTTLED_60
    assert world.hashing.validated == 10


def test_a_throttled_attempt_never_reaches_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    auth = lucia(adapter=MemoryAdapter(), env="DEV", clock=Clock(), login_throttle={"capacity": 2,
                                                                                   "refill_every": MINUTE})
    auth.create_user("username", "alice", password="alice-pw")
    monkeypatch.setattr(hashlib, "scrypt", counting)
    outcomes = [attempt(auth, name, "wrong") for name in ("alice", "alice", "alice", "nobody", "nobody", "nobody")]
    assert outcomes == ["AUTH_INVALID_PASSWORD"] * 2 + [THROTTLED_60] + ["AUTH_INVALID_PROVIDER_ID"] * 2 + [
        THROTTLED_60]
    assert len(calls) == 4  # the real scrypt, once per attempt let through, never for a throttled one


def test_unknown_provider_ids_are_throttled_exactly_like_known_ones(world: World) -> None:
    auth = world.auth()
    auth.create_user("username", "alice", password="alice-pw")

    def run(identifier: str) -> list[tuple[object, int]]:
        seen = []
        for _ in range(13):
            before = world.hashing.validated
            seen.append((attempt(auth, identifier, "wrong"), world.hashing.validated - before))
        return seen

    known, unknown = run("alice"), run("nobody")
    assert known == [("AUTH_INVALID_PASSWORD", 1)] * 10 + [(THROTTLED_60, 0)] * 3
    assert unknown == [("AUTH_INVALID_PROVIDER_ID", 1)] * 10 + [(THROTTLED_60, 0)] * 3


def test_one_identifier_under_attack_never_slows_another(world: World) -> None:
    auth = world.auth()
    for name in ("alice", "bob", "Alice"):
        auth.create_user("username", name, password=f"{name}-pw")
    for _ in range(50):
        attempt(auth, "alice", "wrong")
    assert attempt(auth, "alice", "alice-pw") == THROTTLED_60
    assert attempt(auth, "bob", "bob-pw") == "ok"
    assert attempt(auth, "Alice", "Alice-pw") == "ok"  # another provider id, another bucket
    assert [attempt(auth, "bob", "wrong") for _ in range(9)] == ["AUTH_INVALID_PASSWORD"] * 9  # bob's ten intact
    assert attempt(auth, "bob", "bob-pw") == THROTTLED_60


def test_the_bucket_refills_it_never_bans(world: World) -> None:
    auth = world.auth()
    auth.create_user("username", "alice", password="alice-pw")
    through = 0
    for _ in range(6 * 10):  # an attacker trying every 10 seconds for ten minutes
        through += attempt(auth, "alice", "wrong") == "AUTH_INVALID_PASSWORD"
        world.clock.advance(10 * SECOND)
    assert through == 10 + 9  # the burst, then one a minute: the attacker never empties it for longer
    world.clock.advance(10 * MINUTE)  # the attacker stops: ten minutes later the bucket is full again
    assert [attempt(auth, "alice", "wrong") for _ in range(9)] == ["AUTH_INVALID_PASSWORD"] * 9
    assert attempt(auth, "alice", "alice-pw") == "ok"


def test_login_throttle_none_turns_it_off(world: World) -> None:
    auth = world.auth(login_throttle=None)
    auth.create_user("username", "alice", password="alice-pw")
    assert [attempt(auth, "alice", "wrong") for _ in range(40)] == ["AUTH_INVALID_PASSWORD"] * 40
    assert attempt(auth, "alice", "alice-pw") == "ok"
    assert world.hashing.validated == 41
    assert "login:" not in world.dump()  # no bucket was ever stored


def test_login_throttle_takes_its_own_numbers(world: World) -> None:
    auth = world.auth(login_throttle={"capacity": 3, "refill_every": timedelta(seconds=90, milliseconds=500)})
    auth.create_user("username", "alice", password="alice-pw")
    assert [attempt(auth, "alice", "wrong") for _ in range(3)] == ["AUTH_INVALID_PASSWORD"] * 3
    assert attempt(auth, "alice", "wrong") == ("AUTH_TOO_MANY_ATTEMPTS", 91)  # 90.5 s rounded up
    world.clock.advance(90 * SECOND)
    assert attempt(auth, "alice", "wrong") == ("AUTH_TOO_MANY_ATTEMPTS", 1)  # 500 ms: still a whole second
    world.clock.advance(499)
    assert attempt(auth, "alice", "wrong") == ("AUTH_TOO_MANY_ATTEMPTS", 1)  # 1 ms left
    world.clock.advance(1)
    assert attempt(auth, "alice", "alice-pw") == "ok"


@pytest.mark.parametrize(("method", "when"), [
    pytest.param("get_throttle", "before", id="bucket-unreadable"),
    pytest.param("set_throttle", "before", id="bucket-unwritable"),
    pytest.param("set_throttle", "after", id="bucket-written-reply-lost"),
])
def test_a_store_failure_fails_the_log_in_with_the_stores_error(world: World, method: str, when: str) -> None:
    error = ConnectionError("the store is down")
    faulty: list[FaultyAdapter] = []
    auth = world.auth(wrap=lambda store: faulty.append(FaultyAdapter(store, {method: 1}, exc=error, when=when))
                      or faulty[0])
    user = auth.create_user("username", "alice", password="alice-pw")
    with pytest.raises(ConnectionError) as caught:
        auth.authenticate_user("username", "alice", "alice-pw")
    assert caught.value is error, "never a silent bypass, never another error"
    assert faulty[0].faults == [AdapterCall(method, 1)]
    assert world.hashing.validated == 0  # the attempt stopped at the throttle
    assert auth.authenticate_user("username", "alice", "alice-pw") == user  # healed: no lockout either


def test_a_client_throttle_keys_on_remote_addr_and_ignores_forwarded_headers(world: World) -> None:
    auth = world.auth()
    per_ip = auth.throttle("login-ip", capacity=3, refill_every=MINUTE)

    def hit(remote: str, forwarded_for: str) -> object:
        environ = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded_for, "REQUEST_METHOD": "POST"}
        return outcome(lambda: AuthRequest(auth, environ).throttle_client(per_ip))

    assert [hit("198.51.100.7", f"203.0.113.{n}") for n in range(4)] == [None] * 3 + [THROTTLED_60]
    assert hit("198.51.100.8", "203.0.113.1") is None  # another client address, another bucket


def test_behind_a_trusted_proxy_the_client_throttle_keys_on_the_rightmost_forwarded_address(world: World) -> None:
    auth = world.auth(trust_proxy=True)
    per_ip = auth.throttle("login-ip", capacity=3, refill_every=MINUTE)

    def hit(forwarded_for: str) -> object:
        environ = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded_for, "REQUEST_METHOD": "POST"}
        return outcome(lambda: AuthRequest(auth, environ).throttle_client(per_ip))

    # The client spoofs the leftmost value each time; the proxy appends the address it saw.
    assert [hit(f"192.0.2.{n}, 203.0.113.5") for n in range(4)] == [None] * 3 + [THROTTLED_60]
    assert hit("203.0.113.6") is None



def test_requests_without_a_client_address_share_one_bucket(world: World) -> None:
    auth = world.auth()
    per_ip = auth.throttle("login-ip", capacity=2, refill_every=MINUTE)

    def hit(environ: dict[str, str]) -> object:
        return outcome(lambda: AuthRequest(auth, {"REQUEST_METHOD": "POST", **environ}).throttle_client(per_ip))

    assert [hit({}), hit({"REMOTE_ADDR": ""}), hit({})] == [None, None, THROTTLED_60]
    assert hit({"REMOTE_ADDR": "198.51.100.7"}) is None  # a known address keeps its own bucket


# one-time tokens


def test_tokens_are_url_safe_and_carry_at_least_128_random_bits(world: World) -> None:
    auth = world.auth()
    user = auth.create_user("username", "alice")
    kind = auth.tokens("reset", expires_in=HOUR, issue_limit=MANY)
    tokens = [kind.issue(user["user_id"]) for _ in range(40)]
    assert len(set(tokens)) == 40
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token) and len(token) * 6 >= 128


def test_a_dump_of_the_store_holds_no_usable_token(world: World) -> None:
    auth = world.auth()
    user = auth.create_user("username", "alice")
    before = world.dump()
    kinds = auth.tokens("reset", expires_in=HOUR), auth.tokens("verify-email", expires_in=HOUR)
    tokens = [kinds[0].issue(user["user_id"]), kinds[1].issue(user["user_id"], bound_to="a@example.com")]
    dump = world.dump()
    digests = set(re.findall(r"[0-9a-f]{64}", dump)) - set(re.findall(r"[0-9a-f]{64}", before))
    assert len(digests) >= 2  # the rows are there, as SHA-256 hex digests
    for token in tokens:
        assert all(token[start:start + 12] not in dump for start in range(len(token) - 11))
    assert kinds[0].consume(tokens[0]) == user["user_id"]  # and the tokens still work


def test_a_token_works_exactly_once(world: World) -> None:
    auth = world.auth()
    user = auth.create_user("username", "alice")
    kind = auth.tokens("reset", expires_in=HOUR)
    token = kind.issue(user["user_id"])
    assert kind.consume(token) == user["user_id"]
    assert outcome(lambda: kind.consume(token)) == "AUTH_INVALID_TOKEN"


def test_kinds_are_separate(world: World) -> None:
    auth = world.auth()
    user = auth.create_user("username", "alice")
    reset, verify = auth.tokens("reset", expires_in=HOUR), auth.tokens("verify-email", expires_in=HOUR)
    token = reset.issue(user["user_id"])
    assert outcome(lambda: verify.consume(token)) == "AUTH_INVALID_TOKEN"
    assert reset.consume(token) == user["user_id"]  # the other kind's try did not use it up


@pytest.mark.parametrize(("first", "second"), [
    pytest.param(("tokens", "account-email-verification-link"), ("tokens", "account-email-verification-code"),
                 id="long-names-alike"),
    pytest.param(("tokens", "sign-in"), ("codes", "sign-in"), id="a-token-kind-and-a-code-kind"),
    pytest.param(("tokens", "reset"), ("tokens", "verify"), id="two-token-kinds"),
])
def test_each_kind_has_its_own_issue_limit(world: World, first: tuple[str, str], second: tuple[str, str]) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    one, other = (getattr(auth, maker)(name, expires_in=HOUR) for maker, name in (first, second))
    for _ in range(3):
        one.issue(user_id)
    assert outcome(lambda: one.issue(user_id)) == ("AUTH_TOO_MANY_ATTEMPTS", 300)
    assert isinstance(other.issue(user_id), str)  # the first kind's limit is not the second's


MALFORMED = [
    pytest.param("", id="empty"),
    pytest.param("a" * 4_000, id="4000-characters"),
    pytest.param("\x00", id="nul"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("A" * 42 + "\udcff", id="surrogate-at-token-length"),
    pytest.param("A" * 42 + "\x00", id="nul-at-token-length"),
    pytest.param("A" * 42 + "=", id="padding"),
    pytest.param("A" * 43, id="well-formed-unknown"),
    pytest.param(None, id="not-a-string"),
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_unknown_or_malformed_tokens_are_invalid(world: World, bad: Any) -> None:
    auth = world.auth()
    user = auth.create_user("username", "alice")
    kind = auth.tokens("reset", expires_in=HOUR)
    token = kind.issue(user["user_id"])
    assert outcome(lambda: kind.consume(bad)) == "AUTH_INVALID_TOKEN"
    assert kind.consume(token) == user["user_id"]


@pytest.mark.parametrize("change", [
    pytest.param(lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"), id="last-character"),
    pytest.param(lambda token: token.swapcase(), id="case"),
    pytest.param(lambda token: token + "A", id="one-more"),
    pytest.param(lambda token: token[:-1], id="one-less"),
    pytest.param(lambda token: " " + token, id="leading-space"),
])
def test_a_near_miss_is_invalid_and_leaves_the_token_usable(world: World, change: Callable[[str], str]) -> None:
    auth = world.auth()
    user = auth.create_user("username", "alice")
    kind = auth.tokens("reset", expires_in=HOUR)
    token = kind.issue(user["user_id"])
    assert outcome(lambda: kind.consume(change(token))) == "AUTH_INVALID_TOKEN"
    assert kind.consume(token) == user["user_id"]


def test_a_token_is_valid_through_its_expiry_and_expired_after(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    kind = auth.tokens("reset", expires_in=timedelta(hours=1))
    on_time, late = kind.issue(user_id), kind.issue(user_id)
    world.clock.advance(HOUR)  # the instant of expiry still counts, as for sessions
    assert kind.consume(on_time) == user_id
    world.clock.advance(1)
    assert outcome(lambda: kind.consume(late)) == "AUTH_EXPIRED_TOKEN"


def test_revoke_all_ends_that_users_tokens_of_that_kind_only(world: World) -> None:
    auth = world.auth()
    alice, bob = (auth.create_user("username", name)["user_id"] for name in ("alice", "bob"))
    reset, verify = auth.tokens("reset", expires_in=HOUR), auth.tokens("verify-email", expires_in=HOUR)
    alices = [reset.issue(alice), reset.issue(alice)]
    kept, bobs = verify.issue(alice), reset.issue(bob)
    reset.revoke_all(alice)
    reset.revoke_all("nobody")
    assert [outcome(lambda token=token: reset.consume(token)) for token in alices] == ["AUTH_INVALID_TOKEN"] * 2
    assert verify.consume(kept) == alice
    assert reset.consume(bobs) == bob


def test_deleting_a_user_ends_their_tokens_and_codes(world: World) -> None:
    auth = world.auth()
    alice, bob = (auth.create_user("username", name)["user_id"] for name in ("alice", "bob"))
    reset, sign_in = auth.tokens("reset", expires_in=HOUR), auth.codes("sign-in", expires_in=HOUR)
    token, code = reset.issue(alice), sign_in.issue(alice)
    bobs_token, bobs_code = reset.issue(bob), sign_in.issue(bob)
    auth.delete_user(alice)
    assert outcome(lambda: reset.consume(token)) == "AUTH_INVALID_TOKEN"
    assert outcome(lambda: sign_in.consume(alice, code)) == "AUTH_INVALID_TOKEN"
    assert reset.consume(bobs_token) == bob
    assert sign_in.consume(bob, bobs_code) is None


def test_issuing_tokens_is_throttled_per_user(world: World) -> None:
    auth = world.auth()
    alice, bob = (auth.create_user("username", name)["user_id"] for name in ("alice", "bob"))
    kind = auth.tokens("verify-email", expires_in=HOUR)  # default limit: three at once, then one per 5 minutes
    issued = [kind.issue(alice) for _ in range(3)]
    assert outcome(lambda: kind.issue(alice)) == ("AUTH_TOO_MANY_ATTEMPTS", 300)
    assert isinstance(kind.issue(bob), str)
    world.clock.advance(5 * MINUTE)
    issued.append(kind.issue(alice))
    assert outcome(lambda: kind.issue(alice)) == ("AUTH_TOO_MANY_ATTEMPTS", 300)
    assert [kind.consume(token) for token in issued] == [alice] * 4  # refusals took none away


def test_tokens_and_codes_are_issued_only_to_users_that_exist(world: World) -> None:
    auth = world.auth()
    kind, codes = auth.tokens("reset", expires_in=HOUR), auth.codes("sign-in", expires_in=HOUR)
    for user_id in ("nobody", "", "a\x00b", "\udcff"):
        assert outcome(lambda user_id=user_id: kind.issue(user_id)) == "AUTH_INVALID_USER_ID"
        assert outcome(lambda user_id=user_id: codes.issue(user_id)) == "AUTH_INVALID_USER_ID"


def test_a_bound_token_verifies_only_the_value_it_was_issued_for(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    kind = auth.tokens("verify-email", expires_in=HOUR, issue_limit=MANY)
    old = "alice@old.example"

    def consumed(bound_to: str | None, issued_for: str | None = old) -> object:
        token = kind.issue(user_id, bound_to=issued_for)
        return outcome(lambda: kind.consume(token, bound_to=bound_to))

    assert consumed("alice@new.example") == "AUTH_INVALID_TOKEN"  # a link for the old address, a new one
    assert consumed("Alice@old.example") == "AUTH_INVALID_TOKEN"
    assert consumed(None) == "AUTH_INVALID_TOKEN"
    assert consumed(old, issued_for=None) == "AUTH_INVALID_TOKEN"
    assert consumed(old) == user_id
    assert consumed(None, issued_for=None) == user_id



def test_a_refused_token_is_used_up_and_cannot_be_retried(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    kind = auth.tokens("verify-email", expires_in=HOUR, issue_limit=MANY)
    wrong_binding = kind.issue(user_id, bound_to="alice@example.com")
    assert outcome(lambda: kind.consume(wrong_binding, bound_to="mallory@example.com")) == "AUTH_INVALID_TOKEN"
    assert outcome(lambda: kind.consume(wrong_binding, bound_to="alice@example.com")) == "AUTH_INVALID_TOKEN"
    expired = kind.issue(user_id)
    world.clock.advance(HOUR + 1)
    assert outcome(lambda: kind.consume(expired)) == "AUTH_EXPIRED_TOKEN"
    assert outcome(lambda: kind.consume(expired)) == "AUTH_INVALID_TOKEN"


# one-time codes


@pytest.mark.parametrize("length", [4, 6, 8, 12])
def test_a_code_is_length_digits(world: World, length: int) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR, length=length, issue_limit=MANY)
    for _ in range(20):
        assert re.fullmatch(f"[0-9]{{{length}}}", codes.issue(user_id))


def test_codes_are_eight_digits_by_default(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    assert re.fullmatch(r"[0-9]{8}", auth.codes("sign-in", expires_in=HOUR).issue(user_id))


def wrong(code: str) -> str:
    """Another code of the same length."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def test_the_right_code_works_once(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR)
    code = codes.issue(user_id)
    assert codes.consume(user_id, code) is None
    assert outcome(lambda: codes.consume(user_id, code)) == "AUTH_INVALID_TOKEN"


def test_a_new_code_replaces_the_previous_one(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR, length=12)
    first = codes.issue(user_id)
    for _ in range(4):
        outcome(lambda: codes.consume(user_id, wrong(first)))
    second = codes.issue(user_id)
    assert outcome(lambda: codes.consume(user_id, first)) == "AUTH_INVALID_TOKEN"
    # the new code has its own five guesses: the four above and the one just now were the old code's
    for _ in range(3):
        assert outcome(lambda: codes.consume(user_id, wrong(second))) == "AUTH_INVALID_TOKEN"
    assert codes.consume(user_id, second) is None


def test_five_wrong_guesses_void_the_code_until_a_new_one_is_issued(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR)
    code = codes.issue(user_id)
    assert [outcome(lambda: codes.consume(user_id, wrong(code))) for _ in range(5)] == ["AUTH_INVALID_TOKEN"] * 5
    assert outcome(lambda: codes.consume(user_id, code)) == "AUTH_TOO_MANY_ATTEMPTS"  # void, even when right
    assert outcome(lambda: codes.consume(user_id, code)) == "AUTH_TOO_MANY_ATTEMPTS"
    fresh = codes.issue(user_id)
    assert codes.consume(user_id, fresh) is None


def test_the_right_code_after_four_wrong_guesses_still_works(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR)
    code = codes.issue(user_id)
    assert [outcome(lambda: codes.consume(user_id, wrong(code))) for _ in range(4)] == ["AUTH_INVALID_TOKEN"] * 4
    assert codes.consume(user_id, code) is None


def test_max_attempts_sets_the_number_of_guesses(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR, max_attempts=2)
    code = codes.issue(user_id)
    assert [outcome(lambda: codes.consume(user_id, wrong(code))) for _ in range(2)] == ["AUTH_INVALID_TOKEN"] * 2
    assert outcome(lambda: codes.consume(user_id, code)) == "AUTH_TOO_MANY_ATTEMPTS"


def test_a_code_is_valid_through_its_expiry_and_expired_after(world: World) -> None:
    auth = world.auth()
    alice, bob = (auth.create_user("username", name)["user_id"] for name in ("alice", "bob"))
    codes = auth.codes("sign-in", expires_in=timedelta(minutes=10))
    alices, bobs = codes.issue(alice), codes.issue(bob)
    world.clock.advance(10 * MINUTE)
    assert codes.consume(alice, alices) is None
    world.clock.advance(1)
    assert outcome(lambda: codes.consume(bob, bobs)) == "AUTH_EXPIRED_TOKEN"


def test_a_code_belongs_to_its_user(world: World) -> None:
    auth = world.auth()
    alice, bob = (auth.create_user("username", name)["user_id"] for name in ("alice", "bob"))
    codes = auth.codes("sign-in", expires_in=HOUR)
    code = codes.issue(alice)
    assert [outcome(lambda: codes.consume(bob, code)) for _ in range(6)] == ["AUTH_INVALID_TOKEN"] * 6
    bobs = codes.issue(bob)
    if bobs != code:
        assert outcome(lambda: codes.consume(bob, code)) == "AUTH_INVALID_TOKEN"  # alice's digits, bob's code
    assert outcome(lambda: codes.consume("nobody", code)) == "AUTH_INVALID_TOKEN"
    assert codes.consume(alice, code) is None  # bob's guesses never counted against alice's code


def test_codes_of_two_kinds_are_separate(world: World) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    sign_in, confirm = auth.codes("sign-in", expires_in=HOUR), auth.codes("confirm", expires_in=HOUR)
    code = sign_in.issue(user_id)
    assert outcome(lambda: confirm.consume(user_id, code)) == "AUTH_INVALID_TOKEN"
    other = confirm.issue(user_id)
    assert sign_in.consume(user_id, code) is None
    assert confirm.consume(user_id, other) is None


@pytest.mark.parametrize("bad", [
    pytest.param("", id="empty"),
    pytest.param("1" * 4_000, id="4000-digits"),
    pytest.param("\x00", id="nul"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("１２３４５６７８", id="fullwidth-digits"),
    pytest.param(None, id="not-a-string"),
])
def test_malformed_codes_are_invalid(world: World, bad: Any) -> None:
    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR)
    code = codes.issue(user_id)
    assert outcome(lambda: codes.consume(user_id, bad)) == "AUTH_INVALID_TOKEN"
    assert outcome(lambda: codes.consume("a\x00b", code)) == "AUTH_INVALID_TOKEN"
    assert codes.consume(user_id, code) is None


def test_codes_are_compared_in_constant_time(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    auth = world.auth()
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR)
    code = codes.issue(user_id)
    monkeypatch.setattr(hmac, "compare_digest", recording)
    outcome(lambda: codes.consume(user_id, wrong(code)))
    codes.consume(user_id, code)
    assert len(compared) == 2  # each guess went through hmac.compare_digest
    assert all(code not in (a, b) and wrong(code) not in (a, b) for a, b in compared)  # digests, not digits


def test_issuing_codes_is_throttled_per_user_and_revoke_ends_the_code(world: World) -> None:
    auth = world.auth()
    alice, bob = (auth.create_user("username", name)["user_id"] for name in ("alice", "bob"))
    codes = auth.codes("sign-in", expires_in=HOUR)
    for _ in range(3):
        code = codes.issue(alice)
    assert outcome(lambda: codes.issue(alice)) == ("AUTH_TOO_MANY_ATTEMPTS", 300)
    bobs = codes.issue(bob)
    codes.revoke(alice)
    assert outcome(lambda: codes.consume(alice, code)) == "AUTH_INVALID_TOKEN"
    assert codes.consume(bob, bobs) is None


@pytest.mark.parametrize(("method", "operation"), [
    pytest.param("set_token", "issue-token", id="token-unwritable"),
    pytest.param("pop_token", "consume-token", id="token-unreadable"),
    pytest.param("set_code", "issue-code", id="code-unwritable"),
    pytest.param("get_code", "consume-code", id="code-unreadable"),
    pytest.param("count_code_attempt", "consume-code", id="guess-uncountable"),
])
def test_store_failures_of_tokens_and_codes_surface_unchanged(world: World, method: str, operation: str) -> None:
    error = ConnectionError("the store is down")
    faulty: list[FaultyAdapter] = []
    auth = world.auth(wrap=lambda store: faulty.append(FaultyAdapter(store)) or faulty[0])
    user_id = auth.create_user("username", "alice")["user_id"]
    kind, codes = auth.tokens("reset", expires_in=HOUR), auth.codes("sign-in", expires_in=HOUR)
    token, code = kind.issue(user_id), codes.issue(user_id)
    faulty[0].exc = error
    faulty[0].fail(method, faulty[0].count(method) + 1)
    calls = {"issue-token": lambda: kind.issue(user_id), "consume-token": lambda: kind.consume(token),
             "issue-code": lambda: codes.issue(user_id), "consume-code": lambda: codes.consume(user_id, code)}
    with pytest.raises(ConnectionError) as caught:
        calls[operation]()
    assert caught.value is error
    assert kind.consume(token) == user_id  # healed: nothing was used up by the failure
    assert codes.consume(user_id, code) is None


def test_a_token_whose_consumption_reply_was_lost_is_never_usable_again(world: World) -> None:
    faulty: list[FaultyAdapter] = []
    auth = world.auth(wrap=lambda store: faulty.append(FaultyAdapter(store)) or faulty[0])
    user_id = auth.create_user("username", "alice")["user_id"]
    kind = auth.tokens("reset", expires_in=HOUR)
    token = kind.issue(user_id)
    faulty[0].when = "after"
    faulty[0].fail("pop_token", 1)
    with pytest.raises(ConnectionError):
        kind.consume(token)
    assert outcome(lambda: kind.consume(token)) == "AUTH_INVALID_TOKEN"  # failed closed: used, not handed out


# the awaitable twins (auth.aio, kind.aio)


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite-in-threads"),
                        pytest.param("asyncio", id="async-postgresql+async-redis", marks=pytest.mark.services)])
def async_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any, Any]]:
    """``(kind, users, sessions)`` for asyncio code: SQLite run in threads, or the asyncio stores."""
    if request.param == "sqlite":
        store = SQLiteAdapter(tmp_path / "auth.db")
        store.create_tables()
        yield "sqlite", store, store
        store.close()
        return
    with postgres_schema() as (dsn, schema), redis_prefix() as (url, prefix):
        yield "asyncio", AsyncPostgresAdapter(dsn, schema=schema), AsyncRedisSessionAdapter(url, prefix=prefix)


def test_the_awaitable_twins_follow_the_same_rules(async_world: tuple[str, Any, Any]) -> None:
    kind_of_store, users, sessions = async_world
    clock, hashing = Clock(), CountingHash()
    adapter = users if users is sessions else {"user": users, "session": sessions}
    auth = lucia(adapter=adapter, env="DEV", clock=clock, hash=(hashing.generate, hashing.validate))

    async def scenario() -> None:
        if kind_of_store == "asyncio":
            await users.create_tables()
        user = await auth.aio.create_user("username", "alice", password="alice-pw")
        throttled = []
        for _ in range(11):
            try:
                await auth.aio.authenticate_user("username", "alice", "wrong")
            except LuciaError as error:
                throttled.append((error.code, error.retry_after))
        assert throttled == [("AUTH_INVALID_PASSWORD", None)] * 10 + [THROTTLED_60]
        assert hashing.validated == 10

        kind = auth.tokens("reset", expires_in=HOUR)
        token = await kind.aio.issue(user["user_id"], bound_to="a@example.com")
        results = await asyncio.gather(*(kind.aio.consume(token, bound_to="a@example.com") for _ in range(8)),
                                       return_exceptions=True)
        assert Counter(map(str, results)) == {"AUTH_INVALID_TOKEN": 7, user["user_id"]: 1}
        revoked = await kind.aio.issue(user["user_id"])
        await kind.aio.revoke_all(user["user_id"])
        with pytest.raises(LuciaError, match="AUTH_INVALID_TOKEN"):
            await kind.aio.consume(revoked)
        late = await kind.aio.issue(user["user_id"])

        codes = auth.codes("sign-in", expires_in=HOUR)
        code = await codes.aio.issue(user["user_id"])
        guesses = await asyncio.gather(*(codes.aio.consume(user["user_id"], wrong(code)) for _ in range(8)),
                                       return_exceptions=True)
        assert Counter(map(str, guesses)) == {"AUTH_INVALID_TOKEN": 5, "AUTH_TOO_MANY_ATTEMPTS": 3}
        with pytest.raises(LuciaError, match="AUTH_TOO_MANY_ATTEMPTS"):
            await codes.aio.consume(user["user_id"], code)
        fresh = await codes.aio.issue(user["user_id"])
        await codes.aio.revoke(user["user_id"])
        with pytest.raises(LuciaError, match="AUTH_INVALID_TOKEN"):
            await codes.aio.consume(user["user_id"], fresh)

        per_ip = auth.throttle("login-ip", capacity=1, refill_every=MINUTE)
        await per_ip.aio.take("192.0.2.1")
        with pytest.raises(LuciaError, match="AUTH_TOO_MANY_ATTEMPTS") as caught:
            await per_ip.aio.take("192.0.2.1")
        assert caught.value.retry_after == 60
        await per_ip.aio.take("192.0.2.2")

        clock.advance(HOUR + 1)
        with pytest.raises(LuciaError, match="AUTH_EXPIRED_TOKEN"):
            await kind.aio.consume(late)

    async def run() -> None:
        try:
            await scenario()
        finally:
            if kind_of_store == "asyncio":
                await users.aclose()
                await sessions.aclose()

    asyncio.run(run())


def test_an_asyncio_store_refuses_synchronous_use() -> None:
    store = AsyncRedisSessionAdapter("redis://127.0.0.1:6379/0")  # never connects: refused before any I/O
    auth = lucia(adapter={"user": MemoryAdapter(), "session": store}, env="DEV")
    try:
        with pytest.raises(TypeError, match=r"auth\.aio"):
            auth.tokens("reset", expires_in=HOUR).consume("A" * 43)
        with pytest.raises(TypeError, match=r"auth\.aio"):
            auth.codes("sign-in", expires_in=HOUR).consume("u", "12345678")
        with pytest.raises(TypeError, match=r"auth\.aio"):
            auth.throttle("x", capacity=1, refill_every=SECOND).take("k")
    finally:
        asyncio.run(store.aclose())


# configuration, and stores without these methods


@pytest.mark.parametrize("make", [
    pytest.param(lambda auth: auth.throttle("", capacity=1, refill_every=SECOND), id="empty-throttle-name"),
    pytest.param(lambda auth: auth.throttle("Login", capacity=1, refill_every=SECOND), id="uppercase-name"),
    pytest.param(lambda auth: auth.throttle("a:b", capacity=1, refill_every=SECOND), id="colon-in-name"),
    pytest.param(lambda auth: auth.throttle("x" * 33, capacity=1, refill_every=SECOND), id="33-character-name"),
    pytest.param(lambda auth: auth.throttle("x", capacity=0, refill_every=SECOND), id="no-capacity"),
    pytest.param(lambda auth: auth.throttle("x", capacity=1, refill_every=0), id="no-refill"),
    pytest.param(lambda auth: auth.throttle("x", capacity=1, refill_every=1.5), id="float-refill"),
    pytest.param(lambda auth: auth.tokens("reset", expires_in=0), id="token-expires-at-once"),
    pytest.param(lambda auth: auth.tokens("reset", expires_in=HOUR, issue_limit={"capacity": 1}), id="bad-limit"),
    pytest.param(lambda auth: auth.codes("sign-in", expires_in=HOUR, length=3), id="3-digit-code"),
    pytest.param(lambda auth: auth.codes("sign-in", expires_in=HOUR, length=13), id="13-digit-code"),
    pytest.param(lambda auth: auth.codes("sign-in", expires_in=HOUR, max_attempts=0), id="no-attempts"),
])
def test_bad_throttles_kinds_and_codes_fail_when_made(make: Callable[[Any], Any]) -> None:
    auth = lucia(adapter=MemoryAdapter(), env="DEV")
    with pytest.raises((TypeError, ValueError)):
        make(auth)


@pytest.mark.parametrize("login_throttle", [
    pytest.param({"capacity": 10}, id="no-refill"),
    pytest.param({"capacity": 0, "refill_every": MINUTE}, id="no-capacity"),
    pytest.param({"capacity": 10, "refill_every": MINUTE, "ban": True}, id="unknown-key"),
    pytest.param(10, id="not-a-mapping"),
])
def test_a_bad_login_throttle_fails_at_lucia(login_throttle: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="login_throttle"):
        lucia(adapter=MemoryAdapter(), env="DEV", login_throttle=login_throttle)


class OnlyTheProtocol:
    """A third-party store: the required adapter methods, none for throttles, tokens or codes."""

    def __init__(self) -> None:
        self.store = MemoryAdapter()

    def __getattr__(self, name: str) -> Any:
        if name in ("get_user", "get_user_by_provider_id", "set_user", "update_user", "delete_user", "get_session",
                    "get_sessions_by_user_id", "set_session", "delete_session", "delete_sessions_by_user_id"):
            return getattr(self.store, name)
        raise AttributeError(name)


def test_a_store_without_throttles_still_throttles_log_ins_in_this_process() -> None:
    hashing = CountingHash()
    auth = lucia(adapter=OnlyTheProtocol(), env="DEV", clock=Clock(), hash=(hashing.generate, hashing.validate))
    auth.create_user("username", "alice", password="alice-pw")
    assert [attempt(auth, "alice", "wrong") for _ in range(11)] == ["AUTH_INVALID_PASSWORD"] * 10 + [THROTTLED_60]
    with pytest.raises(TypeError, match="tokens and codes"):
        auth.tokens("reset", expires_in=HOUR)
    with pytest.raises(TypeError, match="tokens and codes"):
        auth.codes("sign-in", expires_in=HOUR)


@pytest.mark.parametrize("user_id", [None, 5, b"user", ["user"]], ids=["None", "int", "bytes", "list"])
def test_a_user_id_that_is_not_a_string_names_no_user(user_id: Any) -> None:
    # It raised AttributeError ('NoneType' object has no attribute 'encode') from these.
    auth = lucia(adapter=MemoryAdapter(), env="DEV")
    tokens, codes = auth.tokens("reset", expires_in=HOUR), auth.codes("sign-in", expires_in=HOUR)
    for issue in (tokens.issue, codes.issue, auth.create_session):
        with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
            issue(user_id)
    with pytest.raises(LuciaError, match="AUTH_INVALID_TOKEN"):
        codes.consume(user_id, "12345678")
    tokens.revoke_all(user_id)  # nothing to end
    codes.revoke(user_id)
    assert auth.get_user_sessions(user_id) == []
