"""Fixtures of the security and reliability suite, and the report of what it tried.

Tests add what they exercised to a tally (attacks tried, fault points
injected, concurrent requests, fuzz examples); the totals are printed at the
end of the run, so the CI log states how much was proven.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import lucia_wsgi.auth
import lucia_wsgi.auth_state
from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import MemoryAdapter

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


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty store of each kind, with a ``username`` attribute column (PostgreSQL in its own schema)."""
    if request.param == "memory":
        yield MemoryAdapter()
        return
    if request.param == "sqlite":
        with sqlite_store(tmp_path / "lucia.db") as adapter:
            yield adapter
        return
    with postgres_store(max_size=4) as pg:
        yield pg


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
