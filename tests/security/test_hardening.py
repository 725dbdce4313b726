"""The hardening options: bounded hashing, hashed session ids, bcrypt migration; session fixation;
unstorable text refused alike on every store."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import bcrypt
import pytest

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.config import DAY_MS, DEFAULT_MAX_CONCURRENT_HASHES, system_clock
from lucia_wsgi.passwords import verify_password
from lucia_wsgi.session import SessionRow
from lucia_wsgi.testing import FaultyAdapter, InjectedFault

from .support import FAST_HASH, IDLE, T0, Clock, Tally, snapshot
from .test_attack_passwords import CountingHash

# max_concurrent_hashes: a log-in flood cannot run more scrypts at once than configured.


class SlowHash:
    """A hash pair that takes a while and records how many run at once."""

    def __init__(self, seconds: float = 0.03) -> None:
        self.seconds = seconds
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def _work(self) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1

    def generate(self, password: str) -> str:
        self._work()
        return FAST_HASH[0](password)

    def validate(self, password: str, hashed: str) -> bool:
        self._work()
        return FAST_HASH[1](password, hashed)


def flood(target: Callable[[int], Any], threads: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def run(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except LuciaError as error:
            errors.append(error)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


@pytest.mark.parametrize("limit", [1, 2, 4])
@pytest.mark.parametrize("operation", ["create_user", "authenticate_user", "authenticate_unknown"])
def test_concurrent_hashing_is_bounded(make_auth: Callable[..., Auth], operation: str, limit: int,
                                       tally: Tally) -> None:
    slow = SlowHash()
    auth = make_auth(MemoryAdapter(), hash=(slow.generate, slow.validate), max_concurrent_hashes=limit)
    store = auth.config.user_adapter
    for i in range(12):
        store.set_user(f"u{i}", {"provider_id": f"username:u{i}", "hashed_password": FAST_HASH[0]("pw")})
    targets: dict[str, Callable[[int], Any]] = {
        "create_user": lambda i: auth.create_user("username", f"new{i}", password="pw"),
        "authenticate_user": lambda i: auth.authenticate_user("username", f"u{i}", "pw"),
        "authenticate_unknown": lambda i: auth.authenticate_user("username", f"ghost{i}", "pw"),
    }
    errors = flood(targets[operation], 12)
    tally.add("concurrent", 12)
    assert slow.peak == limit
    assert all(e.code == "AUTH_INVALID_PROVIDER_ID" for e in errors)
    assert len(errors) == (12 if operation == "authenticate_unknown" else 0)


def test_default_hash_bound_is_small() -> None:
    assert DEFAULT_MAX_CONCURRENT_HASHES == 4  # 4 x ~32 MiB of scrypt memory at most


@pytest.mark.parametrize("bad", [0, -1, 1.5, "4", None])
def test_hash_bound_must_be_a_positive_int(make_auth: Callable[..., Auth], bad: Any) -> None:
    with pytest.raises(ValueError, match="max_concurrent_hashes"):
        make_auth(MemoryAdapter(), max_concurrent_hashes=bad)


# hash_session_ids: a leaked session table holds no usable cookie.


def sha256(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


@pytest.fixture
def hashed_auth(store: Any, make_auth: Callable[..., Auth]) -> Auth:
    auth = make_auth(store, hash_session_ids=True)
    auth.create_user("username", "alice", password="pw")
    return auth


def stored_ids(auth: Auth) -> set[str]:
    return {row[0] for row in snapshot(auth.config.session_adapter)[1]}


def test_hashed_store_holds_digests_not_ids(hashed_auth: Auth) -> None:
    user_id = hashed_auth.get_user_by_provider_id("username", "alice")["user_id"]
    session = hashed_auth.create_session(user_id)
    assert stored_ids(hashed_auth) == {sha256(session.session_id)}
    assert session.session_id not in str(snapshot(hashed_auth.config.session_adapter))
    assert hashed_auth.validate_session(session.session_id).session_id == session.session_id
    assert hashed_auth.get_session(session.session_id).session_id == session.session_id
    pair = hashed_auth.validate_session_user(session.session_id)
    assert pair.session is not None and pair.session.session_id == session.session_id
    assert pair.user["user_id"] == user_id


def test_leaked_digest_is_not_a_cookie(hashed_auth: Auth, tally: Tally) -> None:
    tally.add("attacks", 2)
    user_id = hashed_auth.get_user_by_provider_id("username", "alice")["user_id"]
    session = hashed_auth.create_session(user_id)
    (digest,) = stored_ids(hashed_auth)
    for stolen in (digest, digest[:40]):
        with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
            hashed_auth.validate_session(stolen)
    assert hashed_auth.validate_session(session.session_id).session_id == session.session_id


def test_hashed_ids_renew_and_invalidate(hashed_auth: Auth, clock: Clock) -> None:
    user_id = hashed_auth.get_user_by_provider_id("username", "alice")["user_id"]
    old = hashed_auth.create_session(user_id)
    clock.now = IDLE
    new = hashed_auth.validate_session(old.session_id)
    assert new.is_fresh and new.session_id != old.session_id
    assert sha256(new.session_id) in stored_ids(hashed_auth)
    assert hashed_auth.validate_session(old.session_id).user_id == user_id  # grace window
    hashed_auth.invalidate_session(new.session_id)
    assert sha256(new.session_id) not in stored_ids(hashed_auth)
    with pytest.raises(LuciaError):
        hashed_auth.validate_session(new.session_id)


def test_a_store_written_with_hashed_ids_gives_nothing_to_an_auth_without(make_auth: Callable[..., Auth]) -> None:
    store = MemoryAdapter()
    store.set_user("alice", {"provider_id": "username:alice"})
    session = make_auth(store, hash_session_ids=True).create_session("alice")
    with pytest.raises(LuciaError):
        make_auth(store).validate_session(session.session_id)
    digest = next(iter(store._sessions))
    with pytest.raises(LuciaError):  # the digest is no session id either
        make_auth(store).validate_session(digest)


def test_switching_hash_session_ids_on_signs_nobody_out(every_store: Any, make_auth: Callable[..., Auth]) -> None:
    clock = Clock(system_clock())  # Redis expires keys by the wall clock
    plain = make_auth(every_store, clock=clock)
    alice = plain.create_user("username", "alice", password="pw")["user_id"]
    sessions = plain.config.session_adapter
    old = plain.create_session(alice)  # stored under its plain id
    other = plain.create_session(alice)
    hashed = make_auth(every_store, clock=clock, hash_session_ids=True)
    assert hashed.validate_session(old.session_id).session_id == old.session_id
    stored = {row.id for row in sessions.get_sessions_by_user_id(alice)}
    assert stored == {sha256(old.session_id), other.session_id}  # moved to its digest on first use
    pair = hashed.validate_session_user(other.session_id)
    assert pair.session is not None and pair.user["user_id"] == alice
    assert {row.id for row in sessions.get_sessions_by_user_id(alice)} == {
        sha256(old.session_id), sha256(other.session_id)}
    assert hashed.validate_session(old.session_id).user_id == alice  # and found there afterwards
    clock.now += DAY_MS + 1  # idle: renewed under a digest like any hashed session
    renewed = hashed.validate_session(old.session_id)
    assert renewed.is_fresh and sha256(renewed.session_id) in {
        row.id for row in sessions.get_sessions_by_user_id(alice)}
    hashed.invalidate_session(renewed.session_id)
    hashed.invalidate_session(other.session_id)
    assert sessions.get_sessions_by_user_id(alice) == []


# bcrypt_migration: $2a/$2b hashes verify once and become s2 hashes.


@pytest.fixture
def bcrypt_store() -> MemoryAdapter:
    store = MemoryAdapter()
    hashed = bcrypt.hashpw(b"old-password", bcrypt.gensalt(rounds=4)).decode("ascii")
    store.set_user("alice", {"provider_id": "username:alice", "hashed_password": hashed.replace("$2b$", "$2a$", 1)})
    return store


def test_bcrypt_hash_is_outdated_without_migration(bcrypt_store: MemoryAdapter, make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(bcrypt_store)
    before = snapshot(bcrypt_store)
    with pytest.raises(LuciaError, match="AUTH_OUTDATED_PASSWORD"):
        auth.authenticate_user("username", "alice", "old-password")
    assert snapshot(bcrypt_store) == before


def test_bcrypt_hash_is_migrated_to_s2_on_log_in(bcrypt_store: MemoryAdapter) -> None:
    auth = lucia(adapter=bcrypt_store, env="DEV", clock=Clock(T0), bcrypt_migration=True)  # real scrypt
    assert auth.authenticate_user("username", "alice", "old-password")["user_id"] == "alice"
    migrated = bcrypt_store.get_user("alice")["hashed_password"]
    assert migrated.startswith("s2:")
    assert verify_password("old-password", migrated)
    assert auth.authenticate_user("username", "alice", "old-password")["user_id"] == "alice"


def test_wrong_password_leaves_bcrypt_hash_alone(bcrypt_store: MemoryAdapter, make_auth: Callable[..., Auth],
                                                 tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(bcrypt_store, bcrypt_migration=True)
    before = snapshot(bcrypt_store)
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "alice", "guess")
    assert snapshot(bcrypt_store) == before


# Session fixation: a session id planted before log-in never becomes the session after it.


@pytest.mark.parametrize("planted", [
    pytest.param("attacker-made", id="unknown-well-formed-id"),
    pytest.param("attacker-own", id="attackers-own-live-session"),
])
def test_planted_session_is_not_the_session_after_log_in(store: Any, make_auth: Callable[..., Auth], planted: str,
                                                         tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(store)
    victim = auth.create_user("username", "victim", password="victim-pw")
    attacker = auth.create_user("username", "mallory", password="mallory-pw")
    if planted == "attacker-own":
        planted_id = auth.create_session(attacker["user_id"]).session_id
    else:
        planted_id = "A" * 40
    cookie = auth.validate_request_headers({"REQUEST_METHOD": "GET", "HTTP_COOKIE": f"auth_session={planted_id}"})
    assert cookie == planted_id
    user = auth.authenticate_user("username", "victim", "victim-pw")
    session = auth.create_session(user["user_id"])
    assert session.session_id != planted_id
    assert session.user_id == victim["user_id"]
    if planted == "attacker-own":
        assert auth.validate_session(planted_id).user_id == attacker["user_id"]
    else:
        with pytest.raises(LuciaError):
            auth.validate_session(planted_id)
    rows = [SessionRow(*row) for row in snapshot(store)[1]]
    assert [row.id for row in rows if row.user_id == victim["user_id"]] == [session.session_id]


# Text no store can hold (lone surrogates: json.loads('"\\udcff"') makes one; NUL: PostgreSQL text
# cannot hold it) is a LuciaError on every store, never a driver's UnicodeEncodeError (a 500).

UNSTORABLE = [
    pytest.param(json.loads('"\\udcff"'), id="json-lone-low-surrogate"),
    pytest.param("alice\ud800", id="trailing-high-surrogate"),
    pytest.param("ali\x00ce", id="nul"),
]


@pytest.fixture
def counted_auth(every_store: Any, make_auth: Callable[..., Auth]) -> tuple[Auth, CountingHash, str, str]:
    """An ``Auth`` on each store (real clock, for Redis), alice with a session, and a hash counter."""
    counter = CountingHash()
    auth = make_auth(every_store, hash=(counter.generate, counter.validate), clock=Clock(system_clock()))
    alice = auth.create_user("username", "alice", password="alice-pw", attributes={"username": "alice"})
    session = auth.create_session(alice["user_id"])
    counter.calls = 0
    return auth, counter, alice["user_id"], session.session_id


def stores_unchanged(auth: Auth, user_id: str) -> Callable[[], None]:
    """A check that the users and ``user_id``'s sessions are as they are now."""
    users = snapshot(auth.config.user_adapter)[0]
    sessions = auth.config.session_adapter.get_sessions_by_user_id(user_id)

    def check() -> None:
        assert snapshot(auth.config.user_adapter)[0] == users
        assert auth.config.session_adapter.get_sessions_by_user_id(user_id) == sessions

    return check


