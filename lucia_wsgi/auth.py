"""``Auth``: Lucia's user and session API, the imperative shell around the core.

``Auth`` is the only object that reads the clock, draws random ids and talks to
the adapters; every decision it takes is a call into the pure modules
(:mod:`~lucia_wsgi.session`, :mod:`~lucia_wsgi.cookies`, :mod:`~lucia_wsgi.csrf`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from .adapters.base import RESERVED_USER_COLUMNS, AtomicRenewal, JointAdapter, UserRow
from .config import Config, build_config
from .cookies import Cookie, read_cookie, session_cookies
from .csrf import is_request_allowed
from .errors import LuciaError
from .passwords import DUMMY_HASH, encode_password, generate_random_string, is_bcrypt_hash, verify_password
from .session import (
    Session,
    SessionRow,
    Validation,
    dead_session_ids,
    decide_validation,
    grace_row,
    is_well_formed_session_id,
    new_session_row,
    successor_expires,
    to_session,
)

__all__ = ["Auth", "SessionUser", "GeneratedSessionId", "lucia"]

class SessionUser(NamedTuple):
    """A session and its user; both ``None`` when unauthenticated."""

    session: Session | None
    user: Any


class GeneratedSessionId(NamedTuple):
    session_id: str
    active_period_expires: datetime
    idle_period_expires: datetime


def _provider_id(provider: str, identifier: str) -> str:
    if not isinstance(provider, str) or not isinstance(identifier, str):
        raise TypeError("provider and identifier must be strings")
    if not provider or ":" in provider or "\x00" in provider:
        raise ValueError(f"provider must be a non-empty string without ':' or NUL, not {provider!r}")
    if "\x00" in identifier:
        # No user can have it: PostgreSQL text cannot hold NUL, so refuse it
        # the same way on every store (a lookup is "no such user", not a 500).
        raise LuciaError("AUTH_INVALID_PROVIDER_ID")
    return f"{provider}:{identifier}"


def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of user attributes, refusing the columns ``Auth`` itself manages."""
    clash = set(attributes) & set(RESERVED_USER_COLUMNS)
    if clash:
        raise ValueError(f"attributes cannot set {sorted(clash)}")
    return dict(attributes)


