"""``Auth``: every method and error code of SPEC §1/§4, stepping an injected clock."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import bcrypt
import pytest

from lucia_wsgi import Auth, LuciaError, Session, SessionUser, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.passwords import verify_password
from lucia_wsgi.session import SessionRow

T0 = 1_700_000_000_000
ACTIVE = 24 * 60 * 60 * 1000
IDLE = 14 * ACTIVE
GRACE = 5_000
CHEAP = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
MALFORMED_IDS = [
    pytest.param("", id="empty"),
    pytest.param("a" * 39, id="39-chars"),
    pytest.param("a" * 41, id="41-chars"),
    pytest.param("a" * 39 + "!", id="punctuation"),
    pytest.param("a" * 39 + "é", id="non-ascii"),
    pytest.param("' OR 1=1 --" + "a" * 29, id="sql-ish"),
]


def _ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


class Clock:
    """The injected clock: tests move ``now`` (Unix ms) by hand."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


_PROTOCOL = ("get_user", "get_user_by_provider_id", "set_user", "update_user", "delete_user", "get_session",
             "get_sessions_by_user_id", "set_session", "delete_session", "delete_sessions_by_user_id",
             "get_session_and_user_by_session_id", "replace_session")


class RecordingAdapter(MemoryAdapter):
    """A memory store that records which protocol methods were called, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []


def _recording(name: str) -> Callable[..., Any]:
    def method(self: RecordingAdapter, *args: Any) -> Any:
        self.calls.append(name)
        return getattr(MemoryAdapter, name)(self, *args)

    return method


for _name in _PROTOCOL:
    setattr(RecordingAdapter, _name, _recording(_name))


class DictSessionStore:
    """A session-only store with only the required methods (no atomic ``renew_session``)."""

    def __init__(self) -> None:
        self.rows: dict[str, SessionRow] = {}

    def get_session(self, session_id: str) -> SessionRow | None:
        return self.rows.get(session_id)

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        return [row for row in self.rows.values() if row.user_id == user_id]

    def set_session(self, row: SessionRow) -> None:
        if row.id in self.rows:
            raise LuciaError("AUTH_DUPLICATE_SESSION_ID")
        self.rows[row.id] = row

    def delete_session(self, *session_ids: str) -> None:
        for session_id in session_ids:
            self.rows.pop(session_id, None)

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        for row in self.get_sessions_by_user_id(user_id):
            del self.rows[row.id]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> RecordingAdapter:
    return RecordingAdapter()


@pytest.fixture
def auth(store: RecordingAdapter, clock: Clock) -> Auth:
    return lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)


@pytest.fixture
def alice(auth: Auth) -> str:
    user_id: str = auth.create_user("username", "alice", "hunter2", {"username": "Alice"})["user_id"]
    return user_id


def _rows(store: MemoryAdapter, user_id: str) -> set[SessionRow]:
    return set(store.get_sessions_by_user_id(user_id))


def _lucia_rows(store: MemoryAdapter, user_id: str) -> set[SessionRow]:
    """The user's rows as Lucia sees them: its four columns (the rest are tested on their own)."""
    return {SessionRow(*row[:4]) for row in store.get_sessions_by_user_id(user_id)}


# --- users ----------------------------------------------------------------------


def test_create_user_stores_the_row_and_returns_the_transformed_user(clock: Clock) -> None:
    store = MemoryAdapter()
    seen: list[dict[str, Any]] = []

    def transform(data: dict[str, Any]) -> tuple[str, str]:
        seen.append(data)
        return ("user", data["id"])

    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, transform_user_data=transform,
                 generate_custom_user_id=lambda: "custom-1")
    assert auth.create_user("username", "alice", "hunter2", {"username": "Alice"}) == ("user", "custom-1")
    assert seen == [{"id": "custom-1", "username": "Alice"}]
    assert store.get_user("custom-1") == {"id": "custom-1", "provider_id": "username:alice",
                                          "hashed_password": "plain:hunter2", "username": "Alice"}


def test_adapter_picks_the_id_when_no_generator(auth: Auth, store: MemoryAdapter) -> None:
    user = auth.create_user("username", "bob", None)
    assert store.get_user(user["user_id"])["hashed_password"] is None  # type: ignore[index]
    assert len(user["user_id"]) == 15


def test_generator_returning_none_lets_the_adapter_choose(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, generate_custom_user_id=lambda: None)
    assert len(auth.create_user("username", "bob")["user_id"]) == 15


def test_duplicate_provider_id(auth: Auth, alice: str) -> None:
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_PROVIDER_ID"):
        auth.create_user("username", "alice", "other")


