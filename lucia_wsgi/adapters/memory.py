"""A thread-safe in-memory store, for tests and throwaway apps."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import LuciaError
from ..session import SessionRow, is_removable
from .base import CodeRow, TokenRow, UserRow, check_user_values, new_user_id

__all__ = ["MemoryAdapter"]


class MemoryAdapter:
    """Users and sessions in dicts behind one lock; rows are copied in and out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, UserRow] = {}
        self._provider_ids: dict[str, str] = {}
        self._sessions: dict[str, SessionRow] = {}
        self._throttles: dict[str, int] = {}
        self._tokens: dict[str, TokenRow] = {}
        self._codes: dict[tuple[str, str], CodeRow] = {}

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
                self._drop_tokens(user_id, None)
                self._drop_codes(user_id, None)

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

    # throttles, tokens, codes

    def get_throttle(self, key: str) -> int | None:
        return self._throttles.get(key)

    def set_throttle(self, key: str, expected: int | None, tat: int) -> bool:
        with self._lock:
            if self._throttles.get(key) != expected:
                return False
            self._throttles[key] = tat
            return True

    def set_token(self, row: TokenRow) -> None:
        with self._lock:
            if row.user_id not in self._users:
                raise LuciaError("AUTH_INVALID_USER_ID")
            self._tokens[row.id] = row

    def pop_token(self, token_id: str) -> TokenRow | None:
        with self._lock:
            return self._tokens.pop(token_id, None)

    def delete_tokens(self, user_id: str, kind: str | None = None) -> None:
        with self._lock:
            self._drop_tokens(user_id, kind)

    def _drop_tokens(self, user_id: str, kind: str | None) -> None:
        for token_id in [t.id for t in self._tokens.values() if t.user_id == user_id and kind in (None, t.kind)]:
            del self._tokens[token_id]

    def set_code(self, row: CodeRow) -> None:
        with self._lock:
            if row.user_id not in self._users:
                raise LuciaError("AUTH_INVALID_USER_ID")
            self._codes[row.kind, row.user_id] = row

    def get_code(self, kind: str, user_id: str) -> CodeRow | None:
        return self._codes.get((kind, user_id))

    def count_code_attempt(self, row: CodeRow) -> bool:
        with self._lock:
            if self._codes.get((row.kind, row.user_id)) != row:
                return False
            self._codes[row.kind, row.user_id] = row._replace(attempts=row.attempts + 1)
            return True

    def delete_code(self, row: CodeRow) -> bool:
        with self._lock:
            stored = self._codes.get((row.kind, row.user_id))
            if stored is None or stored.digest != row.digest:
                return False
            del self._codes[row.kind, row.user_id]
            return True

    def delete_codes(self, user_id: str, kind: str | None = None) -> None:
        with self._lock:
            self._drop_codes(user_id, kind)

    def _drop_codes(self, user_id: str, kind: str | None) -> None:
        for key in [key for key in self._codes if key[1] == user_id and kind in (None, key[0])]:
            del self._codes[key]

    def delete_expired(self, now: int) -> int:
        """Delete full throttle buckets and expired tokens and codes; returns how many went."""
        with self._lock:
            doomed = [key for key, tat in self._throttles.items() if tat < now]
            for key in doomed:
                del self._throttles[key]
            tokens = [t.id for t in self._tokens.values() if t.expires < now]
            for token_id in tokens:
                del self._tokens[token_id]
            codes = [code for code, row in self._codes.items() if row.expires < now]
            for code in codes:
                del self._codes[code]
            return len(doomed) + len(tokens) + len(codes)

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
