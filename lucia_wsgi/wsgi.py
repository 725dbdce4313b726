"""The WSGI shell: an :class:`AuthRequest` per request, :class:`LuciaMiddleware` around an app.

Theory of operation
-------------------
The middleware runs on every request, so a pass-through request costs one
small object and one closure: nothing is parsed until the application calls
:meth:`AuthRequest.validate`, and the response body is never touched (the
application's iterable is returned as it is, so the server closes it).

Cookies travel through ``start_response``: the closure handed to the
application appends the ``Set-Cookie`` headers the request queued (one header
per cookie) and ``Vary: Cookie`` when the session was read, computed at the
moment ``start_response`` is called. An application that calls
``validate()``/``set_session()`` only after that (while its body is being
iterated) is too late: headers are gone by then, so such cookies are dropped,
and ``validate()`` then reads the session without renewing it (a renewal the
browser never hears of would log the user out once the grace window ends).
When the application raises, the exception propagates untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .auth import Auth, SessionUser
from .cookies import Cookie
from .errors import LuciaError
from .session import Session

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .routes import ApiRoutes

__all__ = ["AuthRequest", "LuciaMiddleware", "ENVIRON_KEY", "cookie_start_response", "check_prefix"]

#: Where the middleware puts each request's :class:`AuthRequest`.
ENVIRON_KEY = "lucia.auth"

_ANONYMOUS = SessionUser(None, None)


class AuthRequest:
    """Lucia's ``AuthRequest`` for one WSGI request: read and set its session.

    The middleware puts one at ``environ["lucia.auth"]``; frameworks may also
    build one with ``AuthRequest(auth, environ)`` and send
    :meth:`response_headers` themselves.
    """

    __slots__ = ("_cookies", "_explicit", "_read", "_result", "auth", "environ", "headers_sent")

    def __init__(self, auth: Auth, environ: WSGIEnvironment) -> None:
        self.auth = auth
        self.environ = environ
        self._result: SessionUser | None = None
        self._cookies: list[Cookie] | None = None
        self._explicit = False
        self._read = False
        #: Set once the response headers are on their way: a cookie can no longer be set.
        self.headers_sent = False

    def __repr__(self) -> str:
        return f"<AuthRequest {self.environ.get('REQUEST_METHOD')} {self.environ.get('PATH_INFO')!r}>"

    def validate(self) -> Session | None:
        """The request's session, renewed if idle; ``None`` when unauthenticated.

        A renewed session queues its new cookie. An invalid, expired or
        unknown session id queues a blank cookie (only when the request
        carried one) and gives ``None``. A request failing the CSRF check gives
        ``None`` and leaves the cookie alone. Store failures propagate and
        leave the cookie alone: an outage must not log users out. Later calls
        return the first answer without asking the store again.
        """
        return self.validate_user().session

    def validate_user(self) -> SessionUser:
        """:meth:`validate` and the user, as ``(session, user)``; ``(None, None)`` if unauthenticated."""
        result = self._result
        if result is None:
            self._read = True
            result = self._result = self._validate()
        return result

    def _validate(self) -> SessionUser:
        try:
            session_id = self.auth.validate_request_headers(self.environ)
        except LuciaError:
            # A cross-site request: unauthenticated, but the cookie stays, or
            # any page could log its visitors out.
            return _ANONYMOUS
        if not session_id:
            return _ANONYMOUS
        if self.headers_sent:
            # Too late for a cookie: renewing now would hand the browser a
            # session it never hears of and cut its old one to the grace window.
            try:
                return self.auth.get_session_user(session_id)
            except LuciaError:
                return _ANONYMOUS
        try:
            result = self.auth.validate_session_user(session_id)
        except LuciaError:
            self._queue(None)
            return _ANONYMOUS
        if result.session is not None and result.session.is_fresh:
            self._queue(result.session)
        return result

    def _queue(self, session: Session | None) -> None:
        if not self._explicit:  # the application's own set_session() wins
            self._cookies = self.auth.create_session_cookies(session)

    def set_session(self, session: Session | None) -> None:
        """Queue the cookies storing ``session``, or deleting them for ``None``.

        ``None`` does not invalidate the session in the store (use
        :meth:`Auth.invalidate_session`). The last call wins, and it wins over
        the cookie :meth:`validate` would queue.
        """
        self._explicit = True
        self._cookies = self.auth.create_session_cookies(session)

    @property
    def queued_cookies(self) -> list[Cookie]:
        """The cookies the response will set."""
        return list(self._cookies or ())

    @property
    def session_read(self) -> bool:
        """Whether the session was read (so the response depends on the cookie)."""
        return self._read

    def response_headers(self) -> list[tuple[str, str]]:
        """The headers to add to the response: one ``Set-Cookie`` per cookie, ``Vary: Cookie`` if read."""
        headers = [("Set-Cookie", cookie.serialize()) for cookie in self._cookies or ()]
        if self._read:
            headers.append(("Vary", "Cookie"))
        return headers


def _varies_on_cookie(headers: list[tuple[str, str]]) -> bool:
    for name, value in headers:
        if name.lower() == "vary":
            tokens = {token.strip().lower() for token in value.split(",")}
            if "cookie" in tokens or "*" in tokens:
                return True
    return False


def _add_headers(headers: list[tuple[str, str]], request: AuthRequest) -> list[tuple[str, str]]:
    extra = request.response_headers()
    if request._read and _varies_on_cookie(headers):
        extra.pop()  # the application already says Vary: Cookie
    return [*headers, *extra]  # a copy: the application may reuse its list


def cookie_start_response(request: AuthRequest, start_response: StartResponse) -> StartResponse:
    """Wrap ``start_response`` so it appends ``request``'s headers when called."""

    def _start_response(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        request.headers_sent = True
        if request._cookies or request._read:
            headers = _add_headers(headers, request)
        if exc_info is None:
            return start_response(status, headers)
        return start_response(status, headers, exc_info)

    return _start_response


def check_prefix(prefix: str) -> str:
    """Validate a URL prefix such as ``/api/auth``: leading ``/``, no trailing ``/``."""
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix must start with '/' and not end with it, not {prefix!r}")
    if any(c in prefix for c in "?#") or any(c.isspace() for c in prefix):
        raise ValueError(f"prefix must be a plain path, not {prefix!r}")
    return prefix


class LuciaMiddleware:
    """Lucia for any WSGI application.

    Puts an :class:`AuthRequest` at ``environ["lucia.auth"]``, answers the
    auth routes under ``api_prefix`` (see :func:`~lucia_wsgi.handle_api_routes`)
    and adds the cookies each request queued to its response::

        auth = lucia(adapter=SQLiteAdapter("app.db"), env="PROD")
        app = LuciaMiddleware(app, auth)

        # in a view:
        session, user = environ["lucia.auth"].validate_user()

    A path is under the prefix when it equals it or starts with prefix + ``/``.
    """

    def __init__(self, app: WSGIApplication, auth: Auth, *, api_prefix: str = "/api/auth") -> None:
        from .routes import ApiRoutes  # routes builds on AuthRequest above

        self.app = app
        self.auth = auth
        self.api_prefix = check_prefix(api_prefix)
        self.routes: ApiRoutes = ApiRoutes(auth, prefix=api_prefix)
        self._under_prefix = api_prefix + "/"

    def __repr__(self) -> str:
        return f"<LuciaMiddleware {self.app!r} api_prefix={self.api_prefix!r}>"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = environ[ENVIRON_KEY] = AuthRequest(self.auth, environ)
        start = cookie_start_response(request, start_response)
        path = environ.get("PATH_INFO", "")
        if path == self.api_prefix or path.startswith(self._under_prefix):
            return self.routes.respond(request, environ, start)
        return self.app(environ, start)
