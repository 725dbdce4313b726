"""Attacks on the account flows (issue 11): password guessing, token replay and races, enumeration
through password reset, code guessing. Each attempt an attacker makes is added to the tally."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.testing import FaultyAdapter

from .support import FAST_HASH, Clock, Tally

SECOND, MINUTE, HOUR = 1_000, 60_000, 3_600_000


class CountingHash:
    """The suite's cheap hash, counting verifications: each one is a guess that was checked."""

    def __init__(self) -> None:
        self.validated = 0
        self._lock = threading.Lock()

    def validate(self, password: str, hashed: str) -> bool:
        with self._lock:
            self.validated += 1
        return FAST_HASH[1](password, hashed)


def test_guessing_one_accounts_password_gets_ten_tries_then_one_a_minute(
    store: Any, make_auth: Callable[..., Auth], clock: Clock, tally: Tally,
) -> None:
    counter = CountingHash()
    auth = make_auth(store, hash=(FAST_HASH[0], counter.validate))
    auth.create_user("username", "alice", password="correct horse")
    dictionary = [f"guess-{n}" for n in range(719)] + ["correct horse"]  # the right one comes last
    outcomes: Counter[str] = Counter()
    for guess in dictionary:  # one guess every 5 seconds for an hour
        try:
            auth.authenticate_user("username", "alice", guess)
            outcomes["ok"] += 1
        except LuciaError as error:
            outcomes[error.code] += 1
        clock.now += 5 * SECOND
    tally.add("attacks", len(dictionary))
    assert counter.validated == 10 + 59  # the burst, then one a minute: 69 of 720 guesses were checked
    assert outcomes == {"AUTH_INVALID_PASSWORD": 69, "AUTH_TOO_MANY_ATTEMPTS": 651}  # the last was refused
    clock.now += MINUTE  # refill, not a ban: the owner is in a minute after the attack stops
    assert auth.authenticate_user("username", "alice", "correct horse")["user_id"]


def test_a_replayed_reset_token_is_refused(store: Any, make_auth: Callable[..., Auth], tally: Tally) -> None:
    auth = make_auth(store)
    user_id = auth.create_user("username", "alice", password="old-password")["user_id"]
    reset = auth.tokens("reset-password", expires_in=HOUR)
    token = reset.issue(user_id)
    assert reset.consume(token) == user_id
    auth.update_user_password(user_id, "new-password")
    for _ in range(50):
        with pytest.raises(LuciaError, match="AUTH_INVALID_TOKEN"):
            reset.consume(token)
    tally.add("attacks", 50)
    assert auth.authenticate_user("username", "alice", "new-password")["user_id"] == user_id


def test_racing_requests_with_one_token_let_exactly_one_through(
    store: Any, make_auth: Callable[..., Auth], tally: Tally,
) -> None:
    auth = make_auth(store)
    user_id = auth.create_user("username", "alice")["user_id"]
    reset = auth.tokens("reset-password", expires_in=HOUR)
    token = reset.issue(user_id)
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def use() -> None:
        barrier.wait()
        try:
            outcomes.append(reset.consume(token))
        except LuciaError as error:
            outcomes.append(error.code)
        finally:
            if isinstance(store, SQLiteAdapter):
                store.close()  # this thread's connection

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    tally.add("concurrent", 16)
    assert Counter(outcomes) == {user_id: 1, "AUTH_INVALID_TOKEN": 15}


def test_guessing_tokens_finds_nothing(store: Any, make_auth: Callable[..., Auth], tally: Tally) -> None:
    auth = make_auth(store)
    user_id = auth.create_user("username", "alice")["user_id"]
    reset = auth.tokens("reset-password", expires_in=HOUR)
    token = reset.issue(user_id)
    for _ in range(500):
        with pytest.raises(LuciaError, match="AUTH_INVALID_TOKEN"):
            reset.consume(secrets.token_urlsafe(32))
    tally.add("attacks", 500)
    assert reset.consume(token) == user_id


SAME_ANSWER = (200, "If an account uses this address, a link to reset its password is on its way.")