@pytest.mark.parametrize("value", UNSTORABLE)
@pytest.mark.parametrize("operation", ["create_user", "authenticate_user", "get_user_by_provider_id",
                                       "update_user_provider_id"])
def test_unstorable_identifier_is_an_invalid_provider_id_on_every_store(
    counted_auth: tuple[Auth, CountingHash, str, str], operation: str, value: str, tally: Tally,
) -> None:
    tally.add("attacks")
    auth, counter, alice, _ = counted_auth
    unchanged = stores_unchanged(auth, alice)
    calls: dict[str, Callable[[], Any]] = {
        "create_user": lambda: auth.create_user("username", value, password="pw", attributes={"username": "x"}),
        "authenticate_user": lambda: auth.authenticate_user("username", value, "alice-pw"),
        "get_user_by_provider_id": lambda: auth.get_user_by_provider_id("username", value),
        "update_user_provider_id": lambda: auth.update_user_provider_id(alice, "username", value),
    }
    with pytest.raises(LuciaError) as caught:
        calls[operation]()
    assert caught.value.code == "AUTH_INVALID_PROVIDER_ID"
    assert counter.calls == 0  # refused before any hashing
    unchanged()


@pytest.mark.parametrize("value", UNSTORABLE)
@pytest.mark.parametrize("operation", ["get_user", "update_user_attributes", "update_user_password",
                                       "update_user_provider_id", "create_session"])
