"""Lucia's session API on :class:`~lucia_wsgi.Auth`: create, validate, renew, end, list.

The rules are in :mod:`lucia_wsgi.session` (read its docstring first); this
module performs them against the stores, as flows (:mod:`lucia_wsgi.flow`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, NamedTuple

from .adapters.base import UserRow
from .auth_state import AuthState, SessionUser, storable
from .errors import LuciaError
from .flow import Flow, flowmethod
from .passwords import generate_random_string
from .session import (
    Session,
    SessionRow,
    Validation,
    classify,
    dead_session_ids,
    decide_successor,
    decide_validation,
    device_id,
    extended_row,
    is_removable,
    is_well_formed_session_id,
    live_device_rows,
    new_session_row,
    successor_row,
    to_session,
    unseal_successor,
)

__all__ = ["CookieAction", "GeneratedSessionId", "SessionFlows", "Validated"]

# Renewals lost to a concurrent request before giving up (each loss means the
# row changed; one retry normally finds the winner's successor).
_MAX_ATTEMPTS = 5


class CookieAction(enum.Enum):
    """What a validation means for the response's session cookie."""

    KEEP = "keep"  # no Set-Cookie at all
    SET = "set"  # the session's cookie (a renewed or re-sent session)
    CLEAR = "clear"  # the blank cookie (unknown, or died on its own)


class Validated(NamedTuple):
    """The outcome of validating a session id: the session (or ``None``), its user row, the cookie."""

    session: Session | None
    user: UserRow | None
    cookie: CookieAction


_INVALID = Validated(None, None, CookieAction.CLEAR)
_KEEP = CookieAction.KEEP
_SUPERSEDED = Validated(None, None, CookieAction.KEEP)


class GeneratedSessionId(NamedTuple):
    """What :meth:`~lucia_wsgi.Auth.generate_session_id` returns: an id and its would-be expiries."""

    session_id: str
    active_period_expires: Any
    idle_period_expires: Any


def _session_or_raise(outcome: Validated) -> Session:
    if outcome.session is None:
        raise LuciaError("AUTH_INVALID_SESSION_ID")
    return outcome.session


