"""The adapter protocol: what a store must offer ``Auth`` (Lucia's adapter API).

User rows are plain dicts with the columns ``id``, ``provider_id``,
``hashed_password`` and any attribute columns. Session rows are
:class:`~lucia_wsgi.session.SessionRow` tuples with millisecond expiries; a
store keeps every field of the tuple it is given (Lucia's four columns and
the nullable ones beside them), and one that keeps only the first four still
works, renewing as Lucia 0.3 did.

Errors adapters raise as :class:`~lucia_wsgi.LuciaError`:
``AUTH_DUPLICATE_PROVIDER_ID`` (set/update a user onto a taken provider id),
``AUTH_INVALID_USER_ID`` (update an unknown user, or a session for one),
``AUTH_DUPLICATE_SESSION_ID`` (set a session id that exists). Anything else a
store raises (connection lost, disk full) propagates unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..passwords import generate_random_string
from ..session import SessionRow

__all__ = [
    "UserRow",
    "UserAdapter",
    "SessionAdapter",
    "Adapter",
    "JointAdapter",
    "RenewingSessionAdapter",
    "new_user_id",
    "check_user_values",
    "check_column_type",
    "missing_driver",
    "RESERVED_USER_COLUMNS",
    "SESSION_COLUMNS",
]

UserRow = dict[str, Any]
#: The session table's columns, in :class:`~lucia_wsgi.session.SessionRow` order.
SESSION_COLUMNS: tuple[str, ...] = SessionRow._fields
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
class RenewingSessionAdapter(Protocol):
    """Optional (every bundled session store has it): the writes of renewal, each atomic.

    See :mod:`lucia_wsgi.session` for what the links mean. A store without
    these renews as Lucia 0.3 did: a new session each time, the old one left
    to its own expiry.
    """

    def renew_session(self, expected: SessionRow, successor: str, new: SessionRow, replaced: str | None) -> bool:
        """If row ``expected.id`` still has ``expected``'s expiries and successor: set its
        successor to ``successor``, insert ``new`` and delete row ``replaced`` (the successor
        being replaced, if any), atomically, and return True. Otherwise change nothing and
        return False."""

    def confirm_session(self, session_id: str, predecessor_id: str, until: int) -> None:
        """Clear ``session_id``'s predecessor and cut row ``predecessor_id`` to ``until``, atomically."""

    def cut_sessions(self, session_ids: Sequence[str], until: int) -> None:
        """Make the rows' ``expires`` and ``idle_expires`` at most ``until`` (missing rows are fine)."""

    def extend_session(self, expected: SessionRow, extended: SessionRow) -> bool:
        """If row ``expected.id`` still has ``expected``'s expiries, store ``extended``'s
        expiries and ``last_seen`` and return True; otherwise change nothing, return False."""

    def rekey_session(self, old_id: str, new_id: str) -> bool:
        """Move row ``old_id`` to id ``new_id``, all else unchanged; False if it is gone."""


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