def test_unstorable_user_id_is_an_invalid_user_id_on_every_store(
    counted_auth: tuple[Auth, CountingHash, str, str], operation: str, value: str, tally: Tally,
) -> None:
    tally.add("attacks")
    auth, counter, alice, session_id = counted_auth
    unchanged = stores_unchanged(auth, alice)
    calls: dict[str, Callable[[], Any]] = {
        "get_user": lambda: auth.get_user(value),
        "update_user_attributes": lambda: auth.update_user_attributes(value, {"username": "pwned"}),
        "update_user_password": lambda: auth.update_user_password(value, "new-password"),
        "update_user_provider_id": lambda: auth.update_user_provider_id(value, "username", "pwned"),
        "create_session": lambda: auth.create_session(value),
    }
    with pytest.raises(LuciaError) as caught:
        calls[operation]()
    assert caught.value.code == "AUTH_INVALID_USER_ID"
    assert counter.calls == 0
    unchanged()
    assert auth.validate_session(session_id).user_id == alice


@pytest.mark.parametrize("value", UNSTORABLE)
def test_unstorable_user_id_names_nobody_to_end_or_list_on_every_store(
    counted_auth: tuple[Auth, CountingHash, str, str], value: str, tally: Tally,
) -> None:
    tally.add("attacks")
    auth, _, alice, session_id = counted_auth
    unchanged = stores_unchanged(auth, alice)
    auth.delete_user(value)
    auth.invalidate_all_user_sessions(value)
    auth.invalidate_all_user_sessions(value, keep=session_id)
    auth.delete_dead_user_sessions(value)
    assert auth.invalidate_device(value, auth.validate_session(session_id).device_id) is False
    assert auth.get_user_sessions(value) == []
    unchanged()
    assert auth.validate_session(session_id).user_id == alice


