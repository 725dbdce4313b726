"""One request, two shells: the WSGI and the ASGI middleware driven with the same bytes.

A *page* is an application written once for both shells::

    async def page(r: Inner) -> Reply:
        session, user = await r.validate_user()
        return Reply(200, [("Content-Type", "text/plain")], b"anonymous" if user is None else b"hi")

:class:`Inner` gives it the request and the lucia request with awaitable
methods. Under WSGI they are ``AuthRequest``'s synchronous ones (the page's
coroutine never suspends, so it is run to its end on the spot); under ASGI
they are ``AsyncAuthRequest``'s, awaited on the shell's event loop.

A :class:`Req` is sent byte for byte: the WSGI shell builds the environ a
server would (header bytes read as latin-1, repeated headers joined as the
middleware joins them, wsgiref's validator around the app and the
middleware for every request it accepts), the ASGI shell the scope (raw
header bytes, lowercase names) and a receive/send pair that checks the
message order. Both answer an :class:`Answer`: the status, the headers as
sent (names and order kept) and the body (none for HEAD, as servers do), so
tests compare the two shells' answers with ``==``.

httpx is not the driver here: it upper-cases methods, removes dot segments,
adds Host/Accept/Content-Length headers and its WSGI transport refuses
non-ASCII headers, so "the same request" could not be sent to both.
``tests/test_asgi.py`` checks this harness answers what
``httpx.ASGITransport`` answers.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_to_bytes
from wsgiref.validate import validator

from lucia_wsgi import Auth, AuthRequest, LuciaMiddleware, testing
from lucia_wsgi.asgi import AsyncAuthRequest, LuciaASGIMiddleware

__all__ = ["SHELLS", "Answer", "AsgiShell", "Client", "Inner", "Page", "Reply", "Req", "Shell", "WsgiShell",
           "WsgiStack", "asgi_page", "call_asgi", "call_websocket", "run_sync", "scope_of", "wsgi_page"]

HeaderValue = str | bytes
Message = dict[str, Any]
# The methods wsgiref's validator knows; it warns (an error here) on any other.
_VALIDATOR_METHODS = frozenset({"GET", "HEAD", "POST", "OPTIONS", "PATCH", "PUT", "DELETE", "TRACE"})


@dataclass(frozen=True)
class Req:
    """One HTTP request, as a client put it on the wire.

    ``path`` is the request target's path (percent-escapes allowed; under
    ``root_path`` when mounted); ``host`` is the ``Host`` header (``None``:
    none sent); header values given as ``str`` are sent as their UTF-8 bytes.
    """

    method: str = "GET"
    path: str = "/"
    headers: Sequence[tuple[str, HeaderValue]] = ()
    body: bytes = b""
    query: str = ""
    scheme: str = "http"
    host: str | None = "localhost"
    server: tuple[str, int] | None = ("localhost", 80)
    client: tuple[str, int] | None = ("127.0.0.1", 50_000)
    root_path: str = ""

    def wire_headers(self) -> list[tuple[bytes, bytes]]:
        """The request headers as bytes, names lowercased, ``Host`` and ``Content-Length`` first."""
        given = [(name.lower().encode("latin-1"), value if isinstance(value, bytes)
                  else value.encode("utf-8", "surrogatepass")) for name, value in self.headers]
        names = {name for name, _ in given}
        first: list[tuple[bytes, bytes]] = []
        if self.host is not None and b"host" not in names:
            first.append((b"host", self.host.encode("utf-8")))
        if self.body and b"content-length" not in names:
            first.append((b"content-length", str(len(self.body)).encode()))
        return first + given


@dataclass(frozen=True)
class Answer:
    """A response as the client saw it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def getall(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        values = self.getall(name)
        return values[0] if values else None

    @property
    def set_cookies(self) -> list[str]:
        return self.getall("Set-Cookie")

    @property
    def auth_cookies(self) -> list[str]:
        return [value for value in self.set_cookies if value.startswith("auth_session=")]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What a page answers."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = (("Content-Type", "text/plain"),)
    body: bytes = b""


async def _settled(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Inner:
    """A page's view of its request: the request's facts and its lucia request, awaitable."""

    def __init__(self, carrier: Mapping[str, Any], method: str, path: str, headers: Mapping[str, str],
                 body: bytes) -> None:
        self._carrier = carrier  # the environ or the scope
        self.method, self.path, self.headers, self.body = method, path, headers, body

    @property
    def lucia(self) -> AuthRequest | AsyncAuthRequest:
        """``environ["lucia.auth"]`` or ``scope["lucia.auth"]`` (a ``KeyError`` on a bare page)."""
        return self._carrier["lucia.auth"]  # type: ignore[no-any-return]

    @property
    def auth(self) -> Auth:
        return self.lucia.auth

    async def validate(self) -> Any:
        return await _settled(self.lucia.validate())

    async def validate_user(self) -> Any:
        return await _settled(self.lucia.validate_user())

    async def sign_in(self, user_id: str) -> Any:
        return await _settled(self.lucia.sign_in(user_id))

    async def sign_out(self) -> None:
        await _settled(self.lucia.sign_out())

    def set_session(self, session: Any) -> None:
        self.lucia.set_session(session)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``auth.<method>(...)``: called under WSGI, awaited on ``auth.aio`` under ASGI."""
        owner: Any = self.auth.aio if isinstance(self.lucia, AsyncAuthRequest) else self.auth
        return await _settled(getattr(owner, method)(*args, **kwargs))

    def form(self) -> dict[str, str]:
        """The urlencoded body (last value of a repeated name wins)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


Page = Callable[[Inner], Awaitable[Reply]]


def run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (a page under WSGI) to its end."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a page under WSGI awaited something that suspends")


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _join(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        if name in joined:
            value = joined[name] + ("; " if name == "cookie" else ", ") + value
        joined[name] = value
    return joined


# WSGI


def wsgi_page(page: Page) -> Callable[..., Iterable[bytes]]:
    """``page`` as a WSGI application."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = environ["CONTENT_TYPE"]
        inner = Inner(environ, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), headers, body)
        reply = run_sync(page(inner))  # type: ignore[arg-type]
        start_response(status_line(reply.status), list(reply.headers))
        return [reply.body]

    return app


def environ_of(req: Req) -> dict[str, Any]:
    """The environ a WSGI server would build for ``req``."""
    root = unquote_to_bytes(req.root_path).decode("latin-1")
    path = unquote_to_bytes(req.path).decode("latin-1")
    server = req.server or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": req.method,
        "SCRIPT_NAME": root,
        "PATH_INFO": path[len(root):] if root and path.startswith(root) else path,
        "QUERY_STRING": req.query,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": req.scheme,
        "wsgi.input": io.BytesIO(req.body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if req.client is not None:
        environ["REMOTE_ADDR"] = req.client[0]
    for name, value in _join((n.decode("latin-1"), v.decode("latin-1")) for n, v in req.wire_headers()).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    return environ


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Answer:
    """Run a WSGI application as a server would (the whole body, then ``close()``); no body for HEAD."""
    status, headers, body = testing.call_wsgi(app, environ)
    return Answer(int(status.split()[0]), tuple(headers), b"" if environ["REQUEST_METHOD"] == "HEAD" else body)


# ASGI


def asgi_page(page: Page) -> Callable[..., Awaitable[None]]:
    """``page`` as an ASGI application (``http`` scopes)."""

    async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[Message]],
                  send: Callable[[Message], Awaitable[None]]) -> None:
        assert scope["type"] == "http", scope["type"]
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = _join((n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"])
        root, path = scope.get("root_path", ""), scope["path"]
        inner = Inner(scope, scope["method"], path[len(root):] if root and path.startswith(root) else path,
                      headers, body)
        reply = await page(inner)
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in reply.headers]})
        await send({"type": "http.response.body", "body": reply.body})

    return app


def scope_of(req: Req) -> dict[str, Any]:
    """The ``http`` scope an ASGI server would build for ``req``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": req.method,
        "scheme": req.scheme,
        "path": unquote(req.path),
        "raw_path": req.path.encode("latin-1", "replace"),
        "query_string": req.query.encode("latin-1", "replace"),
        "root_path": unquote(req.root_path),
        "headers": req.wire_headers(),
        "server": req.server,
        "client": req.client,
    }


@dataclass
class AsgiExchange:
    """What an ASGI application sent for one request, checked against the protocol as it came."""

    messages: list[Message] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: Message) -> None:
        kinds = [m["type"] for m in self.messages]
        assert not self.done.is_set(), f"{message['type']} after the response ended"
        if message["type"] == "http.response.start":
            assert not kinds, "a second http.response.start"
            assert isinstance(message["status"], int)
            assert all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in message.get("headers", []))
        else:
            assert message["type"] == "http.response.body" and kinds, f"{message['type']} out of order"
            if not message.get("more_body", False):
                self.done.set()
        self.messages.append(message)

    def answer(self, method: str) -> Answer:
        assert self.done.is_set(), f"the response never ended: {[m['type'] for m in self.messages]}"
        start, *bodies = self.messages
        headers = tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in start.get("headers", []))
        body = b"" if method == "HEAD" else b"".join(m.get("body", b"") for m in bodies)
        return Answer(start["status"], headers, body)


