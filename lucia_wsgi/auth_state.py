"""What every part of :class:`~lucia_wsgi.Auth` shares: its configuration, stores, clock and ids."""

from __future__ import annotations

import secrets
from typing import Any, NamedTuple

from .adapters.base import AccountAdapter, JointAdapter, RenewingSessionAdapter, UserRow
from .config import Config, default_transform_user_data
from .errors import LuciaError
from .flow import FlowOwner
from .passwords import generate_random_string
from .session import Session, SessionRow, seal_successor, storage_digest

__all__ = ["AuthState", "SessionUser", "check_identifier", "storable"]


def storable(text: object) -> bool:
    """Whether ``text`` is a string every store can keep: no NUL, no lone surrogate.

    Anything else (``None``, a number) names no user, session or token.
    """
    if not isinstance(text, str):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def check_identifier(value: object, code: str = "AUTH_INVALID_PROVIDER_ID") -> str:
    """``value`` if a store can hold it as text, else ``LuciaError(code)``.

    NUL (PostgreSQL text cannot hold it) and lone surrogates (no store can
    encode them; ``json.loads('"\\udcff"')`` makes one) are refused the same
    way on every store: such a value names no user.
    """
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {type(value).__name__}")
    if not storable(value):
        raise LuciaError(code)
    return value


def _local_throttles() -> Any:
    from .adapters.memory import MemoryAdapter

    return MemoryAdapter()


class SessionUser(NamedTuple):
    """A session and its user; both ``None`` when unauthenticated."""

    session: Session | None
    user: Any


class AuthState(FlowOwner):
    """The stores, the clock and the id source: the only I/O of ``Auth`` (see :mod:`lucia_wsgi.flow`)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._users: Any = config.user_adapter
        self._sessions: Any = config.session_adapter
        self._clock = config.clock
        self._hashed_ids = config.hash_session_ids
        self._default_transform = config.transform_user_data is default_transform_user_data
        joint = self._users is self._sessions and isinstance(self._users, JointAdapter)
        self._joint: Any = self._users if joint else None
        #: Stores with atomic renewal writes; without them renewal is Lucia 0.3's.
        self._renewing: Any = self._sessions if isinstance(self._sessions, RenewingSessionAdapter) else None
        #: Where throttles, tokens and codes live: the session store, else the user store.
        self._accounts: Any = next((store for store in (self._sessions, self._users)
                                    if isinstance(store, AccountAdapter)), None)
        #: Throttles without such a store (a third-party adapter) are this process's own.
        self._throttles: Any = self._accounts if self._accounts is not None else _local_throttles()

    def _transform(self, row: UserRow) -> Any:
        if self._default_transform:  # Lucia's default User is just the id: no copy to filter
            return {"user_id": row["id"]}
        data = {k: v for k, v in row.items() if k not in ("hashed_password", "provider_id")}
        return self.config.transform_user_data(data)

    def _storage_id(self, session_id: str) -> str:
        return storage_digest(session_id) if self._hashed_ids else session_id

    def _new_session_id(self) -> tuple[str, str]:
        """A new random session id and the id the store keeps for it."""
        session_id = generate_random_string(40)
        return session_id, self._storage_id(session_id)

    def _successor_link(self, old_session_id: str, successor_id: str) -> str:
        """What an old row stores to name its successor (sealed when ids are hashed)."""
        if not self._hashed_ids:
            return successor_id
        return seal_successor(old_session_id, successor_id, secrets.token_bytes(16))

    @staticmethod
    def _fresh(session_id: str, row: SessionRow) -> Session:
        return Session.from_row(row, "active", session_id=session_id, is_fresh=True)
