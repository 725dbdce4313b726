"""Pure session logic: stored rows, their state at a moment, what validation does.

Theory of operation
-------------------
A stored session row holds two instants in Unix milliseconds: ``expires``
ends the *active* period and ``idle_expires`` ends the *idle* period. At a
moment ``now``::

    now <= expires                  active  (use it as it is)
    expires < now <= idle_expires   idle    (still valid; renew it)
    idle_expires < now              dead    (never returned)

Renewal in the default *rotate* mode gives an idle session one successor: a
new row (new id, fresh periods) whose ``predecessor`` names the old row, while
the old row's ``successor`` names the new one. The old row keeps its expiries,
so the browser that never received the new cookie (a lost reply, a closed
page) stays signed in: every later request with the old id is answered with
that same successor and its cookie (``FOLLOW``). The first request that
presents the successor proves the browser has it (``CONFIRM``): the old row is
cut to ``now + renewal_grace`` (for requests still in flight), after which it
is dead for Lucia apps too, and the successor forgets its predecessor, so the
confirmation is a single write.

A dead row that has a successor is *superseded*: a request with it is
anonymous but gets no ``Set-Cookie`` (a blank cookie could clear the newer
one the browser holds), and the row is kept for :data:`SUPERSEDED_RETENTION`
after its death so that late requests are recognised; only an id the store
never heard of, or one that died on its own, gets the blank cookie.

A live row whose successor is no longer stored lost it to a log-out: it is
treated as superseded. A live row whose successor is idle or dead (it went
unseen for a whole active period) has the successor replaced by a fresh one,
so a device holds at most one old id and one successor, never a chain.

The links live in nullable columns that Lucia apps ignore, and nothing here
depends on the configured periods: processes with different settings (a
rolling deploy) read each other's rows the same way. Clocks enter only in
``now + renewal_grace``: hosts whose clocks differ by less than
``renewal_grace`` agree on every decision.

With ``hash_session_ids`` the store holds digests, so an old row cannot hold
its successor's id in the clear: :func:`seal_successor` encrypts it with a
key derived from the old id itself, which only its holder (and the store's
reader who also holds that id) can undo.

Nothing here reads a clock or draws random numbers: ``now``, ids and nonces
are parameters, which is what lets tests walk through every boundary.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

__all__ = [
    "SESSION_ID_LENGTH",
    "SUPERSEDED_RETENTION",
    "Session",
    "SessionRow",
    "SessionState",
    "Validation",
    "classify",
    "decide_validation",
    "decide_successor",
    "dead_session_ids",
    "device_id",
    "extended_row",
    "is_removable",
    "is_well_formed_session_id",
    "live_device_rows",
    "new_session_row",
    "seal_successor",
    "storage_digest",
    "successor_row",
    "to_session",
    "unseal_successor",
]

#: Session ids are 40 characters of ``[a-zA-Z0-9]``.
SESSION_ID_LENGTH = 40
#: How long a superseded row is kept after its death, so that a late request
#: with it is recognised (no blank cookie). A device renews at most once per
#: active period, so this bounds the rows per device.
SUPERSEDED_RETENTION = 24 * 60 * 60 * 1000
_SESSION_ID = re.compile(r"[a-zA-Z0-9]{40}\Z")
_SEALED = re.compile(r"s1\.([0-9a-f]{32})([0-9a-f]{80})\Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: What :func:`classify` answers.
SessionState = Literal["active", "idle", "dead"]


class SessionRow(NamedTuple):
    """A session as stored: Lucia's four columns, then our nullable ones.

    ``successor``/``predecessor`` link a renewed row and its successor (see
    the module docstring); the rest are facts for a "your devices" page:
    when the device signed in, when the row was last written, and, if the
    application opted in, the user agent and IP address it signed in from.
    """

    id: str
    user_id: str
    expires: int
    idle_expires: int
    successor: str | None = None
    predecessor: str | None = None
    created_at: int | None = None
    last_seen: int | None = None
    user_agent: str | None = None
    ip_address: str | None = None


_MIN_MS = (datetime.min.replace(tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)
_MAX_MS = (datetime.max.replace(tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)


def _datetime(ms: int) -> datetime:
    """Unix ms as an aware UTC datetime, saturating outside years 1-9999.

    A stored expiry may come from another application; it must never make a
    lookup fail.
    """
    return _EPOCH + timedelta(milliseconds=min(max(ms, _MIN_MS), _MAX_MS))


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, kw_only=True)
class Session:
    """A live session as the application sees it.

    The id is a bearer credential, so it stays out of ``repr()`` (and logs).
    Sessions read from the store build their datetimes on first access (most
    requests never read them). ``created_at``, ``last_seen``, ``user_agent``
    and ``ip_address`` are the device facts of
    :meth:`~lucia_wsgi.Auth.get_user_sessions` (``None`` when unknown), and
    ``device_id`` is a short handle for the device that is safe to show.
    """

    session_id: str = field(repr=False)
    user_id: str
    active_period_expires: datetime
    idle_period_expires: datetime
    state: Literal["active", "idle"]
    is_fresh: bool

    @classmethod
    def from_row(cls, row: SessionRow, state: Literal["active", "idle"], *, session_id: str | None = None,
                 is_fresh: bool = False) -> Session:
        """The session for a stored row (``session_id`` overrides a stored digest)."""
        session = object.__new__(cls)
        object.__setattr__(session, "__dict__", {
            "session_id": row.id if session_id is None else session_id, "user_id": row.user_id,
            "state": state, "is_fresh": is_fresh, "_row": row})
        return session

    if not TYPE_CHECKING:  # keeps mypy strict about every other attribute

        def __getattr__(self, name: str) -> Any:
            """Build a lazy attribute once (only called for names not yet set)."""
            build = _LAZY.get(name)
            if build is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            value = self.__dict__[name] = build(self)
            return value

    @property
    def created_at(self) -> datetime | None:
        """When the device signed in (kept across renewals)."""
        return _optional_datetime(self._stored.created_at)

    @property
    def last_seen(self) -> datetime | None:
        """When the session was last written: sign-in or renewal, at most once an active period."""
        return _optional_datetime(self._stored.last_seen)

    @property
    def user_agent(self) -> str | None:
        """The ``User-Agent`` the device signed in with (with ``lucia(device_details=True)``)."""
        return self._stored.user_agent

    @property
    def ip_address(self) -> str | None:
        """The client address the device signed in from (with ``lucia(device_details=True)``)."""
        return self._stored.ip_address

    @property
    def device_id(self) -> str:
        """A handle for this session's device, safe to put in a page (it is not a credential)."""
        return device_id(self._stored.id)

    @property
    def _stored(self) -> SessionRow:
        row: SessionRow | None = self.__dict__.get("_row")
        if row is None:  # built by hand, not read from a store
            row = SessionRow(self.session_id, self.user_id, _ms(self.active_period_expires),
                             _ms(self.idle_period_expires))
        return row