async def call_asgi(app: Callable[..., Awaitable[None]], scope: dict[str, Any], body: bytes = b"") -> AsgiExchange:
    """Run an ASGI application for one HTTP request as a server would; the exchange it produced."""
    exchange = AsgiExchange()
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if pending:
            return pending.pop()
        await exchange.done.wait()
        return {"type": "http.disconnect"}

    await app(scope, receive, exchange.send)
    return exchange


async def call_websocket(app: Callable[..., Awaitable[None]], scope: dict[str, Any]) -> list[Message]:
    """Open a WebSocket: ``websocket.connect``, then a disconnect once the app closes; what the app sent."""
    sent: list[Message] = []
    closed = asyncio.Event()
    connected = False

    async def receive() -> Message:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await asyncio.wait_for(closed.wait(), timeout=5)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            closed.set()

    await app(scope, receive, send)
    return sent


# the shells


class Shell:
    """How to put the middleware around a page and send it a request."""

    name = ""
    request_type: type = object

    def wrap(self, page: Page, auth: Auth | None, **options: Any) -> Any:
        raise NotImplementedError

    def send(self, app: Any, req: Req) -> Answer:
        raise NotImplementedError

    def serve(self, page: Page, auth: Auth | None, **options: Any) -> Client:
        """A client of ``page`` behind the middleware (``auth=None``: the bare page)."""
        return Client(self, self.wrap(page, auth, **options))

    def __repr__(self) -> str:
        return f"<{self.name} shell>"


