"""Worker processes for the concurrency tests of throttles, tokens and codes.

:func:`run_worker` runs in a process started with ``spawn``: it opens its
own adapter on the shared store (one SQLite file, one PostgreSQL schema),
starts ``threads`` threads, waits at a barrier shared by every process, then
lets all its threads make their attempt at once and reports what each got.
Only the standard library and lucia_wsgi are imported here, so a child
starts quickly.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.adapters import PostgresAdapter, SQLiteAdapter

HOUR = 3_600_000
#: The login throttle of the concurrency tests: 7 at once, and no refill while they run.
LOGIN_THROTTLE = {"capacity": 7, "refill_every": HOUR}


class CountingHash:
    """A cheap hash pair counting verifications (each one an attempt that got past the throttle)."""

    def __init__(self) -> None:
        self.validated = 0
        self._lock = threading.Lock()

    def generate(self, password: str) -> str:
        return "sha256:" + hashlib.sha256(password.encode()).hexdigest()

    def validate(self, password: str, hashed: str) -> bool:
        with self._lock:
            self.validated += 1
        return hashed == self.generate(password)


def open_store(spec: tuple[str, ...]) -> Any:
    """``("sqlite", path)`` or ``("postgresql", dsn, schema)``: a new adapter on that store."""
    if spec[0] == "sqlite":
        return SQLiteAdapter(spec[1])
    return PostgresAdapter(spec[1], schema=spec[2], max_size=4)


def make_auth(store: Any, now: int, hashing: CountingHash) -> Auth:
    """The Auth every process builds alike: one frozen clock, the tests' login throttle."""
    return lucia(adapter=store, env="DEV", clock=lambda: now, hash=(hashing.generate, hashing.validate),
                 login_throttle=LOGIN_THROTTLE)


def _login(auth: Auth, identifier: str) -> object:
    return auth.authenticate_user("username", identifier, "wrong-password")


def _consume_token(auth: Auth, token: str) -> object:
    return auth.tokens("reset", expires_in=HOUR).consume(token)


def _guess_code(auth: Auth, user_id: str, guess: str) -> object:
    return auth.codes("sign-in", expires_in=HOUR).consume(user_id, guess)


JOBS: dict[str, Callable[..., object]] = {"login": _login, "consume-token": _consume_token,
                                          "guess-code": _guess_code}


def attempt_all(auth: Auth, job: str, args: tuple[Any, ...], threads: int,
                ready: Callable[[], None] = lambda: None) -> list[str]:
    """``threads`` threads doing ``job`` at once (after ``ready()``); what each got, as text."""
    go = threading.Barrier(threads + 1, timeout=120)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        go.wait()
        try:
            result = str(JOBS[job](auth, *args))
        except LuciaError as error:
            result = error.code
        except Exception as error:  # reported to the test, which fails on it
            result = f"{type(error).__name__}: {error}"
        with lock:
            outcomes.append(result)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    ready()
    go.wait()
    for worker in workers:
        worker.join(timeout=120)
    return outcomes


def run_worker(spec: tuple[str, ...], now: int, job: str, args: tuple[Any, ...], threads: int,
               barrier: Any, results: Any) -> None:
    """A child process: its own adapter, ``threads`` attempts at once with every other process."""
    store = open_store(spec)
    hashing = CountingHash()
    try:
        auth = make_auth(store, now, hashing)
        outcomes = attempt_all(auth, job, args, threads, ready=lambda: barrier.wait(timeout=120))
        results.put((outcomes, hashing.validated))
    finally:
        store.close()
