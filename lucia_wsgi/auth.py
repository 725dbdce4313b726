"""``Auth``: Lucia's user and session API, the imperative shell around the core.

``Auth`` is the only object that reads the clock, draws random ids and talks to
the stores; every decision it takes is a call into the pure modules
(:mod:`~lucia_wsgi.session`, :mod:`~lucia_wsgi.cookies`, :mod:`~lucia_wsgi.csrf`).
Its store work is written once, as flows (:mod:`~lucia_wsgi.flow`): called on
``auth`` the methods return their result, called on ``auth.aio`` they return
a coroutine, for asyncio applications.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from .auth_state import SessionUser
from .config import Config, build_config, duration_ms, parse_bucket
from .cookies import Cookie, read_cookie, session_cookies
from .csrf import is_request_allowed
from .errors import LuciaError
from .flow import AsyncFlowOwner, AsyncRunner, Flow, run
from .onetime import CodeKind, Throttle, TokenKind
from .session import Session
from .session_api import GeneratedSessionId, SessionFlows
from .user_api import UserFlows, _provider_id  # noqa: F401 - _provider_id: kept importable here

__all__ = ["AsyncAuth", "Auth", "GeneratedSessionId", "SessionUser", "lucia"]

#: Issuing tokens or codes, per user: 3 at once, then one every 5 minutes.
DEFAULT_ISSUE_LIMIT: Mapping[str, int | timedelta] = {"capacity": 3, "refill_every": timedelta(minutes=5)}


def _is_async_store(adapter: object) -> bool:
    """Whether a store's methods return awaitables: ``async def`` ones, or the store says so
    (``asyncio_store = True``: the asyncio adapters' methods are shared code returning coroutines)."""
    if getattr(adapter, "asyncio_store", False) is True:
        return True
    return inspect.iscoroutinefunction(getattr(adapter, "get_session", None)) or inspect.iscoroutinefunction(
        getattr(adapter, "get_user", None))


class Auth(UserFlows, SessionFlows):
    """Users, passwords and sessions over one store (or a user and a session store).

    Build it with :func:`lucia`. Methods raise :class:`LuciaError` with Lucia's
    codes for expected failures; store failures propagate unchanged. For
    asyncio code, the same methods are awaitable on :attr:`aio`.
    """

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        #: The bucket per provider id ``authenticate_user`` takes from (``None``: off).
        self.login_throttle: Throttle | None = (
            None if config.login_throttle is None else Throttle(self, "login", config.login_throttle))
        self._async_stores = [store for store in {id(s): s for s in (self._users, self._sessions)}.values()
                              if _is_async_store(store)]
        self._aio: AsyncAuth | None = None
        if not self._async_stores:  # the hot path: run flows directly, no refusal to check
            self._run_flow = run  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return f"<Auth env={self.config.env} users={self._users!r} sessions={self._sessions!r}>"

    def _run_flow(self, flow: Flow[Any]) -> Any:
        # Only reached with an asyncio store: without one, __init__ puts flow.run in its place.
        flow.close()
        raise TypeError(f"{self._async_stores[0]!r} is an asyncio store: await the method on auth.aio")

    @property
    def aio(self) -> AsyncAuth:
        """The same API as awaitable methods, run without blocking the event loop."""
        if self._aio is None:
            self._aio = AsyncAuth(self)
        return self._aio

    # throttles, one-time tokens and codes

    def throttle(self, name: str, *, capacity: int, refill_every: int | timedelta) -> Throttle:
        """A token bucket per key in the store, e.g. per client address for a sign-up form."""
        bucket = {"capacity": capacity, "refill_every": refill_every}
        return Throttle(self, name, parse_bucket(f"throttle {name!r}", bucket, self._clock()))

    def tokens(self, name: str, *, expires_in: int | timedelta,
               issue_limit: Mapping[str, int | timedelta] = DEFAULT_ISSUE_LIMIT) -> TokenKind:
        """Single-use link tokens of kind ``name`` (see :class:`~lucia_wsgi.onetime.TokenKind`).

        ``issue_limit`` throttles issuing per user (default: 3 at once, then one every 5 minutes).
        """
        now = self._clock()
        return TokenKind(self, name, duration_ms("expires_in", expires_in, now=now),
                         parse_bucket("issue_limit", issue_limit, now))

    def codes(self, name: str, *, expires_in: int | timedelta, length: int = 8, max_attempts: int = 5,
              issue_limit: Mapping[str, int | timedelta] = DEFAULT_ISSUE_LIMIT) -> CodeKind:
        """Short numeric codes of kind ``name`` (see :class:`~lucia_wsgi.onetime.CodeKind`)."""
        now = self._clock()
        return CodeKind(self, name, duration_ms("expires_in", expires_in, now=now), length, max_attempts,
                        parse_bucket("issue_limit", issue_limit, now))

    # requests and cookies (pure: no store)

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


class AsyncAuth(AsyncFlowOwner):
    """``auth.aio``: every store method of :class:`Auth`, awaitable.

    Stores with blocking drivers (``SQLiteAdapter``, ``PostgresAdapter``...)
    run in a bounded pool of worker threads (``max_threads``, default
    ``min(32, CPUs + 4)``), one thread hop per call; asyncio stores
    (``AsyncPostgresAdapter``, ``AsyncRedisSessionAdapter``) are awaited on
    the loop. Password hashing always runs in the pool.
    """

    def __init__(self, auth: Auth, *, max_threads: int | None = None) -> None:
        workers = max_threads or min(32, (os.cpu_count() or 1) + 4)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lucia_wsgi")
        stores = {id(store): store for store in (auth._users, auth._sessions)}
        blocking = frozenset(key for key, store in stores.items() if not _is_async_store(store))
        super().__init__(auth, AsyncRunner(self.executor, blocking, all_blocking=len(blocking) == len(stores)))
        self.auth = auth

    def __repr__(self) -> str:
        return f"<AsyncAuth of {self.auth!r}>"

    create_user = Auth.create_user
    authenticate_user = Auth.authenticate_user
    get_user = Auth.get_user
    get_user_by_provider_id = Auth.get_user_by_provider_id
    update_user_attributes = Auth.update_user_attributes
    update_user_password = Auth.update_user_password
    update_user_provider_id = Auth.update_user_provider_id
    delete_user = Auth.delete_user
    create_session = Auth.create_session
    get_session = Auth.get_session
    get_session_user = Auth.get_session_user
    validate_session = Auth.validate_session
    validate_session_user = Auth.validate_session_user
    renew_session = Auth.renew_session
    invalidate_session = Auth.invalidate_session
    invalidate_all_user_sessions = Auth.invalidate_all_user_sessions
    invalidate_device = Auth.invalidate_device
    get_user_sessions = Auth.get_user_sessions
    delete_dead_user_sessions = Auth.delete_dead_user_sessions


def lucia(**options: Any) -> Auth:
    """Configure lucia_wsgi: ``lucia(adapter=SQLiteAdapter("app.db"), env="DEV")``.

    See :func:`lucia_wsgi.config.build_config` for every option. Bad options
    raise ``TypeError``/``ValueError`` here, not at the first request.
    """
    return Auth(build_config(**options))