@pytest.mark.parametrize("column", [pytest.param(c, id=c) for c in ("id", "provider_id", "hashed_password")])
def test_attributes_cannot_set_reserved_columns(auth: Auth, alice: str, column: str) -> None:
    with pytest.raises(ValueError, match=column):
        auth.create_user("username", "eve", None, {column: "x"})
    with pytest.raises(ValueError, match=column):
        auth.update_user_attributes(alice, {column: "x"})


@pytest.mark.parametrize(
    "provider",
    [pytest.param("", id="empty"), pytest.param("user:name", id="colon")],
)
def test_bad_provider_is_a_value_error(auth: Auth, provider: str) -> None:
    with pytest.raises(ValueError, match="provider"):
        auth.create_user(provider, "x")


def test_identifier_may_contain_colons(auth: Auth, store: MemoryAdapter) -> None:
    user = auth.create_user("email", "a:b@example.com")
    assert store.get_user(user["user_id"])["provider_id"] == "email:a:b@example.com"  # type: ignore[index]


@pytest.mark.parametrize(
    ("identifier", "password", "code"),
    [
        pytest.param("alice", "hunter3", "AUTH_INVALID_PASSWORD", id="wrong-password"),
        pytest.param("nobody", "hunter2", "AUTH_INVALID_PROVIDER_ID", id="unknown-user"),
        pytest.param("ALICE", "hunter2", "AUTH_INVALID_PROVIDER_ID", id="provider-id-case-sensitive"),
    ],
)
def test_authenticate_user_errors(auth: Auth, alice: str, identifier: str, password: str, code: str) -> None:
    with pytest.raises(LuciaError, match=code):
        auth.authenticate_user("username", identifier, password)


def test_authenticate_user(auth: Auth, alice: str) -> None:
    assert auth.authenticate_user("username", "alice", "hunter2") == {"user_id": alice}


def test_user_without_password_cannot_authenticate(auth: Auth) -> None:
    auth.create_user("github", "1234")
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("github", "1234", "")


def test_get_user(auth: Auth, alice: str) -> None:
    assert auth.get_user(alice) == {"user_id": alice}
    assert auth.get_user_by_provider_id("username", "alice") == {"user_id": alice}


@pytest.mark.parametrize(
    ("call", "code"),
    [
        pytest.param(lambda auth: auth.get_user("nobody"), "AUTH_INVALID_USER_ID", id="get-user"),
        pytest.param(lambda auth: auth.get_user_by_provider_id("username", "nobody"), "AUTH_INVALID_PROVIDER_ID",
                     id="get-user-by-provider-id"),
        pytest.param(lambda auth: auth.update_user_attributes("nobody", {"username": "x"}), "AUTH_INVALID_USER_ID",
                     id="update-attributes"),
        pytest.param(lambda auth: auth.update_user_password("nobody", "pw"), "AUTH_INVALID_USER_ID",
                     id="update-password"),
        pytest.param(lambda auth: auth.update_user_provider_id("nobody", "username", "x"), "AUTH_INVALID_USER_ID",
                     id="update-provider-id"),
        pytest.param(lambda auth: auth.create_session("nobody"), "AUTH_INVALID_USER_ID", id="create-session"),
    ],
)
def test_unknown_user(auth: Auth, call: Callable[[Auth], object], code: str) -> None:
    with pytest.raises(LuciaError, match=code):
        call(auth)


def test_update_user_attributes(store: MemoryAdapter, clock: Clock) -> None:
    seen: list[dict[str, Any]] = []

    def transform(data: dict[str, Any]) -> str:
        seen.append(data)
        return str(data["id"])

    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, transform_user_data=transform)
    alice = auth.create_user("username", "alice", "pw", {"username": "Alice"})
    assert auth.update_user_attributes(alice, {"username": "Alicia"}) == alice
    assert seen[-1] == {"id": alice, "username": "Alicia"}
    assert store.get_user(alice)["username"] == "Alicia"  # type: ignore[index]


def test_update_user_password_ends_sessions_after_storing(
    auth: Auth, store: RecordingAdapter, alice: str
) -> None:
    bob = auth.create_user("username", "bob", "pw")["user_id"]
    auth.create_session(alice)
    auth.create_session(alice)
    kept = auth.create_session(bob)
    store.calls.clear()
    assert auth.update_user_password(alice, "new password") == {"user_id": alice}
    assert store.calls == ["update_user", "delete_sessions_by_user_id"]
    assert _rows(store, alice) == set()
    assert auth.get_session(kept.session_id).user_id == bob
    assert auth.authenticate_user("username", "alice", "new password") == {"user_id": alice}
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "alice", "hunter2")


def test_update_user_password_to_none_removes_it(auth: Auth, store: MemoryAdapter, alice: str) -> None:
    auth.update_user_password(alice, None)
    assert store.get_user(alice)["hashed_password"] is None  # type: ignore[index]
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "alice", "hunter2")


