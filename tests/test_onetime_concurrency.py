"""Throttles, tokens and codes under concurrency: real threads, and real processes.

Threads run on every store. Processes (``multiprocessing`` with ``spawn``:
each a fresh interpreter with its own adapter, as separate servers would be)
share one SQLite file or one PostgreSQL database, and start at one barrier
so their attempts overlap; see ``tests/onetime_workers.py``.

The figures are issue 11's: 40 wrong log-ins at once against a bucket of 7
let exactly 7 through; of 20 consumers of one token exactly one wins; 20
guesses of one code never check more than its 5 attempts.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from onetime_support import HOUR, STORES, World, open_world
from onetime_workers import LOGIN_THROTTLE, CountingHash, attempt_all, run_worker

from lucia_wsgi import Auth, lucia

PROCESSES = 4


@pytest.fixture(params=STORES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture(params=[pytest.param("sqlite", id="one-sqlite-file"),
                        pytest.param("postgresql", id="one-postgresql-database", marks=pytest.mark.services)])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A store that other processes open too."""
    with open_world(request.param, tmp_path) as opened:
        yield opened


def make_auth(world: World, hashing: CountingHash) -> Auth:
    adapter = world.users if world.users is world.sessions else {"user": world.users, "session": world.sessions}
    return lucia(adapter=adapter, env="DEV", clock=world.clock, hash=(hashing.generate, hashing.validate),
                 login_throttle=LOGIN_THROTTLE)


def in_processes(world: World, job: str, args: tuple[Any, ...], threads: int) -> tuple[list[str], int]:
    """``PROCESSES`` spawned processes, each with ``threads`` threads doing ``job`` at once.

    Returns every outcome and the number of password verifications in all.
    """
    assert world.spec is not None
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [context.Process(target=run_worker, args=(world.spec, world.clock(), job, args, threads, barrier,
                                                          results)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=180) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    return [outcome for outcomes, _ in reports for outcome in outcomes], sum(hashed for _, hashed in reports)


# the login throttle


def test_forty_threads_of_wrong_log_ins_against_seven_let_exactly_seven_through(world: World) -> None:
    hashing = CountingHash()
    auth = make_auth(world, hashing)
    auth.create_user("username", "alice", password="alice-pw")
    outcomes = attempt_all(auth, "login", ("alice",), 40)
    assert Counter(outcomes) == {"AUTH_INVALID_PASSWORD": 7, "AUTH_TOO_MANY_ATTEMPTS": 33}
    assert hashing.validated == 7


def test_forty_wrong_log_ins_from_four_processes_against_seven_let_exactly_seven_through(shared: World) -> None:
    make_auth(shared, CountingHash()).create_user("username", "alice", password="alice-pw")
    outcomes, verified = in_processes(shared, "login", ("alice",), 10)
    assert Counter(outcomes) == {"AUTH_INVALID_PASSWORD": 7, "AUTH_TOO_MANY_ATTEMPTS": 33}
    assert verified == 7  # none let through beyond seven, in any process


def test_an_unknown_identifier_under_a_concurrent_flood_is_let_through_seven_times(shared: World) -> None:
    outcomes, verified = in_processes(shared, "login", ("nobody",), 10)
    assert Counter(outcomes) == {"AUTH_INVALID_PROVIDER_ID": 7, "AUTH_TOO_MANY_ATTEMPTS": 33}
    assert verified == 7


# one token, many consumers


def test_of_twenty_threads_consuming_one_token_exactly_one_wins(world: World) -> None:
    auth = make_auth(world, CountingHash())
    user_id = auth.create_user("username", "alice")["user_id"]
    token = auth.tokens("reset", expires_in=HOUR).issue(user_id)
    outcomes = attempt_all(auth, "consume-token", (token,), 20)
    assert Counter(outcomes) == {user_id: 1, "AUTH_INVALID_TOKEN": 19}


def test_of_twenty_threads_in_four_processes_consuming_one_token_exactly_one_wins(shared: World) -> None:
    auth = make_auth(shared, CountingHash())
    user_id = auth.create_user("username", "alice")["user_id"]
    token = auth.tokens("reset", expires_in=HOUR).issue(user_id)
    outcomes, _ = in_processes(shared, "consume-token", (token,), 5)
    assert Counter(outcomes) == {user_id: 1, "AUTH_INVALID_TOKEN": 19}


# one code, many guesses


def another(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def stored_attempts(auth: Auth, user_id: str) -> int:
    row = auth._accounts.get_code("sign-in", user_id)
    return int(row.attempts)


def test_twenty_concurrent_guesses_from_threads_never_check_more_than_five(world: World) -> None:
    auth = make_auth(world, CountingHash())
    user_id = auth.create_user("username", "alice")["user_id"]
    codes = auth.codes("sign-in", expires_in=HOUR)
    code = codes.issue(user_id)
    outcomes = attempt_all(auth, "guess-code", (user_id, another(code)), 20)
    assert Counter(outcomes) == {"AUTH_INVALID_TOKEN": 5, "AUTH_TOO_MANY_ATTEMPTS": 15}
    assert stored_attempts(auth, user_id) == 5
    assert attempt_all(auth, "guess-code", (user_id, code), 1) == ["AUTH_TOO_MANY_ATTEMPTS"]  # void now


def test_twenty_concurrent_guesses_from_four_processes_never_check_more_than_five(shared: World) -> None:
    auth = make_auth(shared, CountingHash())
    user_id = auth.create_user("username", "alice")["user_id"]
    code = auth.codes("sign-in", expires_in=HOUR).issue(user_id)
    outcomes, _ = in_processes(shared, "guess-code", (user_id, another(code)), 5)
    assert Counter(outcomes) == {"AUTH_INVALID_TOKEN": 5, "AUTH_TOO_MANY_ATTEMPTS": 15}
    assert stored_attempts(auth, user_id) == 5


def test_the_right_code_among_concurrent_wrong_guesses_wins_at_most_once(world: World) -> None:
    auth = make_auth(world, CountingHash())
    user_id = auth.create_user("username", "alice")["user_id"]
    code = auth.codes("sign-in", expires_in=HOUR).issue(user_id)
    right = Counter(attempt_all(auth, "guess-code", (user_id, code), 12))
    assert right.pop("None") == 1  # used once; the others find it gone (or void, had five counted first)
    assert set(right) <= {"AUTH_INVALID_TOKEN", "AUTH_TOO_MANY_ATTEMPTS"} and sum(right.values()) == 11
    assert auth._accounts.get_code("sign-in", user_id) is None

