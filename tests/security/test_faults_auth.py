"""Every ``Auth`` method through every store failure point: nothing half-written, nothing lost.

Theory of operation: each scenario first runs against a healthy store wrapped
in a recording :class:`FaultyAdapter`, which snapshots the store before each
adapter call. Then, for each call of that trace, the scenario runs again on an
identical store that fails exactly there, and the store afterwards must equal
the reference snapshot taken just before that call (just after it, when the
failure hits the reply of a completed write): only completed steps remain.
On top of that each scenario checks what a user would notice (the old session
still works, the password is old or new but never lost, no orphan session),
and the operation, retried on the healed store, succeeds.

The list of failure points is computed at collection time from a healthy run,
so ``pytest -v`` shows one test per (scenario, call, failure mode, store).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.session import SessionRow
from lucia_wsgi.testing import WRITE_METHODS, AdapterCall, FaultyAdapter, InjectedFault

from .support import FAST_HASH, BasicStore, Clock, Snapshot, Tally, snapshot
from .world import ACTIVE, BOB, DEAD, IDLE, NOW, SessionIds, filled_store


def make(store: Any, options: dict[str, Any]) -> Auth:
    users = itertools.count(1)
    return lucia(adapter=store, env="DEV", hash=FAST_HASH, clock=Clock(NOW),
                 generate_custom_user_id=lambda: f"user{next(users)}", **options)


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[Auth], Any]
    # May these of alice's sessions be gone after a fault? (the operation ends them)
    ends_sessions: frozenset[str] = frozenset()
    options: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Auth, Snapshot], None] | None = None


def alice_password_is_old_or_new(auth: Auth, after: Snapshot) -> None:
    row = auth.config.user_adapter.get_user("alice")
    assert row["hashed_password"] in (FAST_HASH[0]("alice-pw"), FAST_HASH[0]("new-pw"))
    if row["hashed_password"] == FAST_HASH[0]("alice-pw"):
        assert auth.get_session(ACTIVE.id).user_id == "alice", "sessions ended without a password change"


def old_idle_session_still_works(auth: Auth, after: Snapshot) -> None:
    assert auth.validate_session(IDLE.id).user_id == "alice"


def carol_can_still_log_in(auth: Auth, after: Snapshot) -> None:
    assert auth.authenticate_user("username", "carol", "carol-pw")["user_id"] == "carol"


def idle_users_session_survives(auth: Auth, after: Snapshot) -> None:
    """Renewal Lucia 0.3's way (a store without ``renew_session``): the old row or the new one is there.

    Such a store renews with one insert of the new row and leaves the old row
    to its own expiry, so a failure at any point leaves the old session usable.
    """
    alice = [row for row in after[1] if row[1] == "alice"]
    assert any(row[0] == IDLE.id for row in alice) or any(row[0].startswith("New") for row in alice)


def provider_id_is_old_or_new(auth: Auth, after: Snapshot) -> None:
    row = auth.config.user_adapter.get_user("alice")
    assert row["provider_id"] in ("username:alice", "email:alice@example.com")


ALL_ALICE = frozenset({ACTIVE.id, IDLE.id})
SCENARIOS = [
    Scenario("create_user", lambda a: a.create_user("username", "dave", password="dave-pw",
                                                    attributes={"username": "Dave"})),
    Scenario("authenticate_user", lambda a: a.authenticate_user("username", "alice", "alice-pw")),
    Scenario("authenticate_user_bcrypt_migration", lambda a: a.authenticate_user("username", "carol", "carol-pw"),
             options={"bcrypt_migration": True}, check=carol_can_still_log_in),
    Scenario("get_user", lambda a: a.get_user("alice")),
    Scenario("get_user_by_provider_id", lambda a: a.get_user_by_provider_id("username", "alice")),
    Scenario("update_user_attributes", lambda a: a.update_user_attributes("alice", {"username": "Alicia"})),
    Scenario("update_user_password", lambda a: a.update_user_password("alice", "new-pw"),
             ends_sessions=ALL_ALICE, check=alice_password_is_old_or_new),
    Scenario("update_user_provider_id", lambda a: a.update_user_provider_id("alice", "email", "alice@example.com"),
             check=provider_id_is_old_or_new),
    Scenario("delete_user", lambda a: a.delete_user("alice"), ends_sessions=ALL_ALICE),
    Scenario("create_session", lambda a: a.create_session("alice")),
    Scenario("get_session", lambda a: a.get_session(ACTIVE.id)),
    Scenario("get_session_dead", lambda a: a.get_session(DEAD.id)),
    Scenario("get_session_user", lambda a: a.get_session_user(IDLE.id)),
    Scenario("validate_session_active", lambda a: a.validate_session(ACTIVE.id)),
    Scenario("validate_session_idle", lambda a: a.validate_session(IDLE.id), check=old_idle_session_still_works),
    Scenario("validate_session_dead", lambda a: a.validate_session(DEAD.id)),
    Scenario("validate_session_user_idle", lambda a: a.validate_session_user(IDLE.id),
             check=old_idle_session_still_works),
    Scenario("renew_session", lambda a: a.renew_session(ACTIVE.id)),
    Scenario("invalidate_session", lambda a: a.invalidate_session(ACTIVE.id), ends_sessions=frozenset({ACTIVE.id})),
    Scenario("invalidate_all_user_sessions", lambda a: a.invalidate_all_user_sessions("alice"),
             ends_sessions=ALL_ALICE),
    Scenario("delete_dead_user_sessions", lambda a: a.delete_dead_user_sessions("alice")),
    Scenario("split_stores_create_session", lambda a: a.create_session("alice"), options={"split": True}),
    Scenario("split_stores_validate_session_user_idle", lambda a: a.validate_session_user(IDLE.id),
             options={"split": True}, check=old_idle_session_still_works),
    Scenario("basic_store_validate_session_idle", lambda a: a.validate_session(IDLE.id),
             options={"basic": True}, ends_sessions=frozenset({IDLE.id}), check=idle_users_session_survives),
    Scenario("basic_store_validate_session_user_idle", lambda a: a.validate_session_user(IDLE.id),
             options={"basic": True}, ends_sessions=frozenset({IDLE.id}), check=idle_users_session_survives),
]


def build_store(kind: str, path: Path, scenario: Scenario) -> Any:
    store = filled_store(kind, path)
    return BasicStore(store) if scenario.options.get("basic") else store


def auth_options(scenario: Scenario) -> dict[str, Any]:
    return {k: v for k, v in scenario.options.items() if k not in ("split", "basic")}


def run_scenario(scenario: Scenario, adapter: FaultyAdapter) -> Any:
    options = auth_options(scenario)
    if scenario.options.get("split"):
        # The same store serves users and sessions through two objects: no one-query join.
        return scenario.run(make({"user": adapter, "session": adapter}, options))
    return scenario.run(make(adapter, options))


def reference_trace(scenario: Scenario, store: Any) -> tuple[list[AdapterCall], list[Snapshot]]:
    """The healthy run's calls, and the store before each call plus at the end."""
    states: list[Snapshot] = []
    recorder = FaultyAdapter(store, before_call=lambda call: states.append(snapshot(store)))
    try:
        run_scenario(scenario, recorder)
    except LuciaError:
        pass  # dead and unknown sessions are errors in a healthy run too
    states.append(snapshot(store))
    return recorder.calls, states