class FailingUpdates(MemoryAdapter):
    def update_user(self, user_id: str, values: Any) -> dict[str, Any]:
        raise OSError("disk full")


def test_failed_password_update_keeps_sessions_and_password(clock: Clock) -> None:
    store = FailingUpdates()
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    user_id = auth.create_user("username", "alice", "hunter2")["user_id"]
    session = auth.create_session(user_id)
    with pytest.raises(OSError, match="disk full"):
        auth.update_user_password(user_id, "new password")
    assert auth.validate_session(session.session_id).session_id == session.session_id
    assert auth.authenticate_user("username", "alice", "hunter2") == {"user_id": user_id}


def test_update_user_provider_id(auth: Auth, alice: str) -> None:
    assert auth.update_user_provider_id(alice, "email", "alice@example.com") == {"user_id": alice}
    assert auth.get_user_by_provider_id("email", "alice@example.com") == {"user_id": alice}
    with pytest.raises(LuciaError, match="AUTH_INVALID_PROVIDER_ID"):
        auth.get_user_by_provider_id("username", "alice")


def test_update_user_provider_id_to_a_taken_one(auth: Auth, alice: str) -> None:
    auth.create_user("username", "bob")
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_PROVIDER_ID"):
        auth.update_user_provider_id(alice, "username", "bob")
    assert auth.get_user_by_provider_id("username", "alice") == {"user_id": alice}


def test_delete_user_removes_sessions_first(auth: Auth, store: RecordingAdapter, alice: str) -> None:
    session = auth.create_session(alice)
    store.calls.clear()
    auth.delete_user(alice)
    assert store.calls == ["delete_sessions_by_user_id", "delete_user"]
    assert store.get_user(alice) is None
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.get_session(session.session_id)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda auth: auth.invalidate_session("a" * 40), id="invalidate-session"),
        pytest.param(lambda auth: auth.invalidate_all_user_sessions("nobody"), id="invalidate-all"),
        pytest.param(lambda auth: auth.delete_dead_user_sessions("nobody"), id="delete-dead"),
        pytest.param(lambda auth: auth.delete_user("nobody"), id="delete-user"),
    ],
)
def test_unknown_ids_are_fine(auth: Auth, alice: str, call: Callable[[Auth], object]) -> None:
    session = auth.create_session(alice)
    assert call(auth) is None
    assert auth.get_session(session.session_id) == dataclasses.replace(session, is_fresh=False)


# --- sessions -------------------------------------------------------------------


def test_create_session(auth: Auth, store: MemoryAdapter, alice: str) -> None:
    session = auth.create_session(alice)
    assert session == Session(session_id=session.session_id, user_id=alice,
                              active_period_expires=_ms(T0 + ACTIVE), idle_period_expires=_ms(T0 + ACTIVE + IDLE),
                              state="active", is_fresh=True)
    assert session.session_id.isalnum() and session.session_id.isascii() and len(session.session_id) == 40
    assert _lucia_rows(store, alice) == {SessionRow(session.session_id, alice, T0 + ACTIVE, T0 + ACTIVE + IDLE)}


def test_custom_periods(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock,
                 session_timeout={"active_period": 1000, "idle_period": 2000})
    user_id = auth.create_user("username", "x")["user_id"]
    row = SessionRow(auth.create_session(user_id).session_id, user_id, T0 + 1000, T0 + 3000)
    assert _lucia_rows(store, user_id) == {row}


@pytest.mark.parametrize(
    ("cleanup", "kept"),
    [pytest.param(True, False, id="cleanup-on"), pytest.param(False, True, id="cleanup-off")],
)
def test_create_session_deletes_the_users_dead_sessions(store: MemoryAdapter, clock: Clock,
                                                        cleanup: bool, kept: bool) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, auto_database_cleanup=cleanup)
    alice = auth.create_user("username", "alice")["user_id"]
    bob = auth.create_user("username", "bob")["user_id"]
    dead = SessionRow("d" * 40, alice, T0 - 2, T0 - 1)
    idle = SessionRow("i" * 40, alice, T0 - 1, T0)
    bobs_dead = SessionRow("b" * 40, bob, T0 - 2, T0 - 1)
    for row in (dead, idle, bobs_dead):
        store.set_session(row)
    new = auth.create_session(alice)
    assert store.get_session(dead.id) == (dead if kept else None)
    assert store.get_session(idle.id) == idle
    assert store.get_session(bobs_dead.id) == bobs_dead
    assert store.get_session(new.session_id) is not None


STATES = [
    pytest.param(0, "active", id="created"),
    pytest.param(ACTIVE, "active", id="now-equals-expires"),
    pytest.param(ACTIVE + 1, "idle", id="expires-plus-1"),
    pytest.param(ACTIVE + IDLE, "idle", id="now-equals-idle-expires"),
    pytest.param(ACTIVE + IDLE + 1, None, id="dead"),
]


