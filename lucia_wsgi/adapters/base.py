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

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..passwords import generate_random_string
from ..session import SessionRow

__all__ = [
    "UserRow",
    "UserAdapter",
    "SessionAdapter",
    "Adapter",
    "JointAdapter",
    "RenewingSessionAdapter",
    "AccountAdapter",
    "CodeRow",
    "TokenRow",
    "new_user_id",
    "check_user_values",
    "check_column_type",
    "missing_driver",
    "RESERVED_USER_COLUMNS",
    "SESSION_COLUMNS",
    "then_async",
    "then_sync",
]

#: A user row as adapters return it: ``id``, ``provider_id``, ``hashed_password`` and the attribute columns.
UserRow = dict[str, Any]
#: The session table's columns, in :class:`~lucia_wsgi.session.SessionRow` order.
SESSION_COLUMNS: tuple[str, ...] = SessionRow._fields
#: Columns every user table has; the rest are attributes.
RESERVED_USER_COLUMNS = ("id", "provider_id", "hashed_password")


class UserAdapter(Protocol):
    """The user half of an adapter (Lucia's user adapter methods).

    Rows are :data:`~lucia_wsgi.adapters.base.UserRow` dicts. Every write is committed before the method
    returns; expected failures raise :exc:`~lucia_wsgi.LuciaError` with Lucia's
    codes (a taken provider id ``AUTH_DUPLICATE_PROVIDER_ID``, an unknown user
    on update ``AUTH_INVALID_USER_ID``), anything else the driver's own error.
    """

    def get_user(self, user_id: str) -> UserRow | None:
        """The user row ``user_id``, or ``None``."""

    def get_user_by_provider_id(self, provider_id: str) -> UserRow | None:
        """The user row whose ``provider_id`` is ``provider_id`` (``"provider:identifier"``), or ``None``."""

    def set_user(self, user_id: str | None, values: Mapping[str, Any]) -> UserRow:
        """Insert a user; ``values`` holds provider_id, hashed_password and attributes.

        With ``user_id=None`` the adapter picks the id. Returns the stored row.
        """

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> UserRow:
        """Change some columns of a user and return the whole new row."""

    def delete_user(self, user_id: str) -> None:
        """Delete the user row (an unknown id is no error)."""


class SessionAdapter(Protocol):
    """The session half of an adapter (Lucia's session adapter methods), on :class:`~lucia_wsgi.session.SessionRow`.

    A taken session id raises ``AUTH_DUPLICATE_SESSION_ID``, a session for an
    unknown user ``AUTH_INVALID_USER_ID`` (where the store can tell).
    """

    def get_session(self, session_id: str) -> SessionRow | None:
        """The row stored under ``session_id`` (live or not), or ``None``."""

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        """Every row of the user, live or not."""

    def set_session(self, row: SessionRow) -> None:
        """Insert a new row."""

    def delete_session(self, *session_ids: str) -> None:
        """Delete these rows, in one write (missing ids are fine)."""

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        """Delete every row of the user."""


class Adapter(UserAdapter, SessionAdapter, Protocol):
    """A store holding both users and sessions."""


@runtime_checkable
class JointAdapter(Protocol):
    """Optional: the session and its user in one round trip."""

    def get_session_and_user_by_session_id(self, session_id: str) -> tuple[SessionRow, UserRow] | None:
        """The row stored under ``session_id`` and its user's row, or ``None`` when there is no such session."""


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


class TokenRow(NamedTuple):
    """A stored one-time token: the digest (its id), kind, user, expiry (Unix ms), bound value's digest."""

    id: str
    kind: str
    user_id: str
    expires: int
    bound: str | None = None


class CodeRow(NamedTuple):
    """A stored one-time code: one per kind and user, with its digest and the guesses so far."""

    kind: str
    user_id: str
    digest: str
    expires: int
    attempts: int = 0


@runtime_checkable
class AccountAdapter(Protocol):
    """Optional (every bundled store has it): throttles, one-time tokens and codes (SPEC §13, §14).

    Rows are :class:`TokenRow` and :class:`CodeRow`; the rules live in
    :mod:`lucia_wsgi.onetime`, the store only keeps rows and offers
    compare-and-set writes, so every process shares them.
    """

    def get_throttle(self, key: str) -> int | None:
        """The stored bucket (its theoretical arrival time, Unix ms) of ``key``, or None."""

    def set_throttle(self, key: str, expected: int | None, tat: int) -> bool:
        """Store ``tat`` for ``key`` if it still holds ``expected`` (None: no row); True if stored."""

    def set_token(self, row: TokenRow) -> None:
        """Insert a token row."""

    def pop_token(self, token_id: str) -> TokenRow | None:
        """Delete the token row ``token_id`` and return it (None if there is none), atomically."""

    def delete_tokens(self, user_id: str, kind: str | None = None) -> None:
        """Delete the user's tokens (of ``kind``, or all)."""

    def set_code(self, row: CodeRow) -> None:
        """Store a code row, replacing the user's previous one of that kind."""

    def get_code(self, kind: str, user_id: str) -> CodeRow | None:
        """The user's code row of ``kind``, or None."""

    def count_code_attempt(self, row: CodeRow) -> bool:
        """Add one to the attempts of ``row`` if it is still stored as it is; True if counted."""

    def delete_code(self, row: CodeRow) -> bool:
        """Delete ``row`` (matched by kind, user and digest); True if it was there."""

    def delete_codes(self, user_id: str, kind: str | None = None) -> None:
        """Delete the user's codes (of ``kind``, or all)."""

    def delete_expired(self, now: int) -> int:
        """Delete full throttle buckets and tokens and codes expired at ``now``; returns how many."""


def then_sync(value: Any, function: Callable[[Any], Any]) -> Any:
    """``function(value)``: how a synchronous store goes on from a result."""
    return function(value)


async def then_async(value: Any, function: Callable[[Any], Any]) -> Any:
    """The same for an asyncio store: await ``value`` (and what ``function`` returns) as needed."""
    if inspect.isawaitable(value):
        value = await value
    result = function(value)
    if inspect.isawaitable(result):
        result = await result
    return result


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
