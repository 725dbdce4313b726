"""The WSGI shell: an :class:`AuthRequest` per request, :class:`LuciaMiddleware` around an app.

Theory of operation
-------------------
The middleware runs on every request, so a pass-through request costs one
small object and one closure: nothing is parsed until the application calls
:meth:`~lucia_wsgi.AuthRequest.validate`, and the response body is never touched (the
application's iterable is returned as it is, so the server closes it).

Cookies travel through ``start_response``: the closure handed to the
application adds the session's headers (see :mod:`lucia_wsgi.headers`) at
the moment ``start_response`` is called. An application that calls
``validate()``/``set_session()`` only after that (while its body is being
iterated) is too late: headers are gone by then, so such cookies are dropped,
and ``validate()`` then reads the session without renewing it.
When the application raises, the exception propagates untouched.

Every rule lives in :mod:`lucia_wsgi.request` and :mod:`lucia_wsgi.routes`,
shared with the ASGI shell; this module only runs their flows and speaks WSGI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .auth import Auth
from .auth_state import SessionUser
from .request import ENVIRON_KEY, RequestAuth
from .routes import ApiRoutes, RouteAnswer, check_prefix
from .session import Session

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .onetime import Throttle

__all__ = ["AuthRequest", "LuciaMiddleware", "ENVIRON_KEY", "check_prefix", "cookie_start_response",
           "handle_api_routes"]


class AuthRequest(RequestAuth):
    """Lucia's ``AuthRequest`` for one WSGI request: read and set its session.

    The middleware puts one at ``environ["lucia.auth"]``; frameworks may also
    build one with ``AuthRequest(auth, environ)`` and send
    :meth:`response_headers` themselves.
    """

    __slots__ = ()

    def validate(self) -> Session | None:
        """The request's session, renewed if idle; ``None`` when unauthenticated.

        A renewed session queues its new cookie. An invalid, expired or
        unknown session id queues a blank cookie (only when the request
        carried one) and gives ``None``; a renewed id that is no longer
        usable gives ``None`` and queues nothing. A request failing the CSRF
        check gives ``None`` and leaves the cookie alone. Store failures
        propagate and leave the cookie alone: an outage must not log users
        out. Later calls return the first answer without asking the store
        again; after :meth:`set_session`, they answer with that session.
        """
        return self.validate_user().session

    def validate_user(self) -> SessionUser:
        """:meth:`validate` and the user, as ``(session, user)``; ``(None, None)`` if unauthenticated."""
        result = self._result
        if result is None:
            result = self.auth._run_flow(self._validate_flow())
        return result

    def sign_in(self, user_id: str) -> Session:
        """Create a session for ``user_id`` and queue its cookie (device details if configured)."""
        session: Session = self.auth._run_flow(self._sign_in_flow(user_id))
        return session

    def sign_out(self) -> None:
        """End the session the request's cookie holds (its device, and a session set in this
        request) and queue the blank cookie; ``AUTH_INVALID_REQUEST`` for a cross-site request."""
        self.auth._run_flow(self._sign_out_flow())

    def throttle_client(self, throttle: Throttle) -> None:
        """Take a token from ``throttle`` for this request's client address (see :meth:`client_address`);
        ``AUTH_TOO_MANY_ATTEMPTS`` (with ``retry_after``) when its bucket is empty. For log-in and
        sign-up views: ``auth.throttle("login-ip", capacity=30, refill_every=timedelta(seconds=10))``.
        Requests with no address at all share the bucket ``"unknown"``."""
        self.auth._run_flow(self._throttle_client_flow(throttle))

    def answer_route(self, routes: ApiRoutes, route: str, method: str) -> RouteAnswer:
        """The answer of the auth route ``route`` (``/user``, ...) for this request, to send yourself."""
        answer: RouteAnswer = self.auth._run_flow(self._route_flow(routes, route, method))
        return answer


def cookie_start_response(request: RequestAuth, start_response: StartResponse) -> StartResponse:
    """Wrap ``start_response`` so it adds ``request``'s session headers when called."""

    def _start_response(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        headers = request.finish_headers(headers)
        if exc_info is None:
            return start_response(status, headers)
        return start_response(status, headers, exc_info)

    return _start_response


def _send(answer: RouteAnswer, start_response: StartResponse) -> list[bytes]:
    start_response(answer.status_line, answer.headers)
    return [answer.body] if answer.body else []


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
        self.app = app
        self.auth = auth
        self.api_prefix = check_prefix(api_prefix)
        self.routes = ApiRoutes(auth, prefix=api_prefix)

    def __repr__(self) -> str:
        return f"<LuciaMiddleware {self.app!r} api_prefix={self.api_prefix!r}>"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = environ[ENVIRON_KEY] = AuthRequest(self.auth, environ)
        start = cookie_start_response(request, start_response)
        path = environ.get("PATH_INFO", "")
        if self.routes.owns(path):
            flow = self.routes.answer(request, self.routes.route_of(path), environ.get("REQUEST_METHOD", ""))
            return _send(self.auth._run_flow(flow), start)
        return self.app(environ, start)


class ApiRoutesApp:
    """The WSGI application :func:`~lucia_wsgi.handle_api_routes` returns."""

    def __init__(self, auth: Auth, *, prefix: str = "/api/auth") -> None:
        self.auth = auth
        self.routes = ApiRoutes(auth, prefix=prefix)
        self.prefix = self.routes.prefix

    def __repr__(self) -> str:
        return f"<ApiRoutesApp prefix={self.prefix!r}>"

    def route_of(self, environ: WSGIEnvironment) -> str:
        """The route a request names: its full path under the prefix, or, mounted by a
        dispatcher below the prefix (``SCRIPT_NAME`` ending with it), its ``PATH_INFO``."""
        path = environ.get("PATH_INFO", "")
        if path in self.routes.routes and str(environ.get("SCRIPT_NAME", "")).endswith(self.prefix):
            return str(path)
        route = self.routes.route_of(path)
        return route if route else self.routes.route_of(environ.get("SCRIPT_NAME", "") + path)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = environ[ENVIRON_KEY] = AuthRequest(self.auth, environ)
        flow = self.routes.answer(request, self.route_of(environ), environ.get("REQUEST_METHOD", ""))
        return _send(self.auth._run_flow(flow), cookie_start_response(request, start_response))


def handle_api_routes(auth: Auth, *, prefix: str = "/api/auth") -> ApiRoutesApp:
    """The auth routes under ``prefix`` as a WSGI application (what the middleware mounts).

    It answers at the full path (``/api/auth/user``) or, mounted by a
    dispatcher with ``SCRIPT_NAME`` ending in ``prefix``, at ``PATH_INFO``
    (``/user``). Standalone, it builds its own :class:`AuthRequest` and sets
    its cookies.
    """
    return ApiRoutesApp(auth, prefix=prefix)
