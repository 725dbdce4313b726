"""Hypothesis drives the ASGI middleware with hostile scopes, and both shells with the same random requests.

Scopes an ASGI server (or a buggy one, or a middleware in front) could hand
over: any header bytes (non-ASCII, NUL, 64 KiB values, repeated ``cookie``
headers, odd or malformed names), ``server``/``client`` missing, ``None`` or
oddly shaped, odd methods, schemes, paths and root paths, HTTP and WebSocket.
Whatever arrives, with a healthy store:

* nothing raises out of the middleware,
* no HTTP answer is a 5xx, and a WebSocket handshake is answered,
* a request without an ``auth_session`` cookie gets no ``Set-Cookie``,
* the auth routes answer JSON (their script aside).

The second property is differential: random requests a client can send go
to the WSGI and the ASGI middleware, over the same store contents and the
same session ids, and the two answers (status, every header, body) and the
stores afterwards must be identical.

The CI profile runs 200 examples per test; ``python -m pytest tests/security
--slow`` runs 10,000.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from shells import AsgiShell, Req, WsgiShell, call_asgi, call_websocket

import lucia_wsgi.auth_state
from lucia_wsgi import AsyncAuth, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.asgi import LuciaASGIMiddleware
from lucia_wsgi.cookies import read_cookie

from .support import FAST_HASH, Clock, Tally, comparable, snapshot, tiny_page
from .test_fuzz_middleware import CONTENT_TYPES, HOSTS, ORIGINS, PATHS, SESSION_VALUES, TOKENS, cookie_pairs
from .world import NOW, SessionIds, fill

HEADER_NAMES = [b"cookie", b"Cookie", b"COOKIE", b"origin", b"host", b"x-forwarded-host", b"x-forwarded-proto",
                b"x-forwarded-port", b"forwarded", b"x_forwarded_host", b"user-agent", b"content-type",
                b"content-length", b"if-none-match", b"accept", b"", b"\xff\xfe", b"cookie\x00", b"x y"]


def header_values() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=120),
        cookie_pairs.map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.sampled_from([value.encode() for value in ORIGINS + HOSTS + CONTENT_TYPES]),
        st.sampled_from([b"a" * 65_536, b"auth_session=" + b"%41" * 20_000, b"; " * 30_000, "é".encode() * 1000]),
    )


# Half the requests carry a session cookie (live, idle, dead, unknown...) and a same-site Origin.
session_cookie = st.sampled_from(SESSION_VALUES).map(lambda value: (b"cookie", f"auth_session={value}".encode()))
same_site = st.sampled_from([b"http://localhost", b"https://localhost"]).map(lambda origin: (b"origin", origin))
headers = st.tuples(
    st.lists(st.tuples(st.one_of(st.sampled_from(HEADER_NAMES), st.binary(max_size=12)), header_values()),
             max_size=6),
    st.lists(st.one_of(session_cookie, same_site), max_size=3),
    st.booleans(),
).map(lambda parts: parts[1] + parts[0] if parts[2] else parts[0] + parts[1])
servers = st.one_of(st.none(), st.just(("localhost", 80)), st.just(("localhost", None)), st.just(["localhost", 80]),
                    st.just(("localhost",)), st.just(("localhost", "80")), st.tuples(st.text(max_size=10),
                                                                                     st.integers(-1, 70_000)))
clients = st.one_of(st.none(), st.just(("127.0.0.1", 50_000)), st.just(["::1", 1]), st.just(()),
                    st.tuples(st.text(max_size=40), st.integers(0, 65_535)))
MISSING = object()


@st.composite
def scopes(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["http", "http", "http", "websocket"]))
    fields: dict[str, Any] = {
        "type": kind,
        "asgi": {"version": "3.0"},
        "method": draw(st.one_of(st.just("GET"), st.just("GET"), st.sampled_from(TOKENS), st.text(max_size=10),
                                 st.none())),
        "scheme": draw(st.one_of(st.sampled_from(["http", "https", "ws", "wss", "", "HTTPS", "gopher"]), st.none())),
        "path": draw(st.one_of(st.sampled_from(PATHS), st.text(max_size=40).map(lambda p: "/" + p), st.just(""))),
        "root_path": draw(st.one_of(st.just(""), st.sampled_from(["/shop", "/api", "/api/auth"]), st.text(max_size=8))),
        "query_string": draw(st.binary(max_size=60)),
        "headers": draw(headers),
        "server": draw(servers),
        "client": draw(clients),
    }
    for key in ("method", "scheme", "server", "client", "root_path"):
        if draw(st.booleans()) and draw(st.booleans()):
            fields[key] = MISSING
    if kind == "websocket":
        fields["method"] = MISSING
        fields["subprotocols"] = []
    return {key: value for key, value in fields.items() if value is not MISSING}


Message = dict[str, Any]


async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that reads only the session: says who is signed in (HTTP), or accepts and says it (WebSocket)."""
    user = (await scope["lucia.auth"].validate_user()).user
    said = b"anonymous" if user is None else f"user:{user['user_id']}".encode()
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept", "headers": []})
        await send({"type": "websocket.send", "bytes": said})
        await send({"type": "websocket.close", "code": 1000})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": said})


async def drive(app: Any, scope: dict[str, Any]) -> list[Message]:
    if scope["type"] == "http":
        return (await call_asgi(app, scope)).messages
    return await call_websocket(app, scope)