def _failure_points() -> Iterator[Any]:
    for scenario in SCENARIOS:
        calls, _ = reference_trace(scenario, build_store("memory", Path(), scenario))
        for index, call in enumerate(calls):
            yield pytest.param(scenario, index, call, id=f"{scenario.name}-{call.method}#{call.n}")


FAILURE_POINTS = list(_failure_points())
MODES = [
    pytest.param("before", InjectedFault, 0.0, id="connection-lost"),
    pytest.param("before", sqlite3.OperationalError, 0.0, id="database-locked"),
    pytest.param("before", TimeoutError, 0.005, id="timeout"),
    pytest.param("after", InjectedFault, 0.0, id="reply-lost"),
]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize(("when", "exc_type", "delay"), MODES)
@pytest.mark.parametrize(("scenario", "index", "call"), FAILURE_POINTS)
def test_fault_leaves_only_completed_steps(
    tmp_path: Path, session_ids: SessionIds, tally: Tally, scenario: Scenario, index: int, call: AdapterCall,
    when: str, exc_type: type[BaseException], delay: float, kind: str,
) -> None:
    session_ids.reset()
    calls, states = reference_trace(scenario, build_store(kind, tmp_path / "reference.db", scenario))
    assert calls[index] == call, "the healthy run is not deterministic"

    store = build_store(kind, tmp_path / "faulty.db", scenario)
    before = snapshot(store)
    error = exc_type(f"injected: {call.method} call {call.n}")
    faulty = FaultyAdapter(store, {call.method: call.n}, exc=error, when=when, delay=delay)
    session_ids.reset()
    with pytest.raises(exc_type) as caught:
        run_scenario(scenario, faulty)
    assert caught.value is error, "the store's error must surface unchanged"
    assert faulty.faults == [call]
    tally.add("faults")

    after = snapshot(store)
    completed = index + 1 if when == "after" else index
    assert after == states[completed]
    if not any(c.method in WRITE_METHODS for c in calls[:completed]):
        assert after == before, "a write happened although none completed"

    faulty.heal()
    auth = make(faulty, auth_options(scenario))
    users = {dict(row)["id"] for row in after[0]}
    assert all(row[1] in users for row in after[1]), "a session outlived its user"
    assert SessionRow(*BOB) in {SessionRow(*row) for row in after[1]}, "another user's session was touched"
    for session_id in (ACTIVE.id, IDLE.id) if "alice" in users else ():
        if session_id not in scenario.ends_sessions:
            assert auth.get_session(session_id).user_id == "alice", f"{session_id} was lost"
    if scenario.check is not None:
        scenario.check(auth, after)
    if when == "before":  # the same operation, retried once the store is back
        try:
            run_scenario(scenario, faulty)
        except LuciaError as retry_error:  # only what a healthy run answers too
            assert scenario.name.endswith("_dead"), retry_error
