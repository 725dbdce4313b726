"""The ASGI shell: Lucia for Starlette, FastAPI, Django under an ASGI server, any ASGI app.

Theory of operation
-------------------
The same rules as the WSGI shell, from the same code: each ``http`` or
``websocket`` scope gets an :class:`AsyncAuthRequest` (a
:class:`~lucia_wsgi.request.RequestAuth`) at ``scope["lucia.auth"]``, whose
flows run on ``auth.aio`` (store calls never block the event loop; see
:class:`~lucia_wsgi.AsyncAuth`). The request's facts come from a small WSGI
environ built once from the scope (header bytes decoded as latin-1, as ASGI
specifies; repeated ``cookie`` headers joined with ``; ``, others with
``, ``; names with ``_`` dropped, as they cannot be told from dashed ones in
an environ), so the CSRF check, the cookie parser and the forwarded-header rules
are the pure functions the WSGI shell uses, unchanged.

The middleware only touches ``http.response.start`` (and a WebSocket's
``websocket.accept``), adding the queued cookies and ``Vary`` there; the body
is never buffered, so streaming works. A WebSocket handshake is checked like a
POST: browsers send cookies on cross-site WebSocket handshakes and
``SameSite=Lax`` does not stop them, so a handshake whose ``Origin`` is not
the site's is anonymous. Other scopes (``lifespan``) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .auth import AsyncAuth, Auth
from .auth_state import SessionUser
from .onetime import Throttle
from .request import ENVIRON_KEY, RequestAuth
from .routes import ApiRoutes, RouteAnswer, check_prefix
from .session import Session

__all__ = ["AsyncAuthRequest", "LuciaASGIMiddleware", "scope_environ"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SECURE = {"https", "wss"}


class AsyncAuthRequest(RequestAuth):
    """Lucia's ``AuthRequest`` for one ASGI request; the middleware puts one at ``scope["lucia.auth"]``.

    The same answers as :class:`~lucia_wsgi.AuthRequest`, awaited::

        session, user = await scope["lucia.auth"].validate_user()
    """

    __slots__ = ("aio",)

    def __init__(self, auth: Auth, environ: MutableMapping[str, Any], aio: AsyncAuth | None = None) -> None:
        super().__init__(auth, environ)
        #: Who runs the store calls: ``auth.aio``, or the ``AsyncAuth`` given to the middleware.
        self.aio = auth.aio if aio is None else aio

    async def validate(self) -> Session | None:
        """The request's session, renewed if idle; ``None`` when unauthenticated (see ``AuthRequest``)."""
        return (await self.validate_user()).session

    async def validate_user(self) -> SessionUser:
        """:meth:`validate` and the user, as ``(session, user)``; ``(None, None)`` if unauthenticated."""
        result = self._result
        if result is None:
            result = await self.aio._run_flow(self._validate_flow())
        return result

    async def sign_in(self, user_id: str) -> Session:
        """Create a session for ``user_id`` and queue its cookie (device details if configured)."""
        session: Session = await self.aio._run_flow(self._sign_in_flow(user_id))
        return session

    async def sign_out(self) -> None:
        """End the session the request's cookie holds (its device, and a session set in this
        request) and queue the blank cookie; ``AUTH_INVALID_REQUEST`` for a cross-site request."""
        await self.aio._run_flow(self._sign_out_flow())

    async def throttle_client(self, throttle: Throttle) -> None:
        """Take a token from ``throttle`` for this request's client address (see ``AuthRequest``)."""
        await self.aio._run_flow(self._throttle_client_flow(throttle))

    async def answer_route(self, routes: ApiRoutes, route: str, method: str) -> RouteAnswer:
        """The answer of the auth route ``route`` (``/user``, ...) for this request, to send yourself."""
        answer: RouteAnswer = await self.aio._run_flow(self._route_flow(routes, route, method))
        return answer