def joined_cookie(scope: dict[str, Any]) -> str:
    return "; ".join(value.decode("latin-1") for name, value in scope["headers"]
                     if name.decode("latin-1").lower() == "cookie")


@given(scope=scopes(), env=st.sampled_from(["DEV", "PROD"]), trust_proxy=st.booleans(),
       hash_session_ids=st.booleans())
def test_fuzz_asgi_middleware_never_fails(scope: dict[str, Any], env: str, trust_proxy: bool,
                                          hash_session_ids: bool) -> None:
    Tally().add("fuzz")
    store = MemoryAdapter()
    fill(store)
    auth = lucia(adapter=store, env=env, hash=FAST_HASH, clock=Clock(NOW), trust_proxy=trust_proxy,
                 hash_session_ids=hash_session_ids, transform_user_data=lambda row: {"user_id": row["id"]})
    aio = AsyncAuth(auth, max_threads=1)
    try:
        messages = asyncio.run(drive(LuciaASGIMiddleware(inner, aio), scope))
    finally:
        aio.executor.shutdown()
    start = messages[0]
    if scope["type"] == "http":
        assert start["type"] == "http.response.start" and start["status"] < 500, start
    else:
        assert start["type"] == "websocket.accept", start
    sets_cookie = any(name.lower() == b"set-cookie" for name, _ in start.get("headers", []))
    said = b"".join(message.get("body", message.get("bytes", b"")) for message in messages[1:])
    event("signed in" if said.startswith(b"user:") else "anonymous")
    event("sets a cookie" if sets_cookie else "no cookie")
    if read_cookie(joined_cookie(scope)) == "":
        assert not sets_cookie, "an anonymous request got a Set-Cookie"
    path, root = scope.get("path", ""), scope.get("root_path", "")
    path = path[len(root):] if root and path.startswith(root) else path
    if scope["type"] == "http" and (path == "/api/auth" or path.startswith("/api/auth/")) \
            and path != "/api/auth/client.js":
        content_type = dict(start["headers"]).get(b"Content-Type", b"")
        assert content_type.startswith(b"application/json")


# the two shells, differentially

LATIN1 = st.characters(max_codepoint=255, exclude_categories=("Cs",))
WIRE_PATHS = [path for path in PATHS if ".." not in path] + ["/api/auth/%C3%A9%FF", "/%00"]
PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="%?#")
# What tiny_page and the routes answer, often; anything else now and then.
SERVED = ["/", "/login", "/api/auth/user", "/api/auth/logout"]


@st.composite
def requests(draw: st.DrawFn) -> Req:
    wire = draw(st.lists(st.one_of(session_cookie, same_site).map(
        lambda pair: (pair[0].decode(), pair[1])), max_size=2)) + draw(st.lists(st.tuples(
        st.sampled_from(["cookie", "origin", "x-forwarded-host", "x-forwarded-proto", "forwarded", "user-agent",
                         "if-none-match", "content-type"]),
        st.one_of(cookie_pairs.map(lambda text: text.encode("latin-1", "replace")), st.binary(max_size=60),
                  st.sampled_from([value.encode() for value in ORIGINS + HOSTS])),
    ), max_size=5))
    body = draw(st.sampled_from([b"", b"username=alice&password=alice-pw", b"username=alice&password=wrong"]))
    return Req(
        method=draw(st.one_of(st.just("GET"), st.sampled_from(TOKENS))),
        path=draw(st.one_of(st.sampled_from(SERVED), st.sampled_from(WIRE_PATHS), st.text(PRINTABLE, max_size=20).map(
            lambda p: "/" + p))),
        headers=wire,
        body=body,
        scheme=draw(st.sampled_from(["http", "https"])),
        host=draw(st.one_of(st.sampled_from(HOSTS), st.none(), st.text(LATIN1, max_size=20))),
    )


@pytest.fixture(scope="module")
def both() -> Any:
    shells = (WsgiShell(), AsgiShell())
    yield shells
    shells[1].close()


@given(req=requests(), trust_proxy=st.booleans(), hash_session_ids=st.booleans())
def test_fuzz_both_shells_answer_alike(both: Any, req: Req, trust_proxy: bool, hash_session_ids: bool) -> None:
    Tally().add("fuzz")
    ids = SessionIds()
    original = lucia_wsgi.auth_state.generate_random_string
    lucia_wsgi.auth_state.generate_random_string = ids  # type: ignore[assignment]
    try:
        results = []
        for shell in both:
            ids.reset()
            store = MemoryAdapter()
            fill(store)
            auth = lucia(adapter=store, env="DEV", hash=FAST_HASH, clock=Clock(NOW), trust_proxy=trust_proxy,
                         hash_session_ids=hash_session_ids)
            results.append((shell.serve(tiny_page, auth).send(req), comparable(snapshot(store))))
    finally:
        lucia_wsgi.auth_state.generate_random_string = original
    (wsgi, wsgi_store), (asgi, asgi_store) = results
    event(f"status {wsgi.status}")
    event("signed in" if wsgi.body.startswith(b"user:") else "anonymous")
    event("sets a cookie" if wsgi.set_cookies else "no cookie")
    assert asgi == wsgi
    assert asgi_store == wsgi_store
