"""Lucia's user and password API on :class:`~lucia_wsgi.Auth`, as flows (:mod:`lucia_wsgi.flow`)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .adapters.base import RESERVED_USER_COLUMNS
from .auth_state import AuthState, check_identifier, storable
from .config import Config
from .errors import LuciaError
from .flow import Flow, flowmethod, offload
from .passwords import DUMMY_HASH, encode_password, generate_random_string, is_bcrypt_hash, verify_password

if TYPE_CHECKING:
    from .onetime import Throttle

__all__ = ["UserFlows"]


def _provider_id(provider: str, identifier: str) -> str:
    if not isinstance(provider, str) or not isinstance(identifier, str):
        raise TypeError("provider and identifier must be strings")
    if not provider or ":" in provider or "\x00" in provider:
        raise ValueError(f"provider must be a non-empty string without ':' or NUL, not {provider!r}")
    check_identifier(provider)
    return f"{provider}:{check_identifier(identifier)}"


def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of user attributes, refusing the columns ``Auth`` itself manages and unstorable text."""
    clash = set(attributes) & set(RESERVED_USER_COLUMNS)
    if clash:
        raise ValueError(f"attributes cannot set {sorted(clash)}")
    for value in attributes.values():
        if isinstance(value, str) and not storable(value):
            raise LuciaError("AUTH_INVALID_USER_DATA")
    return dict(attributes)


