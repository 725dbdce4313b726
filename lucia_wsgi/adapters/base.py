"""The adapter protocol: what a store must offer ``Auth`` (Lucia's adapter API).

User rows are plain dicts with the columns ``id``, ``provider_id``,
``hashed_password`` and any attribute columns. Session rows are
:class:`~lucia_wsgi.session.SessionRow` tuples with millisecond expiries.

Errors adapters raise as :class:`~lucia_wsgi.LuciaError`:
``AUTH_DUPLICATE_PROVIDER_ID`` (set/update a user onto a taken provider id),
``AUTH_INVALID_USER_ID`` (update an unknown user, or a session for one),
``AUTH_DUPLICATE_SESSION_ID`` (set a session id that exists). Anything else a
store raises (connection lost, disk full) propagates unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ..passwords import generate_random_string
from ..session import SessionRow

__all__ = [
    "UserRow",
    "UserAdapter",
    "SessionAdapter",
    "Adapter",
    "JointAdapter",
    "AtomicRenewal",
    "new_user_id",
    "check_user_values",
    "check_column_type",
    "missing_driver",
    "RESERVED_USER_COLUMNS",
]

UserRow = dict[str, Any]
#: Columns every user table has; the rest are attributes.
RESERVED_USER_COLUMNS = ("id", "provider_id", "hashed_password")


class UserAdapter(Protocol):
    def get_user(self, user_id: str) -> UserRow | None: ...

    def get_user_by_provider_id(self, provider_id: str) -> UserRow | None: ...

    def set_user(self, user_id: str | None, values: Mapping[str, Any]) -> UserRow:
        """Insert a user; ``values`` holds provider_id, hashed_password and attributes.

        With ``user_id=None`` the adapter picks the id. Returns the stored row.
        """

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> UserRow:
        """Change some columns of a user and return the whole new row."""

    def delete_user(self, user_id: str) -> None: ...


class SessionAdapter(Protocol):
    def get_session(self, session_id: str) -> SessionRow | None: ...

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]: ...

    def set_session(self, row: SessionRow) -> None: ...

    def delete_session(self, *session_ids: str) -> None: ...

    def delete_sessions_by_user_id(self, user_id: str) -> None: ...


class Adapter(UserAdapter, SessionAdapter, Protocol):
    """A store holding both users and sessions."""


@runtime_checkable
class JointAdapter(Protocol):
    """Optional: the session and its user in one round trip."""

    def get_session_and_user_by_session_id(self, session_id: str) -> tuple[SessionRow, UserRow] | None: ...


@runtime_checkable
class AtomicRenewal(Protocol):
    """Optional (every bundled session store has it): renewal as one compare-and-set.

    If the stored row ``expected.id`` still has ``expected``'s expiries, store
    ``shortened`` in its place and insert ``new``, atomically, and return True.
    Otherwise change nothing and return False (another request renewed it, or
    it was deleted).
    """

    def replace_session(self, expected: SessionRow, new: SessionRow, shortened: SessionRow) -> bool: ...


def new_user_id() -> str:
    """A user id for adapters asked to choose one (15 lowercase alphanumerics, as Lucia)."""
    return generate_random_string(15, "abcdefghijklmnopqrstuvwxyz0123456789")


def check_user_values(values: Mapping[str, Any], columns: frozenset[str] | None = None) -> None:
    """Reject column names that are not strings, are ``id``, or are not in ``columns``."""
    for name in values:
        if not isinstance(name, str) or name == "id":
            raise ValueError(f"cannot set user column {name!r}")
        if columns is not None and name not in columns:
            raise ValueError(f"user table has no column {name!r}")


# A type name (letters, digits, underscores, spaces: "TEXT", "DOUBLE PRECISION",
# "INTEGER NOT NULL DEFAULT 0"), then at most one "(n)" or "(n, m)". No comma,
# quote, semicolon or expression can get through, so the text can go into DDL.
_COLUMN_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(?:\( *[0-9]+ *(?:, *[0-9]+ *)?\))?")


def check_column_type(kind: str) -> str:
    """Return ``kind`` if it is a plain SQL column type, else raise ``ValueError``."""
    if not isinstance(kind, str) or not _COLUMN_TYPE.fullmatch(kind):
        raise ValueError(f"invalid column type {kind!r}")
    return kind


def missing_driver(error: ModuleNotFoundError, adapter: str, extra: str, drivers: tuple[str, ...]) -> ImportError:
    """The error to raise when an optional adapter's driver is not installed.

    A missing ``drivers`` package gets a hint naming the extra to install; any
    other missing module is returned unchanged.
    """
    if (error.name or "").partition(".")[0] not in drivers:
        return error
    return ModuleNotFoundError(f"{adapter} needs the {error.name!r} package: pip install 'lucia_wsgi[{extra}]'",
                               name=error.name)