@pytest.mark.parametrize(("offset", "state"), STATES)
def test_get_session_never_renews(auth: Auth, store: MemoryAdapter, clock: Clock, alice: str,
                                  offset: int, state: str | None) -> None:
    created = auth.create_session(alice)
    row = store.get_session(created.session_id)
    clock.now = T0 + offset
    if state is None:
        with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
            auth.get_session(created.session_id)
        return
    session = auth.get_session(created.session_id)
    assert (session.session_id, session.state, session.is_fresh) == (created.session_id, state, False)
    assert _rows(store, alice) == {row}


@pytest.mark.parametrize(("offset", "state"), STATES)
def test_get_session_user(auth: Auth, clock: Clock, alice: str, offset: int, state: str | None) -> None:
    created = auth.create_session(alice)
    clock.now = T0 + offset
    if state is None:
        with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
            auth.get_session_user(created.session_id)
        return
    session, user = auth.get_session_user(created.session_id)
    assert (session.session_id, session.state, user) == (created.session_id, state, {"user_id": alice})


@pytest.mark.parametrize(
    "lookup",
    [
        pytest.param(lambda auth, sid: auth.get_session(sid), id="get-session"),
        pytest.param(lambda auth, sid: auth.get_session_user(sid), id="get-session-user"),
        pytest.param(lambda auth, sid: auth.validate_session(sid), id="validate-session"),
        pytest.param(lambda auth, sid: auth.validate_session_user(sid), id="validate-session-user"),
        pytest.param(lambda auth, sid: auth.renew_session(sid), id="renew-session"),
    ],
)
@pytest.mark.parametrize(
    ("cleanup", "kept"),
    [pytest.param(True, False, id="cleanup-on"), pytest.param(False, True, id="cleanup-off")],
)
def test_dead_session_is_rejected_and_deleted_with_cleanup(
    store: MemoryAdapter, clock: Clock, lookup: Callable[[Auth, str], object], cleanup: bool, kept: bool
) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, auto_database_cleanup=cleanup)
    user_id = auth.create_user("username", "alice")["user_id"]
    session = auth.create_session(user_id)
    clock.now = T0 + ACTIVE + IDLE + 1
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        lookup(auth, session.session_id)
    assert (store.get_session(session.session_id) is not None) is kept


def test_validate_active_session(auth: Auth, store: MemoryAdapter, clock: Clock, alice: str) -> None:
    created = auth.create_session(alice)
    clock.now = T0 + ACTIVE
    session = auth.validate_session(created.session_id)
    assert session == Session(session_id=created.session_id, user_id=alice, active_period_expires=_ms(T0 + ACTIVE),
                              idle_period_expires=_ms(T0 + ACTIVE + IDLE), state="active", is_fresh=False)
    assert len(_rows(store, alice)) == 1


def test_validate_idle_session_renews_it(auth: Auth, store: MemoryAdapter, clock: Clock, alice: str) -> None:
    old = auth.create_session(alice)
    now = clock.now = T0 + ACTIVE + 1
    new = auth.validate_session(old.session_id)
    assert new == Session(session_id=new.session_id, user_id=alice, active_period_expires=_ms(now + ACTIVE),
                          idle_period_expires=_ms(now + ACTIVE + IDLE), state="active", is_fresh=True)
    assert new.session_id != old.session_id
    assert _lucia_rows(store, alice) == {  # Lucia 0.3's rows: the old one untouched beside the new
        SessionRow(new.session_id, alice, now + ACTIVE, now + ACTIVE + IDLE),
        SessionRow(old.session_id, alice, T0 + ACTIVE, T0 + ACTIVE + IDLE),
    }
    clock.now = now + 60_000  # the reply was lost: the old id is answered with the same successor
    assert auth.validate_session(old.session_id) == new
    assert auth.validate_session(new.session_id).session_id == new.session_id  # the browser has it now
    clock.now += GRACE
    assert auth.validate_session(old.session_id) == new  # in flight: the grace window
    clock.now += 1
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(old.session_id)
    assert auth.validate_session(new.session_id).session_id == new.session_id


def test_zero_grace_ends_the_old_id_a_millisecond_after_its_successor_is_used(store: MemoryAdapter,
                                                                               clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, renewal_grace=0)
    user_id = auth.create_user("username", "alice")["user_id"]
    old = auth.create_session(user_id)
    clock.now = T0 + ACTIVE + 1
    new = auth.validate_session(old.session_id)
    auth.validate_session(new.session_id)
    assert auth.validate_session(old.session_id) == new
    clock.now += 1
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(old.session_id)