class Auth:
    """Users, passwords and sessions over one store (or a user and a session store).

    Build it with :func:`lucia`. Methods raise :class:`LuciaError` with Lucia's
    codes for expected failures; store failures propagate unchanged.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._users = config.user_adapter
        self._sessions = config.session_adapter
        self._clock = config.clock
        self._hash_slots = threading.BoundedSemaphore(config.max_concurrent_hashes)
        self._default_hash = config.validate_hash is verify_password
        self._dummy_hash: str | None = DUMMY_HASH if self._default_hash else None
        self._dummy_lock = threading.Lock()
        joint = self._users is self._sessions and isinstance(self._users, JointAdapter)
        self._joint: JointAdapter | None = self._users if joint else None
        self._atomic: AtomicRenewal | None = self._sessions if isinstance(self._sessions, AtomicRenewal) else None

    def __repr__(self) -> str:
        return f"<Auth env={self.config.env} users={self._users!r} sessions={self._sessions!r}>"

    # helpers

    def _transform(self, row: UserRow) -> Any:
        data = {k: v for k, v in row.items() if k not in ("hashed_password", "provider_id")}
        return self.config.transform_user_data(data)

    def _storage_id(self, session_id: str) -> str:
        if self.config.hash_session_ids:
            return hashlib.sha256(session_id.encode("ascii")).hexdigest()
        return session_id

    def _hash(self, password: str) -> str:
        if password == "":
            raise ValueError("password must not be empty; pass None for a user without password")
        encode_password(password)  # length and encodability, before any hashing
        with self._hash_slots:
            return self.config.generate_hash(password)

    def _verify(self, password: str, hashed: str) -> bool:
        with self._hash_slots:
            return bool(self.config.validate_hash(password, hashed))

    def _burn_one_verification(self, password: str) -> None:
        """Cost what checking a real hash costs, for log-ins that fail without one.

        The dummy is a hash in the configured format: Lucia's constant for the
        default scrypt, one made by a custom ``hash`` pair on first need.
        """
        if self._dummy_hash is None:
            with self._dummy_lock:
                if self._dummy_hash is None:
                    with self._hash_slots:
                        self._dummy_hash = self.config.generate_hash(generate_random_string(24))
        self._verify(password, self._dummy_hash)

    def _verify_bcrypt(self, password: str, hashed: str) -> bool:
        import bcrypt

        # bcrypt(js) hashed the raw UTF-8 (no NFKC) and only ever read its
        # first 72 bytes; the bcrypt package refuses longer input, so cut it.
        encode_password(password)
        secret = password.encode("utf-8")[:72]
        with self._hash_slots:
            try:
                return bool(bcrypt.checkpw(secret, hashed.encode("ascii")))
            except ValueError:  # a corrupt bcrypt hash (bad salt)
                return False

    def _check_session_id(self, session_id: object) -> str:
        if not is_well_formed_session_id(session_id):
            raise LuciaError("AUTH_INVALID_SESSION_ID")
        return self._storage_id(session_id)  # type: ignore[arg-type]

    # users

    def create_user(
        self, provider: str, identifier: str, password: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Any:
        """Create a user with provider id ``provider:identifier``.

        Raises ``AUTH_DUPLICATE_PROVIDER_ID`` when it is taken, and
        ``AUTH_INVALID_PASSWORD`` for an over-long or unencodable password.
        """
        provider_id = _provider_id(provider, identifier)
        attributes = _attributes(attributes or {})
        hashed = None if password is None else self._hash(password)
        user_id = self.config.generate_custom_user_id() if self.config.generate_custom_user_id else None
        row = self._users.set_user(user_id, {"provider_id": provider_id, "hashed_password": hashed, **attributes})
        return self._transform(row)

    def authenticate_user(self, provider: str, identifier: str, password: str) -> Any:
        """The user whose provider id and password match, else a :class:`LuciaError`.

        Every outcome costs one hash verification, so the time taken does not
        tell whether the user exists.
        """
        provider_id = _provider_id(provider, identifier)
        encode_password(password)
        row = self._users.get_user_by_provider_id(provider_id)
        if row is None:
            self._burn_one_verification(password)
            raise LuciaError("AUTH_INVALID_PROVIDER_ID")
        hashed = row.get("hashed_password")
        if not hashed:
            self._burn_one_verification(password)
            raise LuciaError("AUTH_INVALID_PASSWORD")
        if self.config.bcrypt_migration and is_bcrypt_hash(hashed):
            if not self._verify_bcrypt(password, hashed):
                raise LuciaError("AUTH_INVALID_PASSWORD")
            row = self._users.update_user(row["id"], {"hashed_password": self._hash(password)})
            return self._transform(row)
        # Lucia's "outdated" format: "$2a" always (as Lucia), any bcrypt hash
        # under the default scrypt pair; a custom pair may verify "$2b" itself.
        if hashed.startswith("$2a") or (self._default_hash and is_bcrypt_hash(hashed)):
            self._burn_one_verification(password)
            raise LuciaError("AUTH_OUTDATED_PASSWORD")
        if not self._verify(password, hashed):
            raise LuciaError("AUTH_INVALID_PASSWORD")
        return self._transform(row)

    def get_user(self, user_id: str) -> Any:
        row = self._users.get_user(user_id)
        if row is None:
            raise LuciaError("AUTH_INVALID_USER_ID")
        return self._transform(row)

    def get_user_by_provider_id(self, provider: str, identifier: str) -> Any:
        row = self._users.get_user_by_provider_id(_provider_id(provider, identifier))
        if row is None:
            raise LuciaError("AUTH_INVALID_PROVIDER_ID")
        return self._transform(row)

    def update_user_attributes(self, user_id: str, attributes: Mapping[str, Any]) -> Any:
        return self._transform(self._users.update_user(user_id, _attributes(attributes)))

    def update_user_password(self, user_id: str, password: str | None) -> Any:
        """Store a new password (``None`` removes it), then end every session of the user.

        The sessions go only once the new hash is stored: a failed update
        leaves both the old password and the sessions in place.
        """
        hashed = None if password is None else self._hash(password)
        row = self._users.update_user(user_id, {"hashed_password": hashed})
        self._sessions.delete_sessions_by_user_id(user_id)
        return self._transform(row)

    def update_user_provider_id(self, user_id: str, provider: str, identifier: str) -> Any:
        row = self._users.update_user(user_id, {"provider_id": _provider_id(provider, identifier)})
        return self._transform(row)

    def delete_user(self, user_id: str) -> None:
        """Delete the user's sessions, then the user; unknown ids are fine."""
        self._sessions.delete_sessions_by_user_id(user_id)
        self._users.delete_user(user_id)

    # sessions

    def generate_session_id(self) -> GeneratedSessionId:
        """A new random id and the expiries a session created now would get."""
        row = new_session_row(generate_random_string(40), "", self._clock(),
                              self.config.active_period, self.config.idle_period)
        session = to_session(row, row.expires)
        assert session is not None
        return GeneratedSessionId(row.id, session.active_period_expires, session.idle_period_expires)

    def _new_row(self, user_id: str, now: int) -> tuple[str, SessionRow]:
        session_id = generate_random_string(40)
        row = new_session_row(self._storage_id(session_id), user_id, now,
                              self.config.active_period, self.config.idle_period)
        return session_id, row

    def _fresh(self, session_id: str, row: SessionRow, now: int) -> Session:
        session = to_session(row, now, session_id=session_id, is_fresh=True)
        assert session is not None
        return session

    def create_session(self, user_id: str) -> Session:
        """A new active session for ``user_id`` (``AUTH_INVALID_USER_ID`` if unknown)."""
        if self._users is not self._sessions and self._users.get_user(user_id) is None:
            raise LuciaError("AUTH_INVALID_USER_ID")
        now = self._clock()
        if self.config.auto_database_cleanup:
            self._delete_dead(user_id, now)
        session_id, row = self._new_row(user_id, now)
        self._sessions.set_session(row)
        return self._fresh(session_id, row, now)

    def _lookup(self, storage_id: str, now: int) -> tuple[SessionRow, Validation]:
        """Fetch a row and decide; dead rows are deleted, unusable ones raise."""
        return self._decide(self._sessions.get_session(storage_id), now)

    def _decide(self, row: SessionRow | None, now: int) -> tuple[SessionRow, Validation]:
        decision = decide_validation(row, now)
        if decision is Validation.DELETE and self.config.auto_database_cleanup:
            assert row is not None
            self._sessions.delete_session(row.id)
        if row is None or decision in (Validation.REJECT, Validation.DELETE):
            raise LuciaError("AUTH_INVALID_SESSION_ID")
        return row, decision

    def get_session(self, session_id: str) -> Session:
        """The active or idle session ``session_id``; never renews."""
        now = self._clock()
        row, _ = self._lookup(self._check_session_id(session_id), now)
        return to_session(row, now, session_id=session_id)  # type: ignore[return-value]

    def _session_and_user_row(self, session_id: str, now: int) -> tuple[SessionRow, Validation, UserRow]:
        storage_id = self._check_session_id(session_id)
        if self._joint is not None:
            found = self._joint.get_session_and_user_by_session_id(storage_id)
            row, decision = self._decide(None if found is None else found[0], now)
            assert found is not None
            return row, decision, found[1]
        row, decision = self._lookup(storage_id, now)
        user = self._users.get_user(row.user_id)
        if user is None:
            raise LuciaError("AUTH_INVALID_SESSION_ID")
        return row, decision, user

    def get_session_user(self, session_id: str) -> SessionUser:
        """The session (active or idle, not renewed) and its user."""
        now = self._clock()
        row, _, user = self._session_and_user_row(session_id, now)
        return SessionUser(to_session(row, now, session_id=session_id), self._transform(user))

    def validate_session(self, session_id: str) -> Session:
        """The session if active; a renewed one (``is_fresh``) if idle; else an error."""
        now = self._clock()
        row, decision = self._lookup(self._check_session_id(session_id), now)
        if decision is Validation.RENEW:
            return self._renew(session_id, row, now)
        return to_session(row, now, session_id=session_id)  # type: ignore[return-value]

    def validate_session_user(self, session_id: str) -> SessionUser:
        """:meth:`validate_session` and the user, in one store query where possible."""
        now = self._clock()
        row, decision, user = self._session_and_user_row(session_id, now)
        if decision is Validation.RENEW:
            session = self._renew(session_id, row, now)
        else:
            session = to_session(row, now, session_id=session_id)  # type: ignore[assignment]
        return SessionUser(session, self._transform(user))

    def renew_session(self, session_id: str) -> Session:
        """Replace a live session with a fresh one; the old id works for the grace window."""
        now = self._clock()
        row, _ = self._lookup(self._check_session_id(session_id), now)
        return self._renew(session_id, row, now)

    def _renew(self, old_session_id: str, old: SessionRow, now: int) -> Session:
        if self.config.auto_database_cleanup:
            self._delete_dead(old.user_id, now)
        new_session_id, new = self._new_row(old.user_id, now)
        shortened = grace_row(old, now, self.config.renewal_grace)
        if self._atomic is not None:
            swapped = self._atomic.replace_session(old, new, shortened)
        else:
            swapped = self._replace_session_in_steps(old, new)
        if swapped:
            return self._fresh(new_session_id, new, now)
        # Another request renewed (or someone deleted) this session first:
        # answer with what the old id means now, the grace row if it is there.
        row, decision = self._lookup(old.id, now)
        if decision is not Validation.USE:
            raise LuciaError("AUTH_INVALID_SESSION_ID")
        return to_session(row, now, session_id=old_session_id)  # type: ignore[return-value]

    def _replace_session_in_steps(self, old: SessionRow, new: SessionRow) -> bool:
        """Renewal for third-party stores without ``replace_session``, as Lucia does it.

        Without a compare-and-set the old row cannot be shortened safely (a
        logout landing between a delete and a re-insert would be undone), so
        it is deleted outright: no grace window on such stores.
        """
        if self._sessions.get_session(old.id) != old:
            return False
        self._sessions.set_session(new)
        self._sessions.delete_session(old.id)
        return True

    def invalidate_session(self, session_id: str) -> None:
        """Delete a session; unknown and malformed ids are fine.

        A session renewed moments ago (still in its grace window) takes the
        session it was renewed into along: a log-out sent with the old cookie,
        racing the response that carried the new one, must not leave the user
        signed in.
        """
        if not is_well_formed_session_id(session_id):
            return
        storage_id = self._storage_id(session_id)
        row = self._sessions.get_session(storage_id)
        if row is None:
            return
        doomed = [storage_id]
        expires = successor_expires(row, self.config.renewal_grace, self.config.active_period)
        if expires is not None:
            siblings = self._sessions.get_sessions_by_user_id(row.user_id)
            doomed += [s.id for s in siblings if s.expires == expires and s.id != storage_id]
        # One delete, after every read: a store failure leaves all of them in place.
        self._sessions.delete_session(*doomed)

    def invalidate_all_user_sessions(self, user_id: str) -> None:
        self._sessions.delete_sessions_by_user_id(user_id)

    def delete_dead_user_sessions(self, user_id: str) -> None:
        self._delete_dead(user_id, self._clock())

    def _delete_dead(self, user_id: str, now: int) -> None:
        dead = dead_session_ids(self._sessions.get_sessions_by_user_id(user_id), now)
        if dead:
            self._sessions.delete_session(*dead)

    # requests and cookies

    def read_session_id(self, environ: Mapping[str, Any]) -> str:
        """The session id in a request's cookie, ``""`` when there is none (no CSRF check)."""
        return read_cookie(environ.get("HTTP_COOKIE") or "")

    def validate_request_headers(self, environ: Mapping[str, Any]) -> str:
        """The session id of a WSGI request, after the CSRF check.

        Pure: reads only ``environ``. Returns ``""`` without a cookie; raises
        ``AUTH_INVALID_REQUEST`` when an unsafe request fails the Origin check.
        """
        if not is_request_allowed(environ, self.config.csrf):
            raise LuciaError("AUTH_INVALID_REQUEST")
        return self.read_session_id(environ)

    def create_session_cookies(self, session: Session | None) -> list[Cookie]:
        """The Set-Cookie directives storing ``session``, or deleting it for ``None``."""
        return session_cookies(session, self.config.cookie_options, secure=self.config.secure_cookies)


def lucia(**options: Any) -> Auth:
    """Configure lucia_wsgi: ``lucia(adapter=SQLiteAdapter("app.db"), env="DEV")``.

    See :func:`lucia_wsgi.config.build_config` for every option. Bad options
    raise ``TypeError``/``ValueError`` here, not at the first request.
    """
    return Auth(build_config(**options))
