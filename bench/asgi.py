"""The ASGI rows: ``LuciaASGIMiddleware`` against a raw ASGI floor doing the same job.

Both are ASGI applications, served in-process by one driver
(:func:`serve_asgi`): the harness calls it like a WSGI app, and it runs the
ASGI app's coroutine to its end on a private event loop, answering what the
app sent. The driver's cost (one event-loop turn per request) is in both
rows, as a server's would be.

The job is lucia's under ASGI with a blocking store: the store call never
runs on the event loop. So the floor reads the ``cookie`` header from the
scope with a ``str.split`` scan, runs the read floor's query (session JOIN
user, :data:`bench.floors.SESSION_AND_USER`) in a worker thread
(``run_in_executor``, as ``auth.aio`` runs a SQLite call), checks the idle
expiry, and answers the user id with ``Vary: Cookie``. Lucia's row is a bare
endpoint awaiting ``scope["lucia.auth"].validate_user()`` behind the middleware.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from os import PathLike
from pathlib import Path
from typing import Any

from lucia_wsgi import Auth
from lucia_wsgi.adapters.sqlite import SQLiteAdapter
from lucia_wsgi.adapters.sqlite_threads import CloseWithThread

from . import dbs
from .apps import COOKIE_NAME, make_auth, split_cookie
from .cases import expect_body, per_header
from .floors import SESSION_AND_USER, connect, now_ms
from .harness import Case, Environ
from .headers import cookie_header

__all__ = ["asgi_cases", "asgi_requests", "make_asgi_floor", "make_lucia_asgi_app", "serve_asgi"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_SCOPE_KEY = "bench.scope"
_IDLE_EXPIRES, _USER_ID = 3, 1
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_VARY = (b"vary", b"Cookie")


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def serve_asgi(app: ASGIApp) -> Callable[[Environ, Callable[..., Any]], Iterable[bytes]]:
    """``app`` as a WSGI-shaped callable for the harness: each environ carries its scope."""
    loop = asyncio.new_event_loop()

    def wsgi(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        loop.run_until_complete(app(environ[_SCOPE_KEY], _receive, send))
        start = sent[0]
        status = start["status"]
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]])
        return [message.get("body", b"") for message in sent[1:]]

    weakref.finalize(wsgi, loop.close)
    return wsgi


def asgi_requests(header: str, session_id: str, path: str = "/") -> Callable[[int], list[Environ]]:
    """``n`` fresh GET scopes (one per request: the middleware writes to its scope) carrying the cookie."""
    headers = [(b"host", b"localhost:8000"), (b"user-agent", b"lucia-wsgi-bench/1"), (b"accept", b"*/*"),
               (b"cookie", cookie_header(header, COOKIE_NAME, session_id).encode("latin-1"))]
    scope: Scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                    "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
                    "headers": headers, "client": ("127.0.0.1", 50000), "server": ("localhost", 8000)}
    return lambda n: [{_SCOPE_KEY: dict(scope)} for _ in range(n)]


async def _answer(send: Send, text: str, *headers: tuple[bytes, bytes]) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": 200,
                "headers": [_TEXT, (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def make_asgi_floor(path: str | PathLike[str], threads: int) -> ASGIApp:
    """The raw ASGI floor (see the module docstring), its query in a pool of ``threads`` workers."""
    local = threading.local()
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="asgi-floor")

    def query(session_id: str) -> Any:
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = connect(path)
            local.closer = CloseWithThread(conn)
        return conn.execute(SESSION_AND_USER, (session_id,)).fetchone()

    async def floor(scope: Scope, receive: Receive, send: Send) -> None:
        header = next((value for name, value in scope["headers"] if name == b"cookie"), b"")
        session_id = split_cookie(header.decode("latin-1"))
        row = await asyncio.get_running_loop().run_in_executor(pool, query, session_id) if session_id else None
        if row is None or row[_IDLE_EXPIRES] < now_ms():
            return await _answer(send, "anonymous", _VARY)
        return await _answer(send, row[_USER_ID], _VARY)

    weakref.finalize(floor, pool.shutdown, wait=False)
    return floor


async def _lucia_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    _, user = await scope["lucia.auth"].validate_user()
    await _answer(send, "anonymous" if user is None else user["user_id"])


def make_lucia_asgi_app(auth: Auth) -> ASGIApp:
    """A bare endpoint awaiting ``validate_user()`` behind :class:`~lucia_wsgi.asgi.LuciaASGIMiddleware`."""
    from lucia_wsgi.asgi import LuciaASGIMiddleware

    return LuciaASGIMiddleware(_lucia_endpoint, auth)


def asgi_cases(medium_db: Path, medium: int) -> list[Case]:
    """The raw ASGI floor and lucia's ASGI row on the medium database, each with both headers."""
    i = medium // 2
    threads = min(32, (os.cpu_count() or 1) + 4)  # auth.aio's default pool size
    auth = make_auth(SQLiteAdapter(medium_db))

    def requests(header: str) -> Callable[[int], list[Environ]]:
        return asgi_requests(header, dbs.session_id(i))

    return [
        *per_header("asgi.floor", f"raw ASGI floor: str.split + sqlite3 JOIN in a worker thread ({medium:,})",
                    serve_asgi(make_asgi_floor(medium_db, threads)), requests, expect_body(dbs.user_id(i))),
        *per_header("asgi.active", "lucia ASGI validate_user, active session (LuciaASGIMiddleware)",
                    serve_asgi(make_lucia_asgi_app(auth)), requests, expect_body(dbs.user_id(i)),
                    floor="asgi.floor"),
    ]