@pytest.mark.parametrize("value", UNSTORABLE)
@pytest.mark.parametrize("operation", ["create_user", "update_user_attributes"])
def test_unstorable_attribute_value_is_invalid_user_data_on_every_store(
    counted_auth: tuple[Auth, CountingHash, str, str], operation: str, value: str, tally: Tally,
) -> None:
    tally.add("attacks")
    auth, counter, alice, _ = counted_auth
    unchanged = stores_unchanged(auth, alice)
    with pytest.raises(LuciaError) as caught:
        if operation == "create_user":
            auth.create_user("username", "bob", password="bob-pw", attributes={"username": value})
        else:
            auth.update_user_attributes(alice, {"username": value})
    assert caught.value.code == "AUTH_INVALID_USER_DATA"
    assert counter.calls == 0  # create_user: refused before the password is hashed
    unchanged()


# update_user_password: a retry after a failed session purge ends the sessions (it converges).


def test_update_user_password_retried_after_a_failed_session_purge_ends_every_session(
    every_store: Any, make_auth: Callable[..., Auth], tally: Tally,
) -> None:
    tally.add("faults")
    clock = Clock(system_clock())
    auth = make_auth(every_store, clock=clock)
    alice = auth.create_user("username", "alice", password="old-pw")["user_id"]
    attackers = auth.create_session(alice)  # the reason for the password change
    own = auth.create_session(alice)
    faulty = FaultyAdapter(auth.config.session_adapter, {"delete_sessions_by_user_id": 1})
    users = auth.config.user_adapter
    changing = make_auth(faulty if users is auth.config.session_adapter else {"user": users, "session": faulty},
                         clock=clock)
    with pytest.raises(InjectedFault):
        changing.update_user_password(alice, "new-pw")
    assert auth.authenticate_user("username", "alice", "new-pw")["user_id"] == alice  # the hash was stored...
    assert auth.validate_session(attackers.session_id).user_id == alice  # ...the sessions were not ended
    changing.update_user_password(alice, "new-pw")  # what the docstring asks: call it again
    for session in (attackers, own):
        with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
            auth.validate_session(session.session_id)
    assert auth.config.session_adapter.get_sessions_by_user_id(alice) == []
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "alice", "old-pw")
    assert auth.authenticate_user("username", "alice", "new-pw")["user_id"] == alice
    assert "call it again" in " ".join((type(auth).update_user_password.__doc__ or "").split())
