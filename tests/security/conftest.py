"""Fixtures of the security and reliability suite, and the report of what it tried.

Tests add what they exercised to a tally (attacks tried, fault points
injected, concurrent requests, fuzz examples); the totals are printed at the
end of the run, so the CI log states how much was proven.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from services import redis_prefix

import lucia_wsgi.auth
import lucia_wsgi.auth_state
from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import MemoryAdapter, RedisSessionAdapter

from .support import FAST_HASH, TALLY, TALLY_LABELS, Clock, Tally, postgres_store, sqlite_store
from .world import SessionIds


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY:
        parts = ", ".join(f"{label}: {TALLY[kind]}" for kind, label in TALLY_LABELS.items())
        terminalreporter.write_sep("-", f"security suite: {parts}")


@pytest.fixture
def tally() -> Tally:
    return Tally()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@contextmanager
def open_store(kind: str, tmp_path: Path) -> Iterator[Any]:
    """What ``lucia(adapter=...)`` takes for a store ``kind``, with a ``username`` attribute column:
    ``memory``, ``sqlite``, ``postgres`` (a schema of its own), or ``postgres+redis``
    (PostgreSQL users, Redis sessions under a key prefix of their own)."""
    if kind == "memory":
        yield MemoryAdapter()
    elif kind == "sqlite":
        with sqlite_store(tmp_path / "lucia.db") as adapter:
            yield adapter
    elif kind == "postgres":
        with postgres_store(max_size=4) as pg:
            yield pg
    else:
        with postgres_store(max_size=4) as pg, redis_prefix() as (url, prefix):
            sessions = RedisSessionAdapter(url, prefix=prefix)
            try:
                yield {"user": pg, "session": sessions}
            finally:
                sessions.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty store of each kind holding users and sessions, with a ``username`` attribute column."""
    with open_store(request.param, tmp_path) as adapter:
        yield adapter


@pytest.fixture(params=["memory", "sqlite", "postgres", "postgres+redis"])
def every_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """``store``, and PostgreSQL users with Redis sessions (whose keys expire by the wall clock:
    give such an ``Auth`` the real clock)."""
    with open_store(request.param, tmp_path) as adapter:
        yield adapter


@pytest.fixture
def make_auth(clock: Clock) -> Callable[..., Auth]:
    """``make_auth(adapter, **options)``: DEV, the cheap hash and the test clock unless overridden."""

    def make(adapter: Any, **options: Any) -> Auth:
        options.setdefault("env", "DEV")
        options.setdefault("hash", FAST_HASH)
        options.setdefault("clock", clock)
        return lucia(adapter=adapter, **options)

    return make


@pytest.fixture
def session_ids(monkeypatch: pytest.MonkeyPatch) -> SessionIds:
    """Deterministic session ids from ``Auth`` for this test (``.reset()`` starts them over)."""
    ids = SessionIds()
    monkeypatch.setattr(lucia_wsgi.auth_state, "generate_random_string", ids)
    return ids
