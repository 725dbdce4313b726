"""Pure session logic: stored rows, their state at a moment, what validation does.

Theory of operation
-------------------
A stored session row holds two instants in Unix milliseconds: ``expires``
ends the *active* period and ``idle_expires`` ends the *idle* period. At a
moment ``now``::

    now <= expires                  active  (use it as it is)
    expires < now <= idle_expires   idle    (still valid; renew it)
    idle_expires < now              dead    (never returned; delete it)

Renewal replaces an idle session with a fresh one for the same user. Several
requests carrying the same idle id can arrive together (browser tabs), so the
old row is not deleted outright: it is shortened to a short *grace* window,
during which it counts as active and answers those requests, after which it
is dead like any other. The store performs that swap as one compare-and-set,
so exactly one request creates the new session and the others see the
shortened row.

Nothing here reads a clock or draws random numbers: ``now`` and new ids are
parameters, which is what lets tests walk through every boundary.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal, NamedTuple

__all__ = [
    "SESSION_ID_LENGTH",
    "Session",
    "SessionRow",
    "SessionState",
    "Validation",
    "classify",
    "decide_validation",
    "is_well_formed_session_id",
    "new_session_row",
    "grace_row",
    "successor_expires",
    "to_session",
]

SESSION_ID_LENGTH = 40
_SESSION_ID = re.compile(r"[a-zA-Z0-9]{40}\Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

SessionState = Literal["active", "idle", "dead"]


class SessionRow(NamedTuple):
    """A session as stored: ``expires`` and ``idle_expires`` in Unix ms."""

    id: str
    user_id: str
    expires: int
    idle_expires: int


_MIN_MS = (datetime.min.replace(tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)
_MAX_MS = (datetime.max.replace(tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)


def _datetime(ms: int) -> datetime:
    """Unix ms as an aware UTC datetime, saturating outside years 1-9999.

    A stored expiry may come from another application (or a huge configured
    period); it must never make a lookup fail.
    """
    return _EPOCH + timedelta(milliseconds=min(max(ms, _MIN_MS), _MAX_MS))


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A live session as the application sees it.

    The id is a bearer credential, so it stays out of ``repr()`` (and logs).
    """

    session_id: str = field(repr=False)
    user_id: str
    active_period_expires: datetime
    idle_period_expires: datetime
    state: Literal["active", "idle"]
    is_fresh: bool


def is_well_formed_session_id(session_id: object) -> bool:
    """True for 40 characters of ``[a-zA-Z0-9]``: only such ids reach a store."""
    return isinstance(session_id, str) and _SESSION_ID.match(session_id) is not None


def classify(expires: int, idle_expires: int, now: int) -> SessionState:
    """The state of a session at ``now`` (all in Unix ms); boundaries inclusive."""
    if now <= expires:
        return "active"
    if now <= idle_expires:
        return "idle"
    return "dead"


def to_session(row: SessionRow, now: int, *, session_id: str | None = None, is_fresh: bool = False) -> Session | None:
    """The :class:`Session` for ``row`` at ``now``, or ``None`` when it is dead.

    ``session_id`` overrides the stored id (stores may keep a digest of it).
    """
    state = classify(row.expires, row.idle_expires, now)
    if state == "dead":
        return None
    return Session(
        session_id=row.id if session_id is None else session_id,
        user_id=row.user_id,
        active_period_expires=_datetime(row.expires),
        idle_period_expires=_datetime(row.idle_expires),
        state=state,
        is_fresh=is_fresh,
    )


def new_session_row(session_id: str, user_id: str, now: int, active_period: int, idle_period: int) -> SessionRow:
    """A session created at ``now``: active for ``active_period``, then idle for ``idle_period``."""
    expires = now + active_period
    return SessionRow(session_id, user_id, expires, expires + idle_period)


def grace_row(old: SessionRow, now: int, grace: int) -> SessionRow:
    """What a renewed session's old row becomes: active until ``now + grace``, then dead.

    Always exactly ``now + grace`` (even when that passes the old idle expiry
    by a few seconds), so the renewal moment can be read back from it: see
    :func:`successor_expires`.
    """
    until = now + grace
    return SessionRow(old.id, old.user_id, until, until)


def successor_expires(row: SessionRow, grace: int, active_period: int) -> int | None:
    """For the grace row of a renewal, the ``expires`` of the session it was renewed into.

    A grace row is the only kind with ``expires == idle_expires`` (a created
    session has a positive idle period); it was cut at ``renewal + grace``, and
    the successor was created at ``renewal``. ``None`` for any other row.
    """
    if row.expires != row.idle_expires:
        return None
    return row.expires - grace + active_period


class Validation(enum.Enum):
    """What validating a stored session at a moment means."""

    USE = "use"  # active: answer with it
    RENEW = "renew"  # idle: replace it with a fresh session
    REJECT = "reject"  # unknown: AUTH_INVALID_SESSION_ID
    DELETE = "delete"  # dead: delete it (when cleanup is on), then reject


def decide_validation(row: SessionRow | None, now: int) -> Validation:
    """Decide what :meth:`Auth.validate_session` does with the row it found."""
    if row is None:
        return Validation.REJECT
    state = classify(row.expires, row.idle_expires, now)
    if state == "active":
        return Validation.USE
    if state == "idle":
        return Validation.RENEW
    return Validation.DELETE


def dead_session_ids(rows: list[SessionRow], now: int) -> list[str]:
    """The ids among ``rows`` that are dead at ``now``."""
    return [row.id for row in rows if now > row.idle_expires]
