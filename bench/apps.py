"""The WSGI apps under test: hello, the floors, and lucia_wsgi behind its middleware.

Each app answers ``200 text/plain`` with the signed-in user's id (or
``anonymous``), so every contestant does the same job. Database connections
are opened lazily, one per thread, so the apps also run under a forking server.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from os import PathLike
from typing import Any

from lucia_wsgi import Auth, lucia

__all__ = ["COOKIE_NAME", "hello_app", "respond", "make_floor", "make_write_floor", "split_cookie", "cheap_hash",
           "make_auth", "lucia_view", "make_lucia_app", "make_demo_app"]

COOKIE_NAME = "auth_session"
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
_SESSION_BY_ID = 'SELECT id, user_id, expires, idle_expires FROM "session" WHERE id = ?'


def respond(start_response: StartResponse, text: str, status: str = "200 OK") -> list[bytes]:
    body = text.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def hello_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """The cheapest useful WSGI app: no cookie, no database."""
    return respond(start_response, "hello")


def split_cookie(header: str, name: str = COOKIE_NAME) -> str:
    """A plain ``str.split`` cookie scan: the first ``name=value`` pair's value."""
    for pair in header.split(";"):
        key, _, value = pair.partition("=")
        if key.strip() == name:
            return value.strip()
    return ""


def _simple_cookie(header: str, name: str = COOKIE_NAME) -> str:
    morsel = SimpleCookie(header).get(name)
    return "" if morsel is None else morsel.value


App = Callable[[Environ, StartResponse], Iterable[bytes]]


def make_floor(path: str | PathLike[str], parse: str = "simplecookie") -> App:
    """The floor: parse the Cookie header, one sqlite3 primary-key lookup, a bare app.

    ``parse`` is ``"simplecookie"`` (``http.cookies``) or ``"split"`` (``str.split``).
    """
    read = {"simplecookie": _simple_cookie, "split": split_cookie}[parse]
    local = threading.local()

    def floor_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(path, check_same_thread=False)
        session_id = read(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(_SESSION_BY_ID, (session_id,)).fetchone() if session_id else None
        return respond(start_response, "anonymous" if row is None else row[1])

    return floor_app


def make_write_floor(path: str | PathLike[str], active_ms: int, idle_ms: int, grace_ms: int) -> App:
    """The floor of a renewal: the floor's lookup plus the write any renewal needs.

    One transaction shortens the old row to a grace window and inserts a new
    row with a random id, on a WAL connection with ``synchronous = NORMAL``
    (the SQLite adapter's settings); the answer carries the new cookie.
    """
    local = threading.local()

    def write_floor_app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous = NORMAL")
        session_id = _simple_cookie(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(_SESSION_BY_ID, (session_id,)).fetchone() if session_id else None
        if row is None:
            return respond(start_response, "anonymous")
        now, new_id = time.time_ns() // 1_000_000, secrets.token_hex(20)
        conn.execute("BEGIN IMMEDIATE")
        until = now + grace_ms
        conn.execute('UPDATE "session" SET expires = ?, idle_expires = ? WHERE id = ?', (until, until, row[0]))
        conn.execute('INSERT INTO "session" (id, user_id, expires, idle_expires) VALUES (?, ?, ?, ?)',
                     (new_id, row[1], now + active_ms, now + active_ms + idle_ms))
        conn.execute("COMMIT")
        body = row[1].encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                                  ("Set-Cookie", f"{COOKIE_NAME}={new_id}; Path=/; HttpOnly; SameSite=Lax")])
        return [body]

    return write_floor_app


def _cheap_generate(password: str) -> str:
    return "plain:" + password


def _cheap_validate(password: str, hashed: str) -> bool:
    return hashed == "plain:" + password


#: A no-cost ``hash=`` pair: passwords are not on the measured path.
cheap_hash = (_cheap_generate, _cheap_validate)


def make_auth(adapter: Any, **options: Any) -> Auth:
    """``lucia()`` as the benchmark configures it: DEV, defaults, the cheap hash."""
    return lucia(adapter=adapter, env="DEV", hash=cheap_hash, **options)


def lucia_view(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    """A view reading the user through ``validate_user()``."""
    _, user = environ["lucia.auth"].validate_user()
    return respond(start_response, "anonymous" if user is None else user["user_id"])


def make_lucia_app(auth: Auth, view: Callable[[Environ, StartResponse], Iterable[bytes]] = lucia_view) -> Any:
    """``view`` behind :class:`~lucia_wsgi.wsgi.LuciaMiddleware`."""
    from lucia_wsgi.wsgi import LuciaMiddleware

    return LuciaMiddleware(view, auth)


def _demo_view(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    session, user = environ["lucia.auth"].validate_user()
    if user is None:
        start_response("303 See Other", [("Location", "/login"), ("Content-Length", "0")])
        return [b""]
    html = (f"<!doctype html><title>Profile</title><h1>Hello, {user['username']}</h1>"
            f"<p>User id {user['user_id']}; session active until {session.active_period_expires:%Y-%m-%d}.</p>"
            '<form method="post" action="/api/auth/logout"><button>Sign out</button></form>')
    body = html.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def make_demo_app(path: str | PathLike[str]) -> Any:
    """A demo-style site: an HTML profile page for the signed-in user, behind the middleware."""
    from lucia_wsgi.adapters.sqlite import SQLiteAdapter

    auth = make_auth(SQLiteAdapter(path),
                     transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]})
    return make_lucia_app(auth, _demo_view)