def _text(value: object) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def scope_environ(scope: Scope) -> dict[str, Any]:
    """The WSGI environ keys Lucia reads, from an ASGI scope; never raises on a hostile scope."""
    kind = scope.get("type")
    scheme = _text(scope.get("scheme") or ("ws" if kind == "websocket" else "http")).lower()
    root = _text(scope.get("root_path") or "")
    path = _text(scope.get("path") or "")
    if root and path.startswith(root):
        path = path[len(root):]
    environ: dict[str, Any] = {
        # A WebSocket handshake is a GET on the wire, but is checked like a POST;
        # a missing method is no method (not GET): only GET and HEAD are safe.
        "REQUEST_METHOD": _text(scope.get("method") or "") if kind != "websocket" else "WEBSOCKET",
        "SCRIPT_NAME": root,
        "PATH_INFO": path,
        "QUERY_STRING": _text(scope.get("query_string") or b""),
        "wsgi.url_scheme": "https" if scheme in _SECURE else "http",
    }
    server = scope.get("server")
    if isinstance(server, (tuple, list)) and len(server) == 2:
        environ["SERVER_NAME"], environ["SERVER_PORT"] = _text(server[0]), "" if server[1] is None else str(server[1])
    client = scope.get("client")
    if isinstance(client, (tuple, list)) and client:
        environ["REMOTE_ADDR"] = _text(client[0])
    headers = scope.get("headers")
    for pair in headers if isinstance(headers, Iterable) else ():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            continue
        name = _text(pair[0]).lower()
        if "_" in name:
            # x_forwarded_host would land on X-Forwarded-Host's key, past a proxy
            # that sets only the dashed one: dropped, as gunicorn and waitress do.
            continue
        key = name.upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
        value = _text(pair[1])
        if key in environ:
            value = environ[key] + ("; " if name == "cookie" else ", ") + value
        environ[key] = value
    return environ


def _decoded(headers: Iterable[Any]) -> list[tuple[str, str]]:
    return [(_text(name), _text(value)) for name, value in headers]


def _encoded(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class LuciaASGIMiddleware:
    """Lucia for any ASGI application.

    Puts an :class:`AsyncAuthRequest` at ``scope["lucia.auth"]`` (HTTP and
    WebSocket), answers the auth routes under ``api_prefix`` and adds the
    cookies each request queued to its response::

        auth = lucia(adapter=AsyncPostgresAdapter(dsn), env="PROD")
        app = LuciaASGIMiddleware(app, auth)

        # in an endpoint:
        session, user = await request.scope["lucia.auth"].validate_user()

    ``auth`` may also be an :class:`~lucia_wsgi.AsyncAuth` of it, to choose the
    worker threads synchronous stores run in: ``AsyncAuth(auth, max_threads=4)``
    (``auth.aio``, the default, has ``min(32, CPUs + 4)``).
    """

    def __init__(self, app: ASGIApp, auth: Auth | AsyncAuth, *, api_prefix: str = "/api/auth") -> None:
        self.app = app
        self.aio = auth if isinstance(auth, AsyncAuth) else auth.aio
        self.auth = self.aio.auth
        self.api_prefix = check_prefix(api_prefix)
        self.routes = ApiRoutes(self.auth, prefix=api_prefix)

    def __repr__(self) -> str:
        return f"<LuciaASGIMiddleware {self.app!r} api_prefix={self.api_prefix!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        environ = scope_environ(scope)
        request = AsyncAuthRequest(self.auth, environ, self.aio)
        scope = {**scope, ENVIRON_KEY: request}
        if kind == "http" and self.routes.owns(environ["PATH_INFO"]):
            flow = self.routes.answer(request, self.routes.route_of(environ["PATH_INFO"]), environ["REQUEST_METHOD"])
            await _send_answer(await self.aio._run_flow(flow), request, send)
            return
        await self.app(scope, receive, _with_session_headers(request, send, kind))


def _with_session_headers(request: RequestAuth, send: Send, kind: str) -> Send:
    start = "http.response.start" if kind == "http" else "websocket.accept"

    async def send_with_headers(message: Message) -> None:
        if message.get("type") == start:
            if request.session_read or request.queued_cookies:
                headers = _decoded(message.get("headers") or ())
                finished = request.finish_headers(headers)
                if kind == "websocket":  # a handshake answer carries cookies, not cache headers
                    finished = [*headers, *((n, v) for n, v in finished[len(headers):] if n == "Set-Cookie")]
                message = {**message, "headers": _encoded(finished)}
            else:
                request.headers_sent = True
        await send(message)

    return send_with_headers


async def _send_answer(answer: RouteAnswer, request: RequestAuth, send: Send) -> None:
    headers = request.finish_headers(answer.headers)
    await send({"type": "http.response.start", "status": answer.status, "headers": _encoded(headers)})
    await send({"type": "http.response.body", "body": answer.body})