class SessionFlows(AuthState):
    """The session half of ``Auth``."""

    # reading -----------------------------------------------------------------------

    def _read_stored(self, storage_id: str, with_user: bool) -> Flow[tuple[SessionRow | None, UserRow | None]]:
        if with_user and self._joint is not None:
            found = yield self._joint.get_session_and_user_by_session_id, storage_id
            return (None, None) if found is None else found
        row = yield self._sessions.get_session, storage_id
        return row, None

    def _read(self, session_id: str, with_user: bool = False) -> Flow[tuple[SessionRow | None, UserRow | None]]:
        """The row for ``session_id`` (and its user where one query gives both)."""
        storage_id = self._storage_id(session_id)
        if with_user and self._joint is not None:
            joint = yield self._joint.get_session_and_user_by_session_id, storage_id
            found = (None, None) if joint is None else joint
        else:
            found = (yield self._sessions.get_session, storage_id), None
        if found[0] is None and storage_id != session_id:
            found = yield from self._read_plain(session_id, storage_id, with_user)
        return found

    def _read_plain(self, session_id: str, storage_id: str,
                    with_user: bool) -> Flow[tuple[SessionRow | None, UserRow | None]]:
        """A session stored before ``hash_session_ids`` was switched on: move it to its digest."""
        found = yield from self._read_stored(session_id, with_user)
        if found[0] is not None and self._renewing is not None:
            moved = yield self._renewing.rekey_session, session_id, storage_id
            if moved:
                return found[0]._replace(id=storage_id), found[1]
            found = yield from self._read_stored(storage_id, with_user)  # moved by someone else
        return found

    def _end_of(self, row: SessionRow | None, now: int) -> Flow[Validated | None]:
        """The outcome for a row that cannot be used (``None`` when it can), cleaning up."""
        decision = decide_validation(row, now)
        if decision is Validation.REJECT:
            return _INVALID
        assert row is not None
        if decision is Validation.DELETE:
            if self.config.auto_database_cleanup:
                yield self._sessions.delete_session, row.id
            return _INVALID
        if decision is Validation.SUPERSEDED:
            if self.config.auto_database_cleanup and is_removable(row, now):
                yield self._sessions.delete_session, row.id
            return _SUPERSEDED
        return None

    # validation and renewal ----------------------------------------------------------

    def _validate(self, session_id: str, *, with_user: bool, renew: bool = True,
                  force: bool = False) -> Flow[Validated]:
        """Validate ``session_id`` (``renew=False``: never write a new cookie's session;
        ``force=True``: renew even an active session)."""
        if not is_well_formed_session_id(session_id):
            return _INVALID
        now = self._clock()
        if with_user and self._joint is not None and not self._hashed_ids:
            found = yield self._joint.get_session_and_user_by_session_id, session_id
            row, user = (None, None) if found is None else found
        else:
            row, user = yield from self._read(session_id, with_user)
        if (row is not None and not force and (user is not None or not with_user)
                and decide_validation(row, now) is Validation.USE):
            # The common case: an active session, answered as it is.
            # tuple.__new__: a NamedTuple's own constructor is a Python-level call.
            return tuple.__new__(Validated, (Session.from_row(row, "active", session_id=session_id), user, _KEEP))
        first = row
        outcome: Validated | None = None
        for _ in range(_MAX_ATTEMPTS):
            outcome = yield from self._end_of(row, now)
            if outcome is not None:
                return outcome
            assert row is not None
            outcome = yield from self._decide(session_id, row, first, now, renew=renew, force=force)
            if outcome is not None:
                break
            row = yield self._sessions.get_session, row.id  # lost a race: look again
        else:
            raise RuntimeError("lucia_wsgi: the session changed under every renewal attempt")
        if with_user and user is None:
            assert outcome.session is not None
            user = yield self._users.get_user, outcome.session.user_id
            if user is None:
                return _INVALID
        return outcome._replace(user=user)

    def _decide(self, session_id: str, row: SessionRow, first: SessionRow | None, now: int, *,
                renew: bool, force: bool) -> Flow[Validated | None]:
        """The outcome for a usable row, or ``None`` when a concurrent request changed it."""
        decision = decide_validation(row, now)
        if decision is Validation.CONFIRM:
            if self._renewing is not None:
                yield self._renewing.confirm_session, row.id, row.predecessor, now + self.config.renewal_grace
            row = row._replace(predecessor=None)
            decision = decide_validation(row, now)
        if decision is Validation.FOLLOW:
            return (yield from self._follow(session_id, row, now, renew))
        state = classify(row.expires, row.idle_expires, now)
        if (decision is Validation.USE and not force) or not renew:
            # Renewed in place by a concurrent request (extend): send its cookie here too.
            resent = first is not None and row.idle_expires > first.idle_expires
            session = Session.from_row(row, state, session_id=session_id, is_fresh=resent)  # type: ignore[arg-type]
            return Validated(session, None, CookieAction.SET if resent else CookieAction.KEEP)
        return (yield from self._renew(session_id, row, now))

    def _live_successor(self, session_id: str, row: SessionRow, now: int) -> Flow[tuple[str, SessionRow] | None]:
        """The id and row of a renewed ``row``'s successor; ``None`` (and ``row`` cut to dead)
        when the successor was signed out, for the old id goes with it."""
        assert row.successor is not None
        successor_id = unseal_successor(session_id, row.successor)
        successor = None if successor_id is None else (yield from self._read(successor_id))[0]
        if decide_successor(successor, now) is Validation.SUPERSEDED:
            if self._renewing is not None:
                yield self._renewing.cut_sessions, [row.id], now - 1
            return None
        assert successor_id is not None and successor is not None
        return successor_id, successor

    def _follow(self, session_id: str, row: SessionRow, now: int, renew: bool) -> Flow[Validated | None]:
        """A renewed id still in use: answer with its successor, or give it a fresh one."""
        found = yield from self._live_successor(session_id, row, now)
        if found is None:
            return _SUPERSEDED
        successor_id, successor = found
        decision = decide_successor(successor, now)
        if decision is Validation.USE:
            return Validated(self._fresh(successor_id, successor), None, CookieAction.SET)
        if not renew:
            state = classify(row.expires, row.idle_expires, now)
            return Validated(Session.from_row(row, state, session_id=session_id), None,  # type: ignore[arg-type]
                             CookieAction.KEEP)
        # Unseen for a whole active period: a fresh successor in its place, not a chain.
        return (yield from self._renew(session_id, row, now, replaced=successor.id))

    def _renew(self, session_id: str, row: SessionRow, now: int, replaced: str | None = None) -> Flow[Validated | None]:
        """Renew ``row`` (``None`` when a concurrent request changed it first)."""
        config = self.config
        if config.auto_database_cleanup:
            yield from self._delete_dead(row.user_id, now)
        if config.renewal == "extend" and row.successor is None:
            extended = extended_row(row, now, config.active_period, config.idle_period)
            won = yield self._sessions.extend_session, row, extended
            return Validated(self._fresh(session_id, extended), None, CookieAction.SET) if won else None
        new_id, new_storage_id = self._new_session_id()
        new = successor_row(row, new_storage_id, now, config.active_period, config.idle_period)
        if self._renewing is None:
            # Lucia 0.3's renewal: a new session, the old one left to its own expiry.
            yield self._sessions.set_session, new
            return Validated(self._fresh(new_id, new), None, CookieAction.SET)
        link = self._successor_link(session_id, new_id)
        won = yield self._renewing.renew_session, row, link, new, replaced
        return Validated(self._fresh(new_id, new), None, CookieAction.SET) if won else None

    # the public API ------------------------------------------------------------------

    def generate_session_id(self) -> GeneratedSessionId:
        """A new random id and the expiries a session created now would get."""
        row = new_session_row(generate_random_string(40), "", self._clock(),
                              self.config.active_period, self.config.idle_period)
        session = Session.from_row(row, "active")
        return GeneratedSessionId(row.id, session.active_period_expires, session.idle_period_expires)

    @flowmethod
    def create_session(self, user_id: str, *, user_agent: str | None = None,
                       ip_address: str | None = None) -> Flow[Session]:
        """A new active session for ``user_id`` (``AUTH_INVALID_USER_ID`` if unknown).

        ``user_agent`` and ``ip_address`` are kept for a devices page; pass
        them only if your privacy policy allows (``AuthRequest.create_session``
        does so with ``lucia(device_details=True)``).
        """
        if not storable(user_id) or (self._users is not self._sessions
                                     and (yield self._users.get_user, user_id) is None):
            raise LuciaError("AUTH_INVALID_USER_ID")
        now = self._clock()
        if self.config.auto_database_cleanup:
            yield from self._delete_dead(user_id, now)
        session_id, storage_id = self._new_session_id()
        row = new_session_row(storage_id, user_id, now, self.config.active_period, self.config.idle_period,
                              user_agent=user_agent, ip_address=ip_address)
        yield self._sessions.set_session, row
        return self._fresh(session_id, row)

    @flowmethod
    def get_session(self, session_id: str) -> Flow[Session]:
        """The active or idle session ``session_id``; never renews."""
        session, _ = yield from self._get(session_id, with_user=False)
        return session

    @flowmethod
    def get_session_user(self, session_id: str) -> Flow[SessionUser]:
        """The session (active or idle, not renewed) and its user."""
        session, user = yield from self._get(session_id, with_user=True)
        return SessionUser(session, self._transform(user))

    def _get(self, session_id: str, *, with_user: bool) -> Flow[tuple[Session, Any]]:
        if not is_well_formed_session_id(session_id):
            raise LuciaError("AUTH_INVALID_SESSION_ID")
        now = self._clock()
        row, user = yield from self._read(session_id, with_user)
        if (yield from self._end_of(row, now)) is not None:
            raise LuciaError("AUTH_INVALID_SESSION_ID")
        assert row is not None
        if row.successor is not None and (yield from self._live_successor(session_id, row, now)) is None:
            raise LuciaError("AUTH_INVALID_SESSION_ID")  # ended with its successor (a log-out)
        if with_user and user is None:
            user = yield self._users.get_user, row.user_id
            if user is None:
                raise LuciaError("AUTH_INVALID_SESSION_ID")
        session = to_session(row, now, session_id=session_id)
        assert session is not None
        return session, user

    @flowmethod
    def validate_session(self, session_id: str) -> Flow[Session]:
        """The session if active; if idle, its renewal (``is_fresh``); else ``AUTH_INVALID_SESSION_ID``.

        An id that was renewed answers with its successor until the
        successor is in use (SPEC §12).
        """
        outcome = yield from self._validate(session_id, with_user=False)
        return _session_or_raise(outcome)

    @flowmethod
    def validate_session_user(self, session_id: str) -> Flow[SessionUser]:
        """:meth:`validate_session` and the user, in one store query where possible."""
        outcome = yield from self._validate(session_id, with_user=True)
        return SessionUser(_session_or_raise(outcome), self._transform(outcome.user))  # type: ignore[arg-type]

    @flowmethod
    def renew_session(self, session_id: str) -> Flow[Session]:
        """Renew a live session, active ones too (as Lucia); a renewed id gives its successor."""
        outcome = yield from self._validate(session_id, with_user=False, force=True)
        return _session_or_raise(outcome)

    @flowmethod
    def invalidate_session(self, session_id: str) -> Flow[None]:
        """End the device of a live session: the id, its successor or predecessor too.

        Unknown, malformed and dead ids end nothing (a dead id has no authority).
        """
        if not is_well_formed_session_id(session_id):
            return
        row, _ = yield from self._read(session_id)
        if row is None or classify(row.expires, row.idle_expires, self._clock()) == "dead":
            return
        doomed = [row.id, *self._linked_ids(session_id, row)]
        rows: list[SessionRow] = yield self._sessions.get_sessions_by_user_id, row.user_id
        doomed += [other.id for other in rows if other.id not in doomed and self._links_to(other, row)]
        # One delete, after every read: a store failure leaves all of them in
        # place. (A renewal committing between the reads and the delete keeps
        # the one successor it handed out: the log-out's only window.)
        yield self._sessions.delete_session, *doomed

    @staticmethod
    def _links_to(other: SessionRow, row: SessionRow) -> bool:
        """Whether ``other`` is ``row``'s other id on the same device, found from ``row``'s side.

        A successor Lucia's way (no link on the old row) names its predecessor;
        an old row in its grace window names its confirmed successor (in the
        clear with plain ids; a sealed link gives nothing away, and such a row
        is ended by its successor's absence instead, see :meth:`_live_successor`).
        """
        return other.predecessor == row.id or other.successor == row.id

    def _linked_ids(self, session_id: str, row: SessionRow) -> list[str]:
        linked = [] if row.predecessor is None else [row.predecessor]
        successor_id = None if row.successor is None else unseal_successor(session_id, row.successor)
        if successor_id is not None:
            linked.append(self._storage_id(successor_id))
        return linked

    @flowmethod
    def invalidate_all_user_sessions(self, user_id: str, *, keep: str | None = None) -> Flow[None]:
        """End every session of the user; with ``keep=session_id``, all but that device's.

        Renewed rows of other devices are cut to dead rather than deleted, so a
        late request with them gets no blank cookie (SPEC §12).
        """
        if not storable(user_id):
            return  # names no user
        if keep is None:
            yield self._sessions.delete_sessions_by_user_id, user_id
            return
        rows: list[SessionRow] = yield self._sessions.get_sessions_by_user_id, user_id
        kept: set[str] = set()
        if is_well_formed_session_id(keep):
            kept_row, _ = yield from self._read(keep)
            if kept_row is not None and kept_row.user_id == user_id:
                kept = {kept_row.id, *self._linked_ids(keep, kept_row)}
                kept |= {row.id for row in rows if row.predecessor == kept_row.id}
        yield from self._end_rows([row for row in rows if row.id not in kept])

    def _end_rows(self, rows: Sequence[SessionRow]) -> Flow[None]:
        renewed = [row.id for row in rows if row.successor is not None]
        if renewed and self._renewing is not None:
            yield self._renewing.cut_sessions, renewed, self._clock() - 1
            rows = [row for row in rows if row.successor is None]
        if rows:
            yield self._sessions.delete_session, *[row.id for row in rows]

    @flowmethod
    def invalidate_device(self, user_id: str, device: str) -> Flow[bool]:
        """End the user's session whose :attr:`~lucia_wsgi.Session.device_id` is ``device``; False if none is."""
        if not storable(user_id):
            return False
        rows: list[SessionRow] = yield self._sessions.get_sessions_by_user_id, user_id
        target = next((row for row in rows if device_id(row.id) == device), None)
        if target is None:
            return False
        group = {target.id, *([] if target.predecessor is None else [target.predecessor])}
        group |= {row.id for row in rows if self._links_to(row, target)}
        yield from self._end_rows([row for row in rows if row.id in group])
        return True

    @flowmethod
    def get_user_sessions(self, user_id: str) -> Flow[list[Session]]:
        """The user's signed-in devices, one session each, newest sign-in first.

        ``session_id`` is the id as stored (the SHA-256 digest with
        ``hash_session_ids``): to end one from a page, use :attr:`~lucia_wsgi.Session.device_id`
        with :meth:`invalidate_device`.
        """
        if not storable(user_id):
            return []
        now = self._clock()
        rows: list[SessionRow] = yield self._sessions.get_sessions_by_user_id, user_id
        return [to_session(row, now) for row in live_device_rows(rows, now, self.config.active_period)]  # type: ignore[misc]

    @flowmethod
    def delete_dead_user_sessions(self, user_id: str) -> Flow[None]:
        """Delete the user's dead sessions (renewed ones only once past their retention)."""
        if storable(user_id):
            yield from self._delete_dead(user_id, self._clock())

    def _delete_dead(self, user_id: str, now: int) -> Flow[None]:
        rows = yield self._sessions.get_sessions_by_user_id, user_id
        dead = dead_session_ids(rows, now)
        if dead:
            yield self._sessions.delete_session, *dead