class UserFlows(AuthState):
    """The user half of ``Auth``: users by provider id, passwords."""

    login_throttle: Throttle | None  # set by Auth

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._hash_slots = threading.BoundedSemaphore(config.max_concurrent_hashes)
        self._default_hash = config.validate_hash is verify_password
        self._dummy_hash: str | None = DUMMY_HASH if self._default_hash else None
        self._dummy_lock = threading.Lock()

    # hashing (CPU work: offloaded from an event loop, bounded everywhere)

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

    def _user_id(self, user_id: object) -> str:
        return check_identifier(user_id, "AUTH_INVALID_USER_ID")

    # users

    @flowmethod
    def create_user(self, provider: str, identifier: str, password: str | None = None,
                    attributes: Mapping[str, Any] | None = None) -> Flow[Any]:
        """Create a user with provider id ``provider:identifier``.

        Raises ``AUTH_DUPLICATE_PROVIDER_ID`` when it is taken, and
        ``AUTH_INVALID_PASSWORD`` for an over-long or unencodable password.
        """
        provider_id = _provider_id(provider, identifier)
        values = _attributes(attributes or {})
        hashed = None if password is None else (yield offload(self._hash, password))
        user_id = self.config.generate_custom_user_id() if self.config.generate_custom_user_id else None
        if user_id is not None:
            self._user_id(user_id)
        row = yield self._users.set_user, user_id, {"provider_id": provider_id, "hashed_password": hashed, **values}
        return self._transform(row)

    @flowmethod
    def authenticate_user(self, provider: str, identifier: str, password: str) -> Flow[Any]:
        """The user whose provider id and password match, else a :exc:`~lucia_wsgi.LuciaError`.

        Every outcome costs one hash verification, so the time taken does not
        tell whether the user exists. Each attempt first takes a token from
        the provider id's bucket (``login_throttle``): when it is empty the
        attempt is ``AUTH_TOO_MANY_ATTEMPTS`` (see ``retry_after``), before
        any hashing, known user or not.
        """
        provider_id = _provider_id(provider, identifier)
        encode_password(password)
        if self.login_throttle is not None:  # before any lookup or hashing: unknown ids cost the same
            yield from type(self.login_throttle).take.flow(self.login_throttle, provider_id)
        row = yield self._users.get_user_by_provider_id, provider_id
        if row is None:
            yield offload(self._burn_one_verification, password)
            raise LuciaError("AUTH_INVALID_PROVIDER_ID")
        hashed = row.get("hashed_password")
        if not hashed:
            yield offload(self._burn_one_verification, password)
            raise LuciaError("AUTH_INVALID_PASSWORD")
        if self.config.bcrypt_migration and is_bcrypt_hash(hashed):
            if not (yield offload(self._verify_bcrypt, password, hashed)):
                raise LuciaError("AUTH_INVALID_PASSWORD")
            rehashed = yield offload(self._hash, password)
            row = yield self._users.update_user, row["id"], {"hashed_password": rehashed}
            return self._transform(row)
        # Lucia's "outdated" format: "$2a" always (as Lucia), any bcrypt hash
        # under the default scrypt pair; a custom pair may verify "$2b" itself.
        if hashed.startswith("$2a") or (self._default_hash and is_bcrypt_hash(hashed)):
            yield offload(self._burn_one_verification, password)
            raise LuciaError("AUTH_OUTDATED_PASSWORD")
        if not (yield offload(self._verify, password, hashed)):
            raise LuciaError("AUTH_INVALID_PASSWORD")
        return self._transform(row)

    @flowmethod
    def get_user(self, user_id: str) -> Flow[Any]:
        """The user ``user_id`` (``transform_user_data``'s result); ``AUTH_INVALID_USER_ID`` if unknown."""
        row = yield self._users.get_user, self._user_id(user_id)
        if row is None:
            raise LuciaError("AUTH_INVALID_USER_ID")
        return self._transform(row)

    @flowmethod
    def get_user_by_provider_id(self, provider: str, identifier: str) -> Flow[Any]:
        """The user with provider id ``provider:identifier``; ``AUTH_INVALID_PROVIDER_ID`` if none."""
        row = yield self._users.get_user_by_provider_id, _provider_id(provider, identifier)
        if row is None:
            raise LuciaError("AUTH_INVALID_PROVIDER_ID")
        return self._transform(row)

    @flowmethod
    def update_user_attributes(self, user_id: str, attributes: Mapping[str, Any]) -> Flow[Any]:
        """Change some attribute columns of the user and return the updated user.

        Raises ``AUTH_INVALID_USER_ID`` for an unknown user and
        ``AUTH_INVALID_USER_DATA`` for text no store can hold; a column
        ``Auth`` manages itself (``id``, ``provider_id``, ``hashed_password``)
        is a ``ValueError``.
        """
        row = yield self._users.update_user, self._user_id(user_id), _attributes(attributes)
        return self._transform(row)

    @flowmethod
    def update_user_password(self, user_id: str, password: str | None) -> Flow[Any]:
        """Store a new password (``None`` removes it), then end every session of the user.

        The sessions go only once the new hash is stored: a failed update
        leaves both the old password and the sessions in place. If this raises
        after the hash was stored (the sessions could not be ended: a store
        outage), the old sessions, an attacker's too, may still be valid: call
        it again until it returns. It is safe to repeat, and a repeat ends them.
        """
        user_id = self._user_id(user_id)
        hashed = None if password is None else (yield offload(self._hash, password))
        row = yield self._users.update_user, user_id, {"hashed_password": hashed}
        yield self._sessions.delete_sessions_by_user_id, user_id
        return self._transform(row)

    @flowmethod
    def update_user_provider_id(self, user_id: str, provider: str, identifier: str) -> Flow[Any]:
        """Give the user the provider id ``provider:identifier`` (``AUTH_DUPLICATE_PROVIDER_ID`` if taken)."""
        row = yield self._users.update_user, self._user_id(user_id), {"provider_id": _provider_id(provider, identifier)}
        return self._transform(row)

    @flowmethod
    def delete_user(self, user_id: str) -> Flow[None]:
        """Delete the user's sessions, tokens and codes, then the user; unknown ids are fine."""
        if not storable(user_id):
            return  # names no user
        yield self._sessions.delete_sessions_by_user_id, user_id
        if self._accounts is not None:  # their links and codes end with them
            yield self._accounts.delete_tokens, user_id, None
            yield self._accounts.delete_codes, user_id, None
        yield self._users.delete_user, user_id
