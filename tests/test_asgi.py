"""LuciaASGIMiddleware as an ASGI component: messages, scopes, WebSockets, outages, the harness.

The rules it shares with the WSGI middleware are checked on both shells in
``test_wsgi.py`` and ``test_routes.py``; here is what only ASGI has: the
``http.response.start`` it rewrites (and the messages it must not touch),
streaming, ``lifespan``, the scope it reads and the copy it hands on,
WebSocket handshakes (checked like a POST: a cross-site handshake is
anonymous), a store outage seen through httpx, and a check that the
``shells.py`` harness answers what ``httpx.ASGITransport`` answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from conftest import Clock
from shells import AsgiShell, Inner, Reply, Req, asgi_page, call_asgi, call_websocket, scope_of
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from stores import AsyncStore, SlowStore

from lucia_wsgi import AsyncAuth, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.asgi import AsyncAuthRequest, LuciaASGIMiddleware, scope_environ
from lucia_wsgi.config import DAY_MS
from lucia_wsgi.testing import FaultyAdapter, InjectedFault

T0 = 1_700_000_000_000
IDLE = T0 + DAY_MS + 1
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
BLANK_EXPIRES = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]



@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryAdapter:
    return MemoryAdapter()


@pytest.fixture
def auth(store: MemoryAdapter, clock: Clock) -> Any:
    return lucia(adapter=store, env="DEV", clock=clock, hash=CHEAP_HASH,
                 transform_user_data=lambda row: {"user_id": row["id"]})


@pytest.fixture
def session_id(auth: Any) -> str:
    return str(auth.create_session(auth.create_user("username", "alice")["user_id"]).session_id)


def cookie(session_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", f"auth_session={session_id}".encode())]


def http_scope(path: str = "/", headers: list[tuple[bytes, bytes]] | None = None, **fields: Any) -> dict[str, Any]:
    scope = scope_of(Req(path=path))
    scope["headers"] = [(b"host", b"localhost"), *(headers or [])]
    scope.update(fields)
    return scope


def run(awaitable: Awaitable[Any]) -> Any:
    return asyncio.run(awaitable)  # type: ignore[arg-type]


async def exchange(app: Any, scope: dict[str, Any]) -> list[Message]:
    """Every message ``app`` sent for ``scope`` (an HTTP request with an empty body)."""
    return (await call_asgi(app, scope)).messages


def header_names(message: Message) -> list[bytes]:
    return [name for name, _ in message["headers"]]


def set_cookies(message: Message) -> list[str]:
    return [value.decode("latin-1") for name, value in message["headers"] if name.lower() == b"set-cookie"]


# what passes through untouched


@pytest.mark.parametrize("kind", ["lifespan", "custom"])
def test_other_scopes_pass_through_untouched(auth: Any, kind: str) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    scope = {"type": kind, "asgi": {"version": "3.0"}}

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        pass

    run(LuciaASGIMiddleware(app, auth)(scope, receive, send))
    ((got_scope, got_receive, got_send),) = seen
    assert got_scope is scope and got_receive is receive and got_send is send
    assert "lucia.auth" not in scope


def test_an_http_scope_is_copied_with_the_request_added(auth: Any) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = http_scope()
    run(exchange(LuciaASGIMiddleware(app, auth), scope))
    (inner,) = seen
    assert "lucia.auth" not in scope, "the server's scope was changed"
    assert type(inner["lucia.auth"]) is AsyncAuthRequest and inner["lucia.auth"].auth is auth
    assert {key: value for key, value in inner.items() if key != "lucia.auth"} == scope


def test_messages_of_an_app_that_never_reads_the_session_are_the_apps_own(auth: Any, session_id: str) -> None:
    start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
    body = {"type": "http.response.body", "body": b"plain"}

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send(start)
        await send(body)

    messages = run(exchange(LuciaASGIMiddleware(app, auth), http_scope(headers=cookie(session_id))))
    assert messages[0] is start and messages[1] is body


def test_session_headers_go_into_http_response_start_only(auth: Any, clock: Clock, session_id: str) -> None:
    body = {"type": "http.response.body", "body": b"hello", "more_body": False}

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await scope["lucia.auth"].validate()
        await send({"type": "http.response.start", "status": 200, "headers": [[b"content-type", b"text/plain"]]})
        await send(body)

    clock.now = IDLE
    start, sent_body = run(exchange(LuciaASGIMiddleware(app, auth), http_scope(headers=cookie(session_id))))
    assert header_names(start) == [b"content-type", b"Cache-Control", b"Set-Cookie", b"Vary"]
    assert all(isinstance(name, bytes) and isinstance(value, bytes) for name, value in start["headers"])
    (renewed,) = set_cookies(start)
    assert renewed.startswith("auth_session=") and session_id not in renewed
    assert sent_body is body


def test_a_streamed_body_is_not_buffered(auth: Any, clock: Clock, session_id: str) -> None:
    async def scenario() -> list[Message]:
        first_chunk_out = asyncio.Event()
        sent: list[Message] = []

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            await scope["lucia.auth"].validate()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            # A buffering middleware would hold "a" back and this would time out.
            await asyncio.wait_for(first_chunk_out.wait(), timeout=5)
            await send({"type": "http.response.body", "body": b"b", "more_body": False})

        async def send(message: Message) -> None:
            sent.append(message)
            if message.get("body") == b"a":
                first_chunk_out.set()

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await LuciaASGIMiddleware(app, auth)(http_scope(headers=cookie(session_id)), receive, send)
        return sent

    clock.now = IDLE
    start, *bodies = run(scenario())
    assert len(set_cookies(start)) == 1
    assert [message["body"] for message in bodies] == [b"a", b"b"]


def test_validate_after_the_response_started_cannot_add_the_cookie(
    auth: Any, clock: Clock, session_id: str
) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        session = await scope["lucia.auth"].validate()
        await send({"type": "http.response.body", "body": b"user" if session else b"anonymous"})

    clock.now = IDLE
    start, body = run(exchange(LuciaASGIMiddleware(app, auth), http_scope(headers=cookie(session_id))))
    assert body["body"] == b"user"
    assert set_cookies(start) == []
    # No renewal the browser never heard of: the idle session is intact.
    assert auth.get_session(session_id).state == "idle"


@pytest.mark.parametrize("started", [pytest.param(False, id="before-start"), pytest.param(True, id="mid-body")])
def test_an_app_that_raises_propagates_to_the_server(auth: Any, clock: Clock, session_id: str,
                                                     started: bool) -> None:
    error = KeyError("boom")
    sent: list[Message] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await scope["lucia.auth"].validate()
        if started:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
        raise error

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    clock.now = IDLE
    with pytest.raises(KeyError) as caught:
        run(LuciaASGIMiddleware(app, auth)(http_scope(headers=cookie(session_id)), receive, send))
    assert caught.value is error
    assert len(sent) == (2 if started else 0)
    if started:
        assert len(set_cookies(sent[0])) == 1


def test_a_route_answer_is_one_start_and_one_body(auth: Any, session_id: str) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        raise AssertionError("the routes answer without the app")

    middleware = LuciaASGIMiddleware(app, auth)
    start, body = run(exchange(middleware, http_scope("/api/auth/user", cookie(session_id))))
    assert start["status"] == 200 and body["body"].startswith(b'{"user":{"user_id":')
    assert body.get("more_body", False) is False
    head_start, head_body = run(exchange(middleware, http_scope("/api/auth/user", cookie(session_id), method="HEAD")))
    assert head_body["body"] == b"" and head_start["headers"] == start["headers"]


def test_an_async_auth_given_to_the_middleware_runs_its_requests(store: MemoryAdapter, clock: Clock) -> None:
    slow = SlowStore(store)
    auth = lucia(adapter=slow, env="DEV", clock=clock, hash=CHEAP_HASH)
    aio = AsyncAuth(auth, max_threads=1)
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.append(scope["lucia.auth"])
        await scope["lucia.auth"].validate()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = LuciaASGIMiddleware(app, aio)
    assert middleware.auth is auth and middleware.aio is aio
    run(exchange(middleware, http_scope(headers=cookie("A" * 40))))
    assert seen[0].aio is aio and seen[0].auth is auth
    assert slow.calls and slow.threads == {thread.name for thread in aio.executor._threads}


# the scope as the middleware reads it


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, {"REQUEST_METHOD": "GET", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
                          "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http"}, id="plain"),
        pytest.param({"server": None, "client": None}, {"SERVER_NAME": None, "REMOTE_ADDR": None},
                     id="no-server-no-client"),
        pytest.param({"server": ("/tmp/app.sock", None)}, {"SERVER_NAME": "/tmp/app.sock", "SERVER_PORT": ""},
                     id="unix-socket"),
        pytest.param({"server": ("localhost",)}, {"SERVER_NAME": None}, id="one-item-server"),
        pytest.param({"scheme": "HTTPS"}, {"wsgi.url_scheme": "https"}, id="scheme-case"),
        pytest.param({"scheme": "wss", "type": "websocket"}, {"wsgi.url_scheme": "https",
                                                              "REQUEST_METHOD": "WEBSOCKET"}, id="wss"),
        pytest.param({"scheme": "gopher"}, {"wsgi.url_scheme": "http"}, id="odd-scheme"),
        pytest.param({"method": None}, {"REQUEST_METHOD": ""}, id="no-method-is-unsafe"),
        pytest.param({"method": "post"}, {"REQUEST_METHOD": "post"}, id="method-kept-as-sent"),
        pytest.param({"path": "/shop/page", "root_path": "/shop"}, {"SCRIPT_NAME": "/shop", "PATH_INFO": "/page"},
                     id="root-path-stripped"),
        pytest.param({"path": "/page", "root_path": "/shop"}, {"SCRIPT_NAME": "/shop", "PATH_INFO": "/page"},
                     id="root-path-not-in-path"),
        pytest.param({"headers": [(b"cookie", b"a=1"), (b"Cookie", b"auth_session=x"), (b"x-a", b"1"),
                                  (b"x-a", b"2")]},
                     {"HTTP_COOKIE": "a=1; auth_session=x", "HTTP_X_A": "1, 2"}, id="repeated-headers-joined"),
        pytest.param({"headers": [(b"user-agent", "é".encode()), (b"origin", b"\xff")]},
                     {"HTTP_USER_AGENT": "Ã©", "HTTP_ORIGIN": "ÿ"}, id="header-bytes-are-latin-1"),
        pytest.param({"headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")]},
                     {"CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "3", "HTTP_CONTENT_TYPE": None},
                     id="content-headers"),
        pytest.param({"headers": [(b"a", b"1", b"extra"), "junk", (b"b", b"2")]}, {"HTTP_A": None, "HTTP_B": "2"},
                     id="malformed-pairs-skipped"),
        pytest.param({"headers": None}, {"HTTP_HOST": None}, id="no-headers"),
        pytest.param({"headers": [(b"x-forwarded-host", b"app.example.com"), (b"x_forwarded_host", b"evil.com")]},
                     {"HTTP_X_FORWARDED_HOST": "app.example.com"}, id="underscore-names-dropped"),
    ],
)
def test_scope_environ(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    scope = {**scope_of(Req(host=None)), **fields}
    environ = scope_environ(scope)
    assert {key: environ.get(key) for key in expected} == expected


def test_repeated_cookie_headers_are_one_header_first_session_wins(auth: Any, session_id: str) -> None:
    async def page(r: Inner) -> Reply:
        session = await r.validate()
        return Reply(200, [("Content-Type", "text/plain")], b"user" if session else b"anonymous")

    shell = AsgiShell()
    try:
        client = shell.serve(page, auth)
        first = client.send(Req(headers=[("cookie", f"auth_session={session_id}"), ("cookie", "auth_session=x")]))
        second = client.send(Req(headers=[("cookie", "theme=dark"), ("cookie", f"auth_session={session_id}")]))
        planted = client.send(Req(headers=[("cookie", "auth_session=" + "B" * 40),
                                           ("cookie", f"auth_session={session_id}")]))
    finally:
        shell.close()
    assert first.text == "user" and first.auth_cookies == []
    assert second.text == "user"
    assert planted.text == "anonymous" and len(planted.auth_cookies) == 1


def test_an_underscore_header_cannot_pose_as_the_proxys_forwarded_host(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", clock=clock, hash=CHEAP_HASH, trust_proxy=True)
    session_id = auth.create_session(auth.create_user("username", "alice")["user_id"]).session_id
    smuggled = [(b"x-forwarded-host", b"app.example.com"), (b"x_forwarded_host", b"evil.com"),
                (b"origin", b"http://evil.com"), *cookie(session_id)]
    start, _ = run(exchange(LuciaASGIMiddleware(asgi_page(careless), auth),
                               http_scope("/api/auth/logout", smuggled, method="POST")))
    assert start["status"] == 403 and set_cookies(start) == []
    assert store.get_session(session_id) is not None


# WebSocket handshakes


async def greet(websocket: WebSocket) -> None:
    """A Starlette WebSocket endpoint: says who is signed in, then closes."""
    _session, user = await websocket.scope["lucia.auth"].validate_user()
    await websocket.accept()
    await websocket.send_text("anonymous" if user is None else f"user:{user['user_id']}")
    await websocket.close()


def ws_app(auth: Any) -> Any:
    return LuciaASGIMiddleware(Starlette(routes=[WebSocketRoute("/ws", greet)]), auth)


def ws_scope(session_id: str | None, origin: str | None, scheme: str = "ws",
             host: str = "localhost") -> dict[str, Any]:
    headers = [(b"host", host.encode()), (b"connection", b"Upgrade"), (b"upgrade", b"websocket"),
               (b"sec-websocket-version", b"13"), (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ==")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if session_id is not None:
        headers.append((b"cookie", f"auth_session={session_id}".encode()))
    return {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1", "scheme": scheme,
            "path": "/ws", "raw_path": b"/ws", "query_string": b"", "root_path": "", "headers": headers,
            "server": (host, 443 if scheme == "wss" else 80), "client": ("127.0.0.1", 50_000), "subprotocols": []}


def said(messages: list[Message]) -> str:
    (text,) = [message["text"] for message in messages if message["type"] == "websocket.send"]
    return str(text)


def accept_headers(messages: list[Message]) -> list[tuple[bytes, bytes]]:
    (accept,) = [message for message in messages if message["type"] == "websocket.accept"]
    return list(accept.get("headers") or [])


def test_a_websocket_scope_gets_the_request(auth: Any) -> None:
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.append(scope["lucia.auth"])
        await receive()
        await send({"type": "websocket.close", "code": 1000})

    run(call_websocket(LuciaASGIMiddleware(app, auth), ws_scope(None, "http://localhost")))
    assert type(seen[0]) is AsyncAuthRequest and seen[0].environ["REQUEST_METHOD"] == "WEBSOCKET"


@pytest.mark.parametrize(
    ("scheme", "origin"),
    [
        pytest.param("ws", "http://localhost", id="ws"),
        pytest.param("wss", "https://localhost", id="wss"),
    ],
)
def test_a_same_site_handshake_is_authenticated(auth: Any, session_id: str, scheme: str, origin: str) -> None:
    messages = run(call_websocket(ws_app(auth), ws_scope(session_id, origin, scheme)))
    assert said(messages) == f"user:{auth.get_session(session_id).user_id}"
    assert accept_headers(messages) == []


@pytest.mark.parametrize(
    ("scheme", "origin"),
    [
        pytest.param("ws", "https://evil.example", id="other-site"),
        pytest.param("ws", "http://localhost.evil.example", id="suffix-site"),
        pytest.param("ws", "http://localhost:8080", id="other-port"),
        pytest.param("wss", "http://localhost", id="other-scheme"),
        pytest.param("ws", "null", id="null"),
        pytest.param("ws", None, id="no-origin"),
    ],
)
def test_a_cross_site_handshake_is_anonymous_and_keeps_the_cookie(
    auth: Any, clock: Clock, session_id: str, scheme: str, origin: str | None
) -> None:
    clock.now = IDLE  # a same-site handshake would renew it
    messages = run(call_websocket(ws_app(auth), ws_scope(session_id, origin, scheme)))
    assert said(messages) == "anonymous"
    assert accept_headers(messages) == [], "a cross-site handshake changed the cookie"
    assert auth.get_session(session_id).state == "idle"


def test_a_trusted_origin_may_open_a_websocket(store: MemoryAdapter, clock: Clock) -> None:
    auth = lucia(adapter=store, env="DEV", clock=clock, hash=CHEAP_HASH, trusted_origins=["https://app.example.com"],
                 transform_user_data=lambda row: {"user_id": row["id"]})
    session_id = auth.create_session(auth.create_user("username", "alice")["user_id"]).session_id
    messages = run(call_websocket(ws_app(auth), ws_scope(session_id, "https://app.example.com")))
    assert said(messages).startswith("user:")


def test_a_renewal_during_the_handshake_goes_out_in_websocket_accept(
    auth: Any, clock: Clock, session_id: str
) -> None:
    clock.now = IDLE
    messages = run(call_websocket(ws_app(auth), ws_scope(session_id, "http://localhost")))
    assert said(messages).startswith("user:")
    headers = accept_headers(messages)
    assert [name for name, _ in headers] == [b"Set-Cookie"], "only cookies: no Vary or Cache-Control on a handshake"
    value = headers[0][1].decode()
    new_id = value.split(";")[0].removeprefix("auth_session=")
    assert new_id != session_id and "HttpOnly" in value
    assert auth.validate_session(new_id).session_id == new_id


def test_an_invalid_cookie_is_blanked_in_websocket_accept(auth: Any) -> None:
    messages = run(call_websocket(ws_app(auth), ws_scope("C" * 40, "http://localhost")))
    assert said(messages) == "anonymous"
    ((name, value),) = accept_headers(messages)
    assert name == b"Set-Cookie" and value.startswith(b"auth_session=;") and BLANK_EXPIRES.encode() in value


def test_a_refused_handshake_is_passed_on_untouched(auth: Any, session_id: str) -> None:
    close = {"type": "websocket.close", "code": 4401}

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        if await scope["lucia.auth"].validate() is None:
            await send(close)

    messages = run(call_websocket(LuciaASGIMiddleware(app, auth), ws_scope(session_id, "https://evil.example")))
    assert messages == [close] and messages[0] is close


# a store outage, seen through httpx


async def careful(r: Inner) -> Reply:
    try:
        user = (await r.validate_user()).user
    except (InjectedFault, ConnectionError):
        return Reply(503, [("Content-Type", "text/plain")], b"try again soon")
    return Reply(200, [("Content-Type", "text/plain")], b"anonymous" if user is None else b"user")


async def careless(r: Inner) -> Reply:
    await r.validate_user()
    return Reply(200, [("Content-Type", "text/plain")], b"ok")


async def page_at(r: Inner) -> Reply:
    return await (careful if r.path == "/careful" else careless)(r)


@pytest.mark.parametrize("kind", [pytest.param("sync", id="FaultyAdapter"), pytest.param("asyncio", id="asyncio")])
def test_a_store_outage_through_asgi_logs_nobody_out(store: MemoryAdapter, clock: Clock, kind: str) -> None:
    setup = lucia(adapter=store, env="DEV", clock=clock, hash=CHEAP_HASH)
    session_id = setup.create_session(setup.create_user("username", "alice")["user_id"]).session_id
    failure = InjectedFault("connection refused: db.internal password=s3cret")
    down: Any = (FaultyAdapter(store, {name: range(1, 100) for name in ("get_session",
                                                                        "get_session_and_user_by_session_id")},
                               exc=failure)
                 if kind == "sync" else AsyncStore(store, fail=failure))
    auth = lucia(adapter=down, env="DEV", clock=clock, hash=CHEAP_HASH)
    clock.now = IDLE  # a working store would renew

    async def scenario() -> tuple[httpx.Response, ...]:
        transport = httpx.ASGITransport(app=LuciaASGIMiddleware(asgi_page(page_at), auth))
        headers = {"Cookie": f"auth_session={session_id}", "Origin": "http://localhost"}
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            user = await client.get("/api/auth/user", headers=headers)
            logout = await client.post("/api/auth/logout", headers=headers)  # it reads the device first
            page = await client.get("/careful", headers=headers)
            with pytest.raises(InjectedFault) as caught:
                await client.get("/careless", headers=headers)
            assert caught.value is failure, "the app sees the store's own exception"
            return user, logout, page

    user, logout, page = run(scenario())
    for route in (user, logout):
        assert route.status_code == 500 and route.json() == {"message": "unknown"}
        assert "s3cret" not in route.text
    assert page.status_code == 503
    for response in (user, logout, page):
        assert "set-cookie" not in response.headers, "an outage changed the cookie"
    row = store.get_session(session_id)
    assert row is not None and row.successor is None, "the outage ended or renewed the session"


@pytest.mark.parametrize("kind", [pytest.param("sync", id="FaultyAdapter"), pytest.param("asyncio", id="asyncio")])
def test_a_failed_read_leaves_the_session_working(store: MemoryAdapter, clock: Clock, kind: str) -> None:
    setup = lucia(adapter=store, env="DEV", clock=clock, hash=CHEAP_HASH)
    session_id = setup.create_session(setup.create_user("username", "alice")["user_id"]).session_id
    failure = InjectedFault("connection refused")
    down: Any = (FaultyAdapter(store, {"get_session_and_user_by_session_id": 1}, exc=failure) if kind == "sync"
                 else AsyncStore(store, fail=failure))
    auth = lucia(adapter=down, env="DEV", clock=clock, hash=CHEAP_HASH)
    clock.now = IDLE

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=LuciaASGIMiddleware(asgi_page(careful), auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            during = await client.get("/", headers={"Cookie": f"auth_session={session_id}"})
            if isinstance(down, AsyncStore):
                down.fail = None
            after = await client.get("/", headers={"Cookie": f"auth_session={session_id}"})
            return during, after

    during, after = run(scenario())
    assert during.status_code == 503 and "set-cookie" not in during.headers
    assert after.status_code == 200 and after.text == "user"
    assert after.headers["set-cookie"].startswith("auth_session=")  # renewed once the store is back


# the harness


HARNESS_REQUESTS = [
    pytest.param("GET", "/page", {}, id="anonymous"),
    pytest.param("GET", "/page", {"Cookie": "auth_session=" + "C" * 40}, id="invalid-cookie"),
    pytest.param("GET", "/api/auth/user", {}, id="user-route"),
    pytest.param("POST", "/api/auth/logout", {"Origin": "http://evil.example"}, id="cross-site-logout"),
    pytest.param("DELETE", "/api/auth/user", {}, id="405"),
    pytest.param("GET", "/api/auth/nothing", {}, id="404"),
    pytest.param("GET", "/api/auth/client.js", {}, id="client-js"),
]


@pytest.mark.parametrize(("method", "path", "headers"), HARNESS_REQUESTS)
def test_the_harness_answers_what_httpx_answers(auth: Any, method: str, path: str, headers: dict[str, str]) -> None:
    async def page(r: Inner) -> Reply:
        _session, user = await r.validate_user()
        return Reply(200, [("Content-Type", "text/plain"), ("Set-Cookie", "theme=dark")],
                     b"anonymous" if user is None else b"user")

    shell = AsgiShell()
    app = shell.wrap(page, auth)

    async def via_httpx() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
            return await client.request(method, path, headers=headers)

    try:
        response = run(via_httpx())
        wire = [(name.decode("latin-1"), value) for name, value in response.request.headers.raw]
        answer = shell.send(app, Req(method, path, wire, host=None))
    finally:
        shell.close()
    assert answer.status == response.status_code
    assert list(answer.headers) == [(n.decode("latin-1"), v.decode("latin-1")) for n, v in response.headers.raw]
    assert answer.body == response.content