def test_renewal_deletes_the_users_dead_sessions(auth: Auth, store: MemoryAdapter, clock: Clock, alice: str) -> None:
    session = auth.create_session(alice)
    clock.now = T0 + ACTIVE + 1
    dead = SessionRow("d" * 40, alice, T0, T0 + 1)
    store.set_session(dead)
    auth.validate_session(session.session_id)
    assert store.get_session(dead.id) is None


def test_validate_session_user_uses_one_query(auth: Auth, store: RecordingAdapter, alice: str) -> None:
    session = auth.create_session(alice)
    store.calls.clear()
    result = auth.validate_session_user(session.session_id)
    assert store.calls == ["get_session_and_user_by_session_id"]
    assert result == SessionUser(dataclasses.replace(session, is_fresh=False), {"user_id": alice})


def test_validate_session_user_renews(auth: Auth, store: RecordingAdapter, clock: Clock, alice: str) -> None:
    old = auth.create_session(alice)
    clock.now = T0 + ACTIVE + 1
    store.calls.clear()
    session, user = auth.validate_session_user(old.session_id)
    assert session is not None and session.is_fresh and session.session_id != old.session_id
    assert user == {"user_id": alice}
    assert "get_user" not in store.calls and "get_session" not in store.calls


def test_renew_session_renews_an_active_session(auth: Auth, store: MemoryAdapter, alice: str) -> None:
    old = auth.create_session(alice)
    new = auth.renew_session(old.session_id)
    assert new.is_fresh and new.session_id != old.session_id
    assert new.active_period_expires == _ms(T0 + ACTIVE)
    assert store.get_session(old.session_id) == SessionRow(old.session_id, alice, T0 + ACTIVE, T0 + ACTIVE + IDLE,
                                                           successor=new.session_id, created_at=T0, last_seen=T0)
    assert auth.renew_session(old.session_id) == new  # one successor per session


def test_renew_unknown_session(auth: Auth) -> None:
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.renew_session("u" * 40)


def test_invalidate_session(auth: Auth, alice: str) -> None:
    first, second = auth.create_session(alice), auth.create_session(alice)
    auth.invalidate_session(first.session_id)
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(first.session_id)
    assert auth.validate_session(second.session_id).session_id == second.session_id


def test_invalidate_all_user_sessions(auth: Auth, store: MemoryAdapter, alice: str) -> None:
    bob = auth.create_user("username", "bob")["user_id"]
    auth.create_session(alice)
    auth.create_session(alice)
    bobs = auth.create_session(bob)
    auth.invalidate_all_user_sessions(alice)
    assert _rows(store, alice) == set()
    assert auth.get_session(bobs.session_id).user_id == bob


def test_delete_dead_user_sessions(auth: Auth, store: MemoryAdapter, clock: Clock, alice: str) -> None:
    live = auth.create_session(alice)
    for row in (SessionRow("d" * 40, alice, T0 - 2, T0 - 1), SessionRow("e" * 40, alice, T0 - 1, T0)):
        store.set_session(row)
    auth.delete_dead_user_sessions(alice)
    assert {row.id for row in _rows(store, alice)} == {live.session_id, "e" * 40}


def test_generate_session_id(auth: Auth, clock: Clock) -> None:
    clock.now = T0 + 123
    generated = auth.generate_session_id()
    assert len(generated.session_id) == 40 and generated.session_id.isalnum()
    assert generated.active_period_expires == _ms(T0 + 123 + ACTIVE)
    assert generated.idle_period_expires == _ms(T0 + 123 + ACTIVE + IDLE)
    assert generated.session_id != auth.generate_session_id().session_id


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda auth, sid: auth.get_session(sid), id="get-session"),
        pytest.param(lambda auth, sid: auth.get_session_user(sid), id="get-session-user"),
        pytest.param(lambda auth, sid: auth.validate_session(sid), id="validate-session"),
        pytest.param(lambda auth, sid: auth.validate_session_user(sid), id="validate-session-user"),
        pytest.param(lambda auth, sid: auth.renew_session(sid), id="renew-session"),
    ],
)
@pytest.mark.parametrize("session_id", MALFORMED_IDS)
def test_malformed_session_id_never_reaches_the_store(
    auth: Auth, store: RecordingAdapter, call: Callable[[Auth, str], object], session_id: str
) -> None:
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        call(auth, session_id)
    assert store.calls == []


@pytest.mark.parametrize("session_id", MALFORMED_IDS)
def test_invalidating_a_malformed_id_is_a_no_op(auth: Auth, store: RecordingAdapter, session_id: str) -> None:
    auth.invalidate_session(session_id)
    assert store.calls == []


