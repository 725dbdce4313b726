"""A thread-safe in-memory store, for tests and throwaway apps."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import LuciaError
from ..session import SessionRow, is_removable
from .base import UserRow, check_user_values, new_user_id

__all__ = ["MemoryAdapter"]


class MemoryAdapter:
    """Users and sessions in dicts behind one lock; rows are copied in and out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, UserRow] = {}
        self._provider_ids: dict[str, str] = {}
        self._sessions: dict[str, SessionRow] = {}

    # users

    def get_user(self, user_id: str) -> UserRow | None:
        with self._lock:
            row = self._users.get(user_id)
            return None if row is None else dict(row)

    def get_user_by_provider_id(self, provider_id: str) -> UserRow | None:
        with self._lock:
            user_id = self._provider_ids.get(provider_id)
            return None if user_id is None else dict(self._users[user_id])

    def set_user(self, user_id: str | None, values: Mapping[str, Any]) -> UserRow:
        check_user_values(values)
        row = {"id": user_id or new_user_id(), "hashed_password": None, **values}
        with self._lock:
            if row["provider_id"] in self._provider_ids:
                raise LuciaError("AUTH_DUPLICATE_PROVIDER_ID")
            if row["id"] in self._users:
                raise LuciaError("AUTH_DUPLICATE_USER_DATA")
            self._users[row["id"]] = row
            self._provider_ids[row["provider_id"]] = row["id"]
            return dict(row)

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> UserRow:
        check_user_values(values)
        with self._lock:
            row = self._users.get(user_id)
            if row is None:
                raise LuciaError("AUTH_INVALID_USER_ID")
            new_provider_id = values.get("provider_id", row["provider_id"])
            if new_provider_id != row["provider_id"]:
                if new_provider_id in self._provider_ids:
                    raise LuciaError("AUTH_DUPLICATE_PROVIDER_ID")
                del self._provider_ids[row["provider_id"]]
                self._provider_ids[new_provider_id] = user_id
            row.update(values)
            return dict(row)

    def delete_user(self, user_id: str) -> None:
        with self._lock:
            row = self._users.pop(user_id, None)
            if row is not None:
                del self._provider_ids[row["provider_id"]]
                for session_id in [s.id for s in self._sessions.values() if s.user_id == user_id]:
                    del self._sessions[session_id]

    # sessions

    def get_session(self, session_id: str) -> SessionRow | None:
        return self._sessions.get(session_id)  # rows are immutable tuples: no copy needed

    def get_session_and_user_by_session_id(self, session_id: str) -> tuple[SessionRow, UserRow] | None:
        with self._lock:
            row = self._sessions.get(session_id)
            if row is None:
                return None
            return row, dict(self._users[row.user_id])

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        with self._lock:
            return [row for row in self._sessions.values() if row.user_id == user_id]

    def set_session(self, row: SessionRow) -> None:
        with self._lock:
            self._insert_session(row)

    def _insert_session(self, row: SessionRow) -> None:
        if row.user_id not in self._users:
            raise LuciaError("AUTH_INVALID_USER_ID")
        if row.id in self._sessions:
            raise LuciaError("AUTH_DUPLICATE_SESSION_ID")
        self._sessions[row.id] = SessionRow(*row)

    def delete_session(self, *session_ids: str) -> None:
        with self._lock:
            for session_id in session_ids:
                self._sessions.pop(session_id, None)

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        with self._lock:
            for session_id in [s.id for s in self._sessions.values() if s.user_id == user_id]:
                del self._sessions[session_id]

    def renew_session(self, expected: SessionRow, successor: str, new: SessionRow, replaced: str | None) -> bool:
        with self._lock:
            stored = self._sessions.get(expected.id)
            if stored is None or stored[2:5] != expected[2:5]:  # expires, idle_expires, successor
                return False
            self._insert_session(new)
            self._sessions[expected.id] = stored._replace(successor=successor)
            if replaced is not None:
                self._sessions.pop(replaced, None)
            return True

    def confirm_session(self, session_id: str, predecessor_id: str, until: int) -> None:
        with self._lock:
            stored = self._sessions.get(session_id)
            if stored is not None:
                self._sessions[session_id] = stored._replace(predecessor=None)
            self._cut(predecessor_id, until)

    def cut_sessions(self, session_ids: Sequence[str], until: int) -> None:
        with self._lock:
            for session_id in session_ids:
                self._cut(session_id, until)

    def _cut(self, session_id: str, until: int) -> None:
        stored = self._sessions.get(session_id)
        if stored is not None:
            self._sessions[session_id] = stored._replace(expires=min(stored.expires, until),
                                                         idle_expires=min(stored.idle_expires, until))

    def extend_session(self, expected: SessionRow, extended: SessionRow) -> bool:
        with self._lock:
            stored = self._sessions.get(expected.id)
            if stored is None or stored[2:4] != expected[2:4]:
                return False
            self._sessions[expected.id] = stored._replace(expires=extended.expires,
                                                          idle_expires=extended.idle_expires,
                                                          last_seen=extended.last_seen)
            return True

    def rekey_session(self, old_id: str, new_id: str) -> bool:
        with self._lock:
            stored = self._sessions.get(old_id)
            if stored is None or new_id in self._sessions:
                return False
            del self._sessions[old_id]
            self._sessions[new_id] = stored._replace(id=new_id)
            return True

    # maintenance

    def count_dead_sessions(self, now: int) -> int:
        """How many sessions are dead at ``now`` (ms)."""
        with self._lock:
            return sum(1 for s in self._sessions.values() if is_removable(s, now))

    def delete_dead_sessions(self, now: int, limit: int | None = None) -> int:
        """Delete sessions dead at ``now`` (ms), at most ``limit``; returns how many went."""
        with self._lock:
            dead = [s.id for s in self._sessions.values() if is_removable(s, now)]
            for session_id in dead[:limit]:
                del self._sessions[session_id]
            return len(dead[:limit])