@dataclass(frozen=True)
class WsgiStack:
    """A page behind the WSGI middleware, with and without wsgiref's validator around both."""

    strict: Callable[..., Iterable[bytes]]
    loose: Callable[..., Iterable[bytes]]


class WsgiShell(Shell):
    name = "wsgi"
    request_type = AuthRequest

    def wrap(self, page: Page, auth: Auth | None, **options: Any) -> WsgiStack:
        inner = wsgi_page(page)
        if auth is None:
            return WsgiStack(validator(inner), inner)
        return WsgiStack(validator(LuciaMiddleware(validator(inner), auth, **options)),
                         LuciaMiddleware(inner, auth, **options))

    def send(self, app: WsgiStack, req: Req) -> Answer:
        """``req`` through the validator when it is a request the validator accepts (it refuses
        unknown methods and a missing server name, which hostile requests carry)."""
        environ = environ_of(req)
        standard = req.method in _VALIDATOR_METHODS and req.server is not None and environ["PATH_INFO"][:1] == "/"
        return call_wsgi(app.strict if standard else app.loose, environ)


class AsgiShell(Shell):
    """The ASGI shell on its own event loop (one loop for its whole life, as a server has)."""

    name = "asgi"
    request_type = AsyncAuthRequest

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def wrap(self, page: Page, auth: Auth | None, **options: Any) -> Any:
        inner = asgi_page(page)
        return inner if auth is None else LuciaASGIMiddleware(inner, auth, **options)

    def run(self, awaitable: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(awaitable)

    def send(self, app: Any, req: Req) -> Answer:
        exchange: AsgiExchange = self.run(call_asgi(app, scope_of(req), req.body))
        return exchange.answer(req.method)

    def close(self) -> None:
        self.loop.close()


SHELLS = ("wsgi", "asgi")


class Client:
    """Requests to one wrapped page in one shell."""

    def __init__(self, shell: Shell, app: Any) -> None:
        self.shell, self.app = shell, app

    def send(self, req: Req) -> Answer:
        return self.shell.send(self.app, req)

    def request(self, method: str, path: str, headers: Mapping[str, HeaderValue] | None = None,
                body: bytes = b"", **fields: Any) -> Answer:
        return self.send(Req(method, path, tuple((headers or {}).items()), body, **fields))

    def get(self, path: str, headers: Mapping[str, HeaderValue] | None = None, **fields: Any) -> Answer:
        return self.request("GET", path, headers, **fields)

    def post(self, path: str, headers: Mapping[str, HeaderValue] | None = None, body: bytes = b"",
             **fields: Any) -> Answer:
        return self.request("POST", path, headers, body, **fields)