def test_store_failure_propagates_unchanged(clock: Clock) -> None:
    class Broken(MemoryAdapter):
        def get_session(self, session_id: str) -> SessionRow | None:
            raise ConnectionError("store down")

    auth = lucia(adapter={"user": MemoryAdapter(), "session": Broken()}, env="DEV", hash=CHEAP, clock=clock)
    with pytest.raises(ConnectionError, match="store down"):
        auth.validate_session("a" * 40)


# --- hashed session ids ------------------------------------------------------------


def test_hash_session_ids_keeps_raw_ids_out_of_the_store(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, hash_session_ids=True)
    user_id = auth.create_user("username", "alice")["user_id"]
    session = auth.create_session(user_id)
    digest = hashlib.sha256(session.session_id.encode()).hexdigest()
    assert {row.id for row in _rows(store, user_id)} == {digest}
    assert store.get_session(session.session_id) is None
    assert auth.validate_session(session.session_id).session_id == session.session_id
    assert auth.validate_session_user(session.session_id).user == {"user_id": user_id}
    clock.now = T0 + ACTIVE + 1
    renewed = auth.validate_session(session.session_id)
    assert renewed.is_fresh
    new_digest = hashlib.sha256(renewed.session_id.encode()).hexdigest()
    assert {row.id for row in _rows(store, user_id)} == {digest, new_digest}
    link = store.get_session(digest).successor  # type: ignore[union-attr]
    assert link is not None and renewed.session_id not in link  # sealed: only the old id opens it
    assert auth.validate_session(session.session_id) == renewed  # a lost reply: the same successor again
    auth.invalidate_session(renewed.session_id)
    assert _rows(store, user_id) == set()


# --- split adapters ------------------------------------------------------------------


@pytest.fixture
def split(clock: Clock) -> tuple[Auth, RecordingAdapter, DictSessionStore]:
    users, sessions = RecordingAdapter(), DictSessionStore()
    return lucia(adapter={"user": users, "session": sessions}, env="DEV", hash=CHEAP, clock=clock), users, sessions


def test_split_create_session_for_unknown_user(split: tuple[Auth, RecordingAdapter, DictSessionStore]) -> None:
    auth, _, sessions = split
    with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
        auth.create_session("nobody")
    assert sessions.rows == {}


def test_split_adapters_work_end_to_end(split: tuple[Auth, RecordingAdapter, DictSessionStore], clock: Clock) -> None:
    auth, users, sessions = split
    user_id = auth.create_user("username", "alice", "pw")["user_id"]
    session = auth.create_session(user_id)
    users.calls.clear()
    assert auth.validate_session_user(session.session_id).user == {"user_id": user_id}
    assert users.calls == ["get_user"]
    clock.now = T0 + ACTIVE + 1
    renewed = auth.validate_session(session.session_id)
    # A store without the renewal writes renews as Lucia 0.3: the old session stays to its own expiry.
    assert renewed.is_fresh and set(sessions.rows) == {session.session_id, renewed.session_id}
    auth.delete_user(user_id)
    assert sessions.rows == {} and users.get_user(user_id) is None


def test_split_session_of_a_deleted_user_is_invalid(split: tuple[Auth, RecordingAdapter, DictSessionStore]) -> None:
    auth, users, _ = split
    user_id = auth.create_user("username", "alice")["user_id"]
    session = auth.create_session(user_id)
    users.delete_user(user_id)
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session_user(session.session_id)


# --- bcrypt migration ------------------------------------------------------------------


def _bcrypt_user(store: MemoryAdapter, password: bytes, prefix: str = "$2b$") -> str:
    hashed = bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode()
    store.set_user("legacy", {"provider_id": "username:legacy", "hashed_password": prefix + hashed[4:]})
    return hashed


@pytest.mark.parametrize("prefix", [pytest.param("$2b$", id="2b"), pytest.param("$2a$", id="2a")])
def test_bcrypt_hash_is_verified_and_rehashed(store: MemoryAdapter, clock: Clock, prefix: str) -> None:
    _bcrypt_user(store, b"hunter2", prefix)
    auth = lucia(adapter=store, env="DEV", clock=clock, bcrypt_migration=True)
    assert auth.authenticate_user("username", "legacy", "hunter2") == {"user_id": "legacy"}
    stored = store.get_user("legacy")["hashed_password"]  # type: ignore[index]
    assert stored.startswith("s2:") and verify_password("hunter2", stored)
    assert auth.authenticate_user("username", "legacy", "hunter2") == {"user_id": "legacy"}


def test_wrong_password_keeps_the_bcrypt_hash(store: MemoryAdapter, clock: Clock) -> None:
    hashed = _bcrypt_user(store, b"hunter2")
    auth = lucia(adapter=store, env="DEV", clock=clock, bcrypt_migration=True)
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "legacy", "hunter3")
    assert store.get_user("legacy")["hashed_password"] == hashed  # type: ignore[index]


