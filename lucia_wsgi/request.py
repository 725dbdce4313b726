"""One request's session, shared by the WSGI and ASGI shells.

:class:`RequestAuth` holds what a request knows about its session (the
answer once read, the cookies queued) and the flows that read or change it;
``AuthRequest`` (:mod:`lucia_wsgi.wsgi`) runs those flows synchronously,
``AsyncAuthRequest`` (:mod:`lucia_wsgi.asgi`) awaits them. Every rule (CSRF,
which cookie a validation queues, the application's own ``set_session``
winning) is here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .auth_state import SessionUser
from .cookies import Cookie
from .errors import LuciaError
from .forwarded import client_address
from .headers import Headers, session_headers
from .session import Session
from .session_api import CookieAction

if TYPE_CHECKING:
    from .auth import Auth
    from .flow import Flow
    from .onetime import Throttle
    from .routes import ApiRoutes as ApiRoutesLike

__all__ = ["ANONYMOUS", "ENVIRON_KEY", "RequestAuth"]

#: Where the middlewares put each request's request object (``environ`` / ``scope``).
ENVIRON_KEY = "lucia.auth"
#: ``validate_user()``'s answer without a session: ``SessionUser(None, None)``.
ANONYMOUS = SessionUser(None, None)
_MAX_USER_AGENT = 512


class RequestAuth:
    """The session state of one request; see :class:`lucia_wsgi.AuthRequest` for its API.

    ``environ`` is a WSGI environ (the ASGI shell builds one from the scope's
    headers), read only for the cookie, the CSRF check and device details.
    """

    __slots__ = ("_cookies", "_explicit", "_read", "_result", "auth", "environ", "headers_sent")

    def __init__(self, auth: Auth, environ: Mapping[str, Any]) -> None:
        self.auth = auth
        self.environ = environ
        self._result: SessionUser | None = None
        self._cookies: list[Cookie] | None = None
        self._explicit: tuple[Session | None] | None = None  # set_session's session, boxed
        self._read = False
        #: Set once the response headers are on their way: a cookie can no longer be set.
        self.headers_sent = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.environ.get('REQUEST_METHOD')} {self.environ.get('PATH_INFO')!r}>"

    # reading the session

    def _validate_flow(self) -> Flow[SessionUser]:
        """The request's session and user, read once: what ``validate_user()`` returns."""
        if self._result is not None:
            return self._result
        self._read = True
        if self._explicit is not None:
            self._result = yield from self._explicit_user()
            return self._result
        try:
            session_id = self.auth.validate_request_headers(self.environ)
        except LuciaError:
            # A cross-site request: anonymous, but the cookie stays, or any
            # page could log its visitors out.
            session_id = ""
        if not session_id:
            self._result = ANONYMOUS
            return ANONYMOUS
        # (self._result stays None until the answer: a store failure below leaves none behind)
        # Once headers are sent no cookie can follow: read without renewing,
        # or the browser would never hear of its new session.
        outcome = yield from self.auth._validate(session_id, with_user=True, renew=not self.headers_sent)
        if outcome.cookie is not CookieAction.KEEP:
            self._queue(outcome.session if outcome.cookie is CookieAction.SET else None)
        session, user = outcome.session, outcome.user
        result = (ANONYMOUS if session is None or user is None  # (tuple.__new__: see SessionFlows._validate)
                  else tuple.__new__(SessionUser, (session, self.auth._transform(user))))
        self._result = result
        return result

    def _explicit_user(self) -> Flow[SessionUser]:
        assert self._explicit is not None
        session = self._explicit[0]
        if session is None:
            return ANONYMOUS
        row = yield self.auth._users.get_user, session.user_id
        return SessionUser(session, None if row is None else self.auth._transform(row))

    # setting the session

    def _queue(self, session: Session | None) -> None:
        if self._explicit is None:  # the application's own set_session() wins
            self._cookies = self.auth.create_session_cookies(session)

    def set_session(self, session: Session | None) -> None:
        """Queue the cookies storing ``session``, or deleting them for ``None``.

        ``None`` does not invalidate the session in the store (use
        :meth:`lucia_wsgi.Auth.invalidate_session`). The last call wins, and it
        wins over the cookie :meth:`~lucia_wsgi.AuthRequest.validate` would
        queue; :meth:`~lucia_wsgi.AuthRequest.validate` and
        :meth:`~lucia_wsgi.AuthRequest.validate_user` then answer with this
        session (and its user).
        """
        self._explicit = (session,)
        self._result = None
        self._cookies = self.auth.create_session_cookies(session)

    def _sign_in_flow(self, user_id: str) -> Flow[Session]:
        details: dict[str, str | None] = {}
        if self.auth.config.device_details:
            agent = self.environ.get("HTTP_USER_AGENT")
            details = {"user_agent": agent[:_MAX_USER_AGENT] if isinstance(agent, str) else None,
                       "ip_address": self.client_address()}
        session: Session = yield from type(self.auth).create_session.flow(self.auth, user_id, **details)
        self.set_session(session)
        return session

    def _sign_out_flow(self) -> Flow[None]:
        """End the cookie's session (and one set in this request) and queue the blank cookie.

        A cross-site request raises ``AUTH_INVALID_REQUEST`` and ends nothing,
        so no page elsewhere can sign a visitor out.
        """
        session_id = self.auth.validate_request_headers(self.environ)
        signed_in = None if self._explicit is None or self._explicit[0] is None else self._explicit[0].session_id
        for doomed in dict.fromkeys(sid for sid in (session_id, signed_in) if sid):
            yield from type(self.auth).invalidate_session.flow(self.auth, doomed)
        if session_id or signed_in:
            self.set_session(None)

    def client_address(self) -> str | None:
        """The client's address: ``REMOTE_ADDR``, or with ``trust_proxy`` the forwarded one (rightmost)."""
        return client_address(self.environ, trust_proxy=self.auth.config.csrf.trust_proxy)

    def _throttle_client_flow(self, throttle: Throttle) -> Flow[None]:
        address = self.client_address()
        yield from type(throttle).take.flow(throttle, address or "unknown")

    def _route_flow(self, routes: ApiRoutesLike, route: str, method: str) -> Flow[Any]:
        return routes.answer(self, route, method)

    # the response

    @property
    def queued_cookies(self) -> list[Cookie]:
        """The cookies the response will set."""
        return list(self._cookies or ())

    @property
    def session_read(self) -> bool:
        """Whether the session was read (so the response depends on the cookie)."""
        return self._read

    def response_headers(self) -> Headers:
        """The headers to add to a response that has none of its own yet.

        One ``Set-Cookie`` per queued cookie and then ``Cache-Control: private``
        (a response setting a session cookie must not be stored by shared
        caches), and ``Vary: Cookie`` if the session was read. A response with
        its own ``Cache-Control`` should go through :meth:`finish_headers`
        instead, which rewrites that header to ``private``.
        """
        return session_headers([], self._cookies or (), vary=self._read)

    def finish_headers(self, headers: Headers) -> Headers:
        """The application's ``headers`` with this request's session headers (see :mod:`lucia_wsgi.headers`)."""
        self.headers_sent = True
        if self._cookies or self._read:
            return session_headers(headers, self._cookies or (), vary=self._read)
        return headers