def test_a_password_reset_request_tells_nothing_about_the_account(
    store: Any, make_auth: Callable[..., Auth], clock: Clock, tally: Tally,
) -> None:
    """The "forgot password" view as docs/howto/password-reset.rst recommends it: the same answer, the same throttle and
    the same store work for any address; the link is issued and mailed off the request path."""
    counter = CountingHash()
    faulty = FaultyAdapter(store)
    auth = make_auth(faulty, hash=(FAST_HASH[0], counter.validate))
    auth.create_user("email", "alice@example.com", password="alice-pw")
    reset = auth.tokens("reset-password", expires_in=HOUR)
    per_address = auth.throttle("reset-request", capacity=3, refill_every=5 * MINUTE)
    outbox: list[tuple[str | None, str]] = []

    def request_reset(address: str) -> tuple[int, str]:
        try:
            per_address.take(address)  # throttled per address, whether or not it has an account
        except LuciaError as error:
            return 429, f"Try again in {error.retry_after} s."
        try:
            user_id = auth.get_user_by_provider_id("email", address)["user_id"]
        except LuciaError:
            user_id = None
        outbox.append((user_id, address))  # a background sender issues the token and mails it
        return SAME_ANSWER

    def request_path(address: str) -> tuple[list[tuple[int, str]], list[str], int]:
        faulty.reset()
        before = counter.validated
        answers = [request_reset(address) for _ in range(5)]
        return answers, [call.method for call in faulty.calls], counter.validated - before

    known, unknown = request_path("alice@example.com"), request_path("nobody@example.com")
    tally.add("attacks", 10)
    assert known == unknown  # answers (throttled alike), store calls in order, hashes: all the same
    assert known[0] == [SAME_ANSWER] * 3 + [(429, "Try again in 300 s.")] * 2 and known[2] == 0

    sent = []
    for user_id, address in outbox:  # the background sender
        if user_id is not None:
            try:
                sent.append((address, reset.issue(user_id)))
            except LuciaError:
                pass  # issuing throttled: nothing sent, and nobody is told
    assert [address for address, _ in sent] == ["alice@example.com"] * 3
    assert reset.consume(sent[0][1]) == auth.get_user_by_provider_id("email", "alice@example.com")["user_id"]


def test_guessing_a_sign_in_code_is_cut_off_after_five_tries_per_code(
    store: Any, make_auth: Callable[..., Auth], clock: Clock, tally: Tally,
) -> None:
    """An attacker who can make the site send codes (the victim's address is all it takes) and guesses
    four-digit codes in order for an hour: five guesses per code, and a few codes per five minutes."""
    auth = make_auth(store)
    user_id = auth.create_user("email", "victim@example.com")["user_id"]
    codes = auth.codes("sign-in", expires_in=10 * MINUTE, length=4)
    issued: list[str] = []
    checked: list[list[str]] = []  # per issued code, the guesses compared with it
    refused = won = guess = 0
    live, start = False, clock.now
    while clock.now < start + HOUR:
        try:
            issued.append(codes.issue(user_id))  # the "email me a code" button
            checked.append([])
            live = True
        except LuciaError as error:
            assert error.code == "AUTH_TOO_MANY_ATTEMPTS"
        for _ in range(20):  # guess until cut off
            attempt = f"{guess % 10_000:04d}"
            guess += 1
            try:
                codes.consume(user_id, attempt)
                result = "ok"
            except LuciaError as error:
                result = error.code
            if result == "AUTH_TOO_MANY_ATTEMPTS":
                refused += 1
                break
            if live and result in ("ok", "AUTH_INVALID_TOKEN"):
                checked[-1].append(attempt)
            if result in ("ok", "AUTH_EXPIRED_TOKEN"):
                won += result == "ok"
                live = False
        clock.now += 10 * SECOND
    tally.add("attacks", len(issued) + guess)
    assert 3 <= len(issued) <= 3 + HOUR // (5 * MINUTE)  # issuing is throttled per user
    assert all(len(guesses) <= 5 for guesses in checked)  # never more than five checks of one code
    assert won == sum(code in guesses for code, guesses in zip(issued, checked, strict=True))  # only by luck
    assert refused > 0