def test_bcrypt_without_migration_is_outdated(store: MemoryAdapter, clock: Clock) -> None:
    _bcrypt_user(store, b"hunter2", "$2a$")
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    with pytest.raises(LuciaError, match="AUTH_OUTDATED_PASSWORD"):
        auth.authenticate_user("username", "legacy", "hunter2")


@pytest.mark.parametrize("prefix", [pytest.param("$2b$", id="2b"), pytest.param("$2y$", id="2y")])
def test_any_bcrypt_hash_is_outdated_under_the_default_scrypt(store: MemoryAdapter, clock: Clock, prefix: str) -> None:
    _bcrypt_user(store, b"hunter2", prefix)
    auth = lucia(adapter=store, env="DEV", clock=clock)
    with pytest.raises(LuciaError, match="AUTH_OUTDATED_PASSWORD"):
        auth.authenticate_user("username", "legacy", "hunter2")


BCRYPT_PAIR = (
    lambda password: bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode(),
    lambda password, hashed: bcrypt.checkpw(password.encode(), hashed.encode()),
)


def test_a_custom_bcrypt_pair_verifies_its_own_hashes(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", hash=BCRYPT_PAIR, clock=clock)
    user = auth.create_user("username", "b", password="hunter2")
    assert auth.authenticate_user("username", "b", "hunter2") == user
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "b", "hunter3")


def test_failed_log_ins_check_a_dummy_in_the_custom_pairs_own_format(store: MemoryAdapter, clock: Clock) -> None:
    checked: list[str] = []

    def validate(password: str, hashed: str) -> bool:
        checked.append(hashed)
        return BCRYPT_PAIR[1](password, hashed)  # raises on a hash not in bcrypt format

    auth = lucia(adapter=store, env="DEV", hash=(BCRYPT_PAIR[0], validate), clock=clock)
    auth.create_user("username", "nopass")
    for identifier, code in (("ghost", "AUTH_INVALID_PROVIDER_ID"), ("nopass", "AUTH_INVALID_PASSWORD")):
        with pytest.raises(LuciaError, match=code):
            auth.authenticate_user("username", identifier, "hunter2")
    assert len(checked) == 2 and all(hashed.startswith("$2b$") for hashed in checked)


def test_bcrypt_checks_the_bytes_bcrypt_hashed(store: MemoryAdapter, clock: Clock) -> None:
    # bcrypt(js) hashed the raw UTF-8, with no NFKC step: "ﬁ" must not become "fi".
    _bcrypt_user(store, "ﬁle".encode())
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, bcrypt_migration=True)
    assert auth.authenticate_user("username", "legacy", "ﬁle") == {"user_id": "legacy"}


def test_corrupt_bcrypt_hash_is_a_wrong_password(store: MemoryAdapter, clock: Clock) -> None:
    store.set_user("legacy", {"provider_id": "username:legacy", "hashed_password": "$2b$xx$not-a-salt"})
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, bcrypt_migration=True)
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "legacy", "hunter2")


def test_bcrypt_long_password_uses_its_first_72_bytes(store: MemoryAdapter, clock: Clock) -> None:
    # bcrypt only ever saw 72 bytes; the bcrypt package now refuses longer input.
    password = "p" * 100
    _bcrypt_user(store, password.encode()[:72])
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock, bcrypt_migration=True)
    assert auth.authenticate_user("username", "legacy", password) == {"user_id": "legacy"}
    assert store.get_user("legacy")["hashed_password"] == "plain:" + password  # type: ignore[index]


# --- cookies and requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({"env": "DEV"}, ["auth_session={sid}; Path=/; Expires={exp}; HttpOnly; SameSite=Lax"],
                     id="dev"),
        pytest.param({"env": "PROD"},
                     ["auth_session={sid}; Path=/; Expires={exp}; HttpOnly; Secure; SameSite=Lax"], id="prod"),
        pytest.param({"env": "DEV", "session_cookie": [{"same_site": "strict", "path": "/app",
                                                         "domain": "example.com"}, {}]},
                     ["auth_session={sid}; Domain=example.com; Path=/app; Expires={exp}; HttpOnly; SameSite=Strict",
                      "auth_session={sid}; Expires={exp}; HttpOnly"], id="two-cookies"),
    ],
)
def test_create_session_cookies(store: MemoryAdapter, clock: Clock, options: dict[str, Any],
                                expected: list[str]) -> None:
    auth = lucia(adapter=store, hash=CHEAP, clock=clock, **options)
    session = auth.create_session(auth.create_user("username", "alice")["user_id"])
    live = [c.serialize() for c in auth.create_session_cookies(session)]
    gone = [c.serialize() for c in auth.create_session_cookies(None)]
    assert live == [e.format(sid=session.session_id, exp="Wed, 29 Nov 2023 22:13:20 GMT") for e in expected]
    assert gone == [e.format(sid="", exp="Thu, 01 Jan 1970 00:00:00 GMT") for e in expected]


