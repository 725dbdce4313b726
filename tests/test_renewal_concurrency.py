"""Renewal under concurrency: many tabs with one idle session, and logout racing renewal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lucia_wsgi import Auth, LuciaError, Session, lucia
from lucia_wsgi.adapters import MemoryAdapter, SQLiteAdapter
from lucia_wsgi.session import SessionRow

T0 = 1_700_000_000_000
ACTIVE = 24 * 60 * 60 * 1000
IDLE_NOW = T0 + ACTIVE + 1
GRACE = 5_000
THREADS = 20
CHEAP = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _sqlite(tmp_path: Path) -> SQLiteAdapter:
    adapter = SQLiteAdapter(tmp_path / "auth.db")
    adapter.create_tables(user_attributes={"username": "TEXT"})
    return adapter


STORES = [
    pytest.param(_sqlite, id="sqlite"),
    pytest.param(lambda tmp_path: MemoryAdapter(), id="memory"),
]


def _in_threads(count: int, work: Callable[[int], object], adapter: object) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released together; results or exceptions, in order."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except (LuciaError, OSError, RuntimeError) as error:
            results[index] = error
        finally:
            if isinstance(adapter, SQLiteAdapter):
                adapter.close()  # this thread's connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize("make_store", STORES)
def test_twenty_tabs_validating_one_idle_session(tmp_path: Path, make_store: Callable[[Path], object]) -> None:
    store = make_store(tmp_path)
    clock = Clock()
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    user_id = auth.create_user("username", "alice")["user_id"]
    old = auth.create_session(user_id).session_id
    clock.now = IDLE_NOW

    results = _in_threads(THREADS, lambda _: auth.validate_session(old), store)

    assert all(isinstance(result, Session) for result in results), results
    sessions = {result for result in results if isinstance(result, Session)}
    assert len(sessions) == 1, "every tab is answered with the one successor"
    (successor,) = sessions
    assert successor.is_fresh and successor.session_id != old
    rows = store.get_sessions_by_user_id(user_id)  # type: ignore[attr-defined]
    assert {row.id for row in rows} == {old, successor.session_id}

    clock.now = IDLE_NOW + 10 * GRACE  # the successor never used: the old id still answers with it
    assert auth.validate_session(old) == successor
    assert auth.validate_session(successor.session_id).session_id == successor.session_id
    clock.now += GRACE
    assert auth.validate_session(old) == successor
    clock.now += 1
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(old)
    assert auth.validate_session(successor.session_id).session_id == successor.session_id


# --- logout racing renewal -----------------------------------------------------------


class HookedSQLite(SQLiteAdapter):
    """SQLite whose atomic renewal runs ``before``/``after`` hooks around the swap."""

    before: Callable[[], None] = staticmethod(lambda: None)
    after: Callable[[], None] = staticmethod(lambda: None)

    def renew_session(self, expected: SessionRow, successor: str, new: SessionRow, replaced: str | None) -> bool:
        self.before()
        swapped = super().renew_session(expected, successor, new, replaced)
        self.after()
        return swapped


class StepwiseSessions:
    """A session store without the renewal writes (a minimal third-party adapter) over SQLite.

    ``hook`` runs once, right after the store's first write of a renewal.
    """

    def __init__(self, adapter: SQLiteAdapter) -> None:
        self.adapter = adapter
        self.hook: Callable[[], None] = lambda: None
        self.armed = False

    def _fire(self) -> None:
        if self.armed:
            self.armed = False
            self.hook()

    def get_session(self, session_id: str) -> SessionRow | None:
        return self.adapter.get_session(session_id)

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        return self.adapter.get_sessions_by_user_id(user_id)

    def set_session(self, row: SessionRow) -> None:
        self.adapter.set_session(row)
        self._fire()

    def delete_session(self, *session_ids: str) -> None:
        self.adapter.delete_session(*session_ids)
        self._fire()

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        self.adapter.delete_sessions_by_user_id(user_id)


def _old_id_is_gone(auth: Auth, store: SQLiteAdapter, old: str, clock: Clock) -> None:
    assert store.get_session(old) is None
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(old)
    clock.now += GRACE // 2
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(old)


def _renew_racing_logout(auth: Auth, old: str) -> Session | None:
    try:
        return auth.validate_session(old)
    except LuciaError as error:
        assert error.code == "AUTH_INVALID_SESSION_ID"
        return None


@pytest.mark.parametrize("moment", [pytest.param("before", id="logout-before-swap"),
                                    pytest.param("after", id="logout-after-swap")])
def test_logout_racing_atomic_renewal_never_resurrects(tmp_path: Path, moment: str) -> None:
    store = HookedSQLite(tmp_path / "auth.db")
    store.create_tables()
    clock = Clock()
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    user_id = auth.create_user("username", "alice")["user_id"]
    old = auth.create_session(user_id).session_id
    clock.now = IDLE_NOW
    setattr(store, moment, lambda: auth.invalidate_session(old))
    renewed = _renew_racing_logout(auth, old)
    assert (renewed is None) is (moment == "before")
    _old_id_is_gone(auth, store, old, clock)


def test_logout_racing_stepwise_renewal_never_resurrects(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    sessions = StepwiseSessions(store)
    clock = Clock()
    auth = lucia(adapter={"user": store, "session": sessions}, env="DEV", hash=CHEAP, clock=clock)
    user_id = auth.create_user("username", "alice")["user_id"]
    old = auth.create_session(user_id).session_id
    clock.now = IDLE_NOW
    sessions.hook, sessions.armed = (lambda: auth.invalidate_session(old)), True
    _renew_racing_logout(auth, old)
    assert not sessions.armed
    _old_id_is_gone(auth, store, old, clock)


def test_logout_and_renewal_in_threads(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    clock = Clock()
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    user_id = auth.create_user("username", "alice")["user_id"]
    old = auth.create_session(user_id).session_id
    clock.now = IDLE_NOW
    work = [lambda: _renew_racing_logout(auth, old), lambda: auth.invalidate_session(old)]
    results = _in_threads(2, lambda i: work[i](), store)
    assert not any(isinstance(result, Exception) for result in results), results
    _old_id_is_gone(auth, store, old, clock)
