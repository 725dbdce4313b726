"""Throttles, one-time tokens (links) and one-time codes, on the session store (SPEC §13, §14).

* :class:`Throttle` (``auth.throttle(name, ...)``, and ``auth.login_throttle``
  inside ``authenticate_user``): a token bucket per key (see
  :mod:`lucia_wsgi.throttle`), taken with a compare-and-set so that every
  process and host shares it.
* :class:`TokenKind` (``auth.tokens(name, expires_in=...)``): single-use
  tokens for links (email verification, password reset). A token is 256
  random bits; the store keeps only its SHA-256 digest, so a copy of the
  database holds no usable link, and consuming one is one atomic
  delete-and-return, so of concurrent consumers exactly one wins.
* :class:`CodeKind` (``auth.codes(name, expires_in=...)``): short numeric
  codes bound to a user (sign-in by email). Each guess is counted before it is
  compared (constant-time), so concurrent guesses cannot exceed the limit;
  after ``max_attempts`` wrong guesses the code is void.

Every method is a flow (:mod:`lucia_wsgi.flow`): call it on the object, or
await it on its ``.aio`` twin.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING, Any

from .adapters.base import CodeRow, TokenRow
from .auth_state import storable
from .errors import LuciaError
from .flow import AsyncFlowOwner, Flow, FlowOwner, flowmethod
from .throttle import Bucket, bucket_key, retry_seconds, take

if TYPE_CHECKING:
    from .auth import Auth

__all__ = ["CodeKind", "CodeRow", "Throttle", "TokenKind", "TokenRow"]

_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}\Z")  # secrets.token_urlsafe(32)
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")
# Compare-and-set tries against concurrent writers before refusing the attempt.
_CAS_TRIES = 50


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{what} name must be 1 to 32 of a-z 0-9 _ - starting with a letter, not {name!r}")
    return name


class _Owned(FlowOwner):
    """A flow owner bound to an :class:`Auth`, with an awaitable twin at ``.aio``."""

    _twin: type[AsyncFlowOwner]

    def __init__(self, auth: Auth) -> None:
        self._auth = auth
        self._store: Any = auth._accounts
        self._aio: AsyncFlowOwner | None = None

    def _run_flow(self, flow: Flow[Any]) -> Any:
        return self._auth._run_flow(flow)

    @property
    def aio(self) -> Any:
        """The same methods, awaitable (see :attr:`lucia_wsgi.Auth.aio`)."""
        if self._aio is None:
            self._aio = self._twin(self, self._auth.aio._runner)
        return self._aio

    def _require_user(self, user_id: str) -> Flow[None]:
        if not storable(user_id) or (yield self._auth._users.get_user, user_id) is None:
            raise LuciaError("AUTH_INVALID_USER_ID")


class Throttle(_Owned):
    """A token bucket per key, in the store: ``throttle.take(key)`` or ``AUTH_TOO_MANY_ATTEMPTS``."""

    def __init__(self, auth: Auth, name: str, bucket: Bucket) -> None:
        super().__init__(auth)
        self._store = auth._throttles  # shared through the store; per process with a store that has none
        self.name = check_name(name, "throttle")
        self.bucket = bucket

    def __repr__(self) -> str:
        return f"<Throttle {self.name!r} capacity={self.bucket.capacity} refill_every={self.bucket.refill_every}ms>"

    @flowmethod
    def take(self, key: str) -> Flow[None]:
        """Take one token from ``key``'s bucket; ``AUTH_TOO_MANY_ATTEMPTS`` (with ``retry_after``) if empty.

        A store failure propagates: no attempt goes unthrottled.
        """
        stored_key = bucket_key(self.name, key)
        now = self._auth._clock()
        for _ in range(_CAS_TRIES):
            tat = yield self._store.get_throttle, stored_key
            outcome = take(self.bucket, tat, now)
            if not outcome.allowed:
                raise LuciaError("AUTH_TOO_MANY_ATTEMPTS", retry_after=retry_seconds(outcome.retry_after))
            if (yield self._store.set_throttle, stored_key, tat, outcome.tat):
                return
        raise LuciaError("AUTH_TOO_MANY_ATTEMPTS", retry_after=1)  # a stampede on one key: refuse


def _needs_store(auth: Auth, what: str) -> None:
    if auth._accounts is None:
        raise TypeError(f"{what} need a store that keeps tokens and codes (every bundled adapter does); "
                        "this Auth's stores do not")


class TokenKind(_Owned):
    """One kind of single-use token (``"verify-email"``, ``"reset-password"``)."""

    def __init__(self, auth: Auth, name: str, expires_in: int, issue_limit: Bucket) -> None:
        _needs_store(auth, "one-time tokens")
        super().__init__(auth)
        self.name = check_name(name, "token kind")
        self.expires_in = expires_in
        # One bucket per kind and user ("name:user"; names hold no ':'), whatever the name's length.
        self.issue_throttle = Throttle(auth, "issue-token", issue_limit)

    def __repr__(self) -> str:
        return f"<TokenKind {self.name!r} expires_in={self.expires_in}ms>"

    @flowmethod
    def issue(self, user_id: str, *, bound_to: str | None = None) -> Flow[str]:
        """A new token for ``user_id`` (URL-safe, 256 random bits), valid for ``expires_in``.

        ``bound_to`` (an email address, say) must be given again to
        :meth:`consume`. Issuing is throttled per user (``AUTH_TOO_MANY_ATTEMPTS``),
        so nobody can flood a mailbox; ``AUTH_INVALID_USER_ID`` for an unknown user.
        """
        yield from self._require_user(user_id)
        yield from Throttle.take.flow(self.issue_throttle, f"{self.name}:{user_id}")
        token = secrets.token_urlsafe(32)
        bound = None if bound_to is None else _digest(self.name, "bound", bound_to)
        row = TokenRow(_digest(self.name, token), self.name, user_id, self._auth._clock() + self.expires_in, bound)
        yield self._store.set_token, row
        return token

    @flowmethod
    def consume(self, token: str, *, bound_to: str | None = None) -> Flow[str]:
        """The user of ``token``, which is used up. ``AUTH_INVALID_TOKEN`` when unknown, used,
        malformed, of another kind, or bound to another value; ``AUTH_EXPIRED_TOKEN`` when expired.

        A well-formed token of this kind is used up by the first call that finds it, even
        when that call refuses it (expired, or a ``bound_to`` that does not match).
        """
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise LuciaError("AUTH_INVALID_TOKEN")
        row: TokenRow | None = yield self._store.pop_token, _digest(self.name, token)
        if row is None or row.kind != self.name:
            raise LuciaError("AUTH_INVALID_TOKEN")
        if self._auth._clock() > row.expires:
            raise LuciaError("AUTH_EXPIRED_TOKEN")
        if row.bound is not None or bound_to is not None:
            wanted = "" if bound_to is None else _digest(self.name, "bound", bound_to)
            if row.bound is None or not hmac.compare_digest(row.bound, wanted):
                raise LuciaError("AUTH_INVALID_TOKEN")
        return row.user_id

    @flowmethod
    def revoke_all(self, user_id: str) -> Flow[None]:
        """End every token of this kind the user holds."""
        if storable(user_id):
            yield self._store.delete_tokens, user_id, self.name


class CodeKind(_Owned):
    """One kind of short numeric code bound to a user (``"sign-in"``)."""

    def __init__(self, auth: Auth, name: str, expires_in: int, length: int, max_attempts: int,
                 issue_limit: Bucket) -> None:
        _needs_store(auth, "one-time codes")
        super().__init__(auth)
        self.name = check_name(name, "code kind")
        if type(length) is not int or not 4 <= length <= 12:
            raise ValueError(f"length must be 4 to 12 digits, not {length!r}")
        if type(max_attempts) is not int or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive int, not {max_attempts!r}")
        self.expires_in, self.length, self.max_attempts = expires_in, length, max_attempts
        self.issue_throttle = Throttle(auth, "issue-code", issue_limit)

    def __repr__(self) -> str:
        return f"<CodeKind {self.name!r} length={self.length} expires_in={self.expires_in}ms>"

    def _code_digest(self, user_id: str, code: str) -> str:
        return _digest(self.name, user_id, code)

    @flowmethod
    def issue(self, user_id: str) -> Flow[str]:
        """A new code of ``length`` digits for ``user_id``; the user's previous one of this kind ends.

        Throttled per user like :meth:`TokenKind.issue`.
        """
        yield from self._require_user(user_id)
        yield from Throttle.take.flow(self.issue_throttle, f"{self.name}:{user_id}")
        code = f"{secrets.randbelow(10 ** self.length):0{self.length}d}"
        row = CodeRow(self.name, user_id, self._code_digest(user_id, code), self._auth._clock() + self.expires_in)
        yield self._store.set_code, row
        return code

    @flowmethod
    def consume(self, user_id: str, code: str) -> Flow[None]:
        """Use up ``user_id``'s code if ``code`` is it; a wrong guess is ``AUTH_INVALID_TOKEN``.

        After ``max_attempts`` wrong guesses the code is void: ``AUTH_TOO_MANY_ATTEMPTS``
        until a new one is issued. ``AUTH_EXPIRED_TOKEN`` past its expiry;
        ``AUTH_INVALID_TOKEN`` when the user has none (or it was used).
        """
        if not storable(user_id) or not isinstance(code, str):
            raise LuciaError("AUTH_INVALID_TOKEN")
        guess = self._code_digest(user_id, code)
        for _ in range(_CAS_TRIES):
            row: CodeRow | None = yield self._store.get_code, self.name, user_id
            if row is None:
                raise LuciaError("AUTH_INVALID_TOKEN")
            if row.attempts >= self.max_attempts:
                raise LuciaError("AUTH_TOO_MANY_ATTEMPTS")
            if self._auth._clock() > row.expires:
                yield self._store.delete_code, row
                raise LuciaError("AUTH_EXPIRED_TOKEN")
            if not (yield self._store.count_code_attempt, row):
                continue  # a concurrent guess counted first: look again
            # Counted before compared: concurrent guesses never exceed the limit.
            if hmac.compare_digest(row.digest, guess):
                if (yield self._store.delete_code, row._replace(attempts=row.attempts + 1)):
                    return
            raise LuciaError("AUTH_INVALID_TOKEN")
        raise LuciaError("AUTH_TOO_MANY_ATTEMPTS")

    @flowmethod
    def revoke(self, user_id: str) -> Flow[None]:
        """End the user's code of this kind."""
        if storable(user_id):
            yield self._store.delete_codes, user_id, self.name


class _AsyncThrottle(AsyncFlowOwner):
    take = Throttle.take


class _AsyncTokenKind(AsyncFlowOwner):
    issue = TokenKind.issue
    consume = TokenKind.consume
    revoke_all = TokenKind.revoke_all


class _AsyncCodeKind(AsyncFlowOwner):
    issue = CodeKind.issue
    consume = CodeKind.consume
    revoke = CodeKind.revoke


Throttle._twin = _AsyncThrottle
TokenKind._twin = _AsyncTokenKind
CodeKind._twin = _AsyncCodeKind