def _environ(method: str, origin: str | None = None, cookie: str | None = "auth_session=" + "s" * 40) -> dict[str, str]:
    environ = {"REQUEST_METHOD": method, "wsgi.url_scheme": "http", "HTTP_HOST": "example.com"}
    if origin is not None:
        environ["HTTP_ORIGIN"] = origin
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    return environ


@pytest.mark.parametrize(
    ("environ", "csrf", "expected"),
    [
        pytest.param(_environ("GET"), True, "s" * 40, id="get"),
        pytest.param(_environ("GET", cookie=None), True, "", id="no-cookie"),
        pytest.param(_environ("GET", cookie="other=1"), True, "", id="other-cookie"),
        pytest.param(_environ("POST", "http://example.com"), True, "s" * 40, id="same-origin-post"),
        pytest.param(_environ("POST", "http://evil.test"), True, None, id="cross-origin-post"),
        pytest.param(_environ("POST"), True, None, id="post-without-origin"),
        pytest.param(_environ("POST", "http://evil.test"), False, "s" * 40, id="csrf-off"),
    ],
)
def test_validate_request_headers(store: MemoryAdapter, environ: dict[str, str], csrf: bool,
                                  expected: str | None) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, csrf_protection=csrf)
    if expected is None:
        with pytest.raises(LuciaError, match="AUTH_INVALID_REQUEST"):
            auth.validate_request_headers(environ)
    else:
        assert auth.validate_request_headers(environ) == expected


def test_trusted_origin_passes_validate_request_headers(store: MemoryAdapter) -> None:
    auth = lucia(adapter=store, env="PROD", hash=CHEAP, trusted_origins=["https://app.example.org"])
    assert auth.validate_request_headers(_environ("POST", "https://app.example.org")) == "s" * 40


def test_logging_out_a_just_renewed_session_ends_its_successor(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    user_id = auth.create_user("username", "tabs")["user_id"]
    old = auth.create_session(user_id)
    other_device = auth.create_session(user_id)
    clock.now = T0 + ACTIVE + 1
    renewed = auth.validate_session(old.session_id)
    assert renewed.is_fresh
    clock.now += 1_000  # a log-out sent with the old cookie, before the new one was used
    auth.invalidate_session(old.session_id)
    for gone in (old, renewed):
        with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
            auth.get_session(gone.session_id)
    assert auth.get_session(other_device.session_id).user_id == user_id


def test_logging_out_an_ordinary_session_leaves_the_users_others(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    user_id = auth.create_user("username", "two")["user_id"]
    first, second = auth.create_session(user_id), auth.create_session(user_id)
    auth.invalidate_session(first.session_id)
    assert [row.id for row in store.get_sessions_by_user_id(user_id)] == [second.session_id]


def test_session_repr_keeps_the_id_out_of_logs(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    session = auth.create_session(auth.create_user("username", "r")["user_id"])
    cookies = auth.create_session_cookies(session)
    assert session.session_id not in repr(session)
    assert session.session_id not in repr(cookies)
    with pytest.raises(TypeError):
        cookies[0].attributes["path"] = "/elsewhere"  # type: ignore[index]


def test_logging_out_a_session_renewed_just_before_its_idle_end_ends_the_successor(
    store: MemoryAdapter, clock: Clock
) -> None:
    auth = lucia(adapter=store, env="DEV", hash=CHEAP, clock=clock)
    old = auth.create_session(auth.create_user("username", "late")["user_id"])
    clock.now = T0 + ACTIVE + IDLE - 1_000  # one second of idle period left
    renewed = auth.validate_session(old.session_id)
    assert renewed.is_fresh
    auth.invalidate_session(old.session_id)
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.get_session(renewed.session_id)


def test_a_failed_logout_of_a_renewed_session_deletes_nothing(store: MemoryAdapter, clock: Clock) -> None:
    from lucia_wsgi.testing import FaultyAdapter, InjectedFault

    faulty = FaultyAdapter(store, fail_on={"get_sessions_by_user_id": 2})  # 1: the renewal's sweep, 2: the logout's
    auth = lucia(adapter=faulty, env="DEV", hash=CHEAP, clock=clock, auto_database_cleanup=True)
    old = auth.create_session(auth.create_user("username", "f")["user_id"])
    faulty.reset()
    clock.now = T0 + ACTIVE + 1
    renewed = auth.validate_session(old.session_id)
    with pytest.raises(InjectedFault):
        auth.invalidate_session(old.session_id)
    assert auth.get_session(old.session_id).session_id == old.session_id
    assert auth.get_session(renewed.session_id).session_id == renewed.session_id