def _optional_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else _datetime(ms)


_LAZY: dict[str, Callable[[Session], Any]] = {
    "active_period_expires": lambda session: _datetime(session._stored.expires),
    "idle_period_expires": lambda session: _datetime(session._stored.idle_expires),
}


# ids ----------------------------------------------------------------------------------


def is_ascii_alnum(text: str) -> bool:
    """True for a non-empty ``[a-zA-Z0-9]*``."""
    # bytes.isalnum is a table look-up per byte; str.isalnum asks the Unicode database.
    return text.isascii() and text.encode("ascii").isalnum()


def is_well_formed_session_id(session_id: object) -> bool:
    """True for 40 characters of ``[a-zA-Z0-9]``: only such ids reach a store."""
    return isinstance(session_id, str) and len(session_id) == SESSION_ID_LENGTH and is_ascii_alnum(session_id)


def storage_digest(session_id: str) -> str:
    """What a store holds instead of ``session_id`` with ``hash_session_ids``: SHA-256, hex."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def device_id(storage_id: str) -> str:
    """A short, non-secret handle for the session stored as ``storage_id``."""
    return hashlib.sha256(b"lucia device:" + storage_id.encode()).hexdigest()[:20]


def _keystream(old_session_id: str, nonce: bytes) -> bytes:
    return hashlib.shake_256(b"lucia successor:" + nonce + old_session_id.encode("ascii")).digest(SESSION_ID_LENGTH)


def seal_successor(old_session_id: str, successor_id: str, nonce: bytes) -> str:
    """``successor_id`` encrypted under a key only ``old_session_id`` gives (``nonce``: 16 random bytes)."""
    if len(nonce) != 16:
        raise ValueError("nonce must be 16 bytes")
    sealed = bytes(a ^ b for a, b in zip(successor_id.encode("ascii"), _keystream(old_session_id, nonce), strict=True))
    return f"s1.{nonce.hex()}{sealed.hex()}"


def unseal_successor(old_session_id: str, stored: str) -> str | None:
    """The successor id a row's ``successor`` column names, or ``None`` if it names none.

    A stored value is either a plain id (stores of plain ids) or a sealed one;
    anything else (a corrupt value) names no successor.
    """
    if is_well_formed_session_id(stored):
        return stored
    match = _SEALED.match(stored)
    if match is None:
        return None
    nonce, sealed = bytes.fromhex(match[1]), bytes.fromhex(match[2])
    plain = bytes(a ^ b for a, b in zip(sealed, _keystream(old_session_id, nonce), strict=True))
    candidate = plain.decode("latin-1")
    return candidate if is_well_formed_session_id(candidate) else None


# states and decisions -----------------------------------------------------------------


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
    return Session.from_row(row, state, session_id=session_id, is_fresh=is_fresh)


class Validation(enum.Enum):
    """What validating a stored session at a moment means (see the module docstring)."""

    USE = "use"  # active: answer with it
    RENEW = "renew"  # idle: rotate it into a successor, or extend it
    REJECT = "reject"  # unknown: AUTH_INVALID_SESSION_ID, blank cookie
    DELETE = "delete"  # died on its own: delete it (with cleanup on), reject, blank cookie
    FOLLOW = "follow"  # renewed and still usable: answer with its successor
    CONFIRM = "confirm"  # a successor presented first: cut its predecessor to the grace window
    SUPERSEDED = "superseded"  # renewed and dead: anonymous, and no Set-Cookie at all


def decide_validation(row: SessionRow | None, now: int) -> Validation:
    """Decide what :meth:`~lucia_wsgi.Auth.validate_session` does with the row it found."""
    if row is None:
        return Validation.REJECT
    if row.successor is None and row.predecessor is None:  # most rows: no renewal under way
        if now <= row.expires:
            return Validation.USE
        return Validation.RENEW if now <= row.idle_expires else Validation.DELETE
    state = classify(row.expires, row.idle_expires, now)
    if state == "dead":
        return Validation.DELETE if row.successor is None else Validation.SUPERSEDED
    if row.successor is not None:
        return Validation.FOLLOW
    if row.predecessor is not None:
        return Validation.CONFIRM
    return Validation.USE if state == "active" else Validation.RENEW


def decide_successor(successor: SessionRow | None, now: int) -> Validation:
    """For a ``FOLLOW``: answer with the successor (``USE``), replace it (``RENEW``), or
    treat the old id as ended (``SUPERSEDED``: the successor was logged out)."""
    if successor is None:
        return Validation.SUPERSEDED
    return Validation.USE if now <= successor.expires else Validation.RENEW


def is_removable(row: SessionRow, now: int) -> bool:
    """Whether a cleanup may delete ``row``: dead, and past retention if superseded."""
    retention = 0 if row.successor is None else SUPERSEDED_RETENTION
    return classify(row.expires + retention, row.idle_expires + retention, now) == "dead"


def dead_session_ids(rows: list[SessionRow], now: int) -> list[str]:
    """The ids among ``rows`` that a cleanup deletes at ``now``."""
    return [row.id for row in rows if is_removable(row, now)]


def live_device_rows(rows: list[SessionRow], now: int, active_period: int) -> list[SessionRow]:
    """One row per signed-in device, newest sign-in first.

    A row with a successor stands for the same device as that successor, so
    only rows without one are listed; dead rows never are. A row a Lucia app
    wrote has no ``created_at``: ``expires - active_period`` stands in for it.
    """
    live = [row for row in rows if row.successor is None and classify(row.expires, row.idle_expires, now) != "dead"]

    def signed_in(row: SessionRow) -> tuple[int, str]:
        return (row.expires - active_period if row.created_at is None else row.created_at), row.id

    return sorted(live, key=signed_in, reverse=True)


# new rows -----------------------------------------------------------------------------


def new_session_row(
    session_id: str, user_id: str, now: int, active_period: int, idle_period: int, *,
    user_agent: str | None = None, ip_address: str | None = None,
) -> SessionRow:
    """A session created at ``now``: active for ``active_period``, then idle for ``idle_period``."""
    expires = now + active_period
    return SessionRow(session_id, user_id, expires, expires + idle_period, created_at=now, last_seen=now,
                      user_agent=user_agent, ip_address=ip_address)


def successor_row(old: SessionRow, session_id: str, now: int, active_period: int, idle_period: int) -> SessionRow:
    """The successor of ``old`` created at ``now``: fresh periods, the same device facts."""
    expires = now + active_period
    return old._replace(id=session_id, expires=expires, idle_expires=expires + idle_period, successor=None,
                        predecessor=old.id, last_seen=now)


def extended_row(row: SessionRow, now: int, active_period: int, idle_period: int) -> SessionRow:
    """``row`` renewed in place (``renewal="extend"``): fresh periods from ``now``."""
    expires = now + active_period
    return row._replace(expires=expires, idle_expires=expires + idle_period, last_seen=now)
