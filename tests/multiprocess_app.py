"""A small app on LuciaMiddleware, served by waitress, for the two-process tests.

Run as ``python tests/multiprocess_app.py --name A --db URL [--session-url URL]``:
it listens on a free port of 127.0.0.1 and prints that port on the first line
of standard output. Routes (besides ``/api/auth/*``):

* ``POST /signup`` (JSON ``{"username", "password"}``): creates the user, signs in.
* ``GET /whoami``: ``{"process", "pid", "user_id"}`` (``user_id`` null when signed out).
* ``POST /clock`` (JSON ``{"advance_ms"}``): moves this process's clock forward, ``{"now"}``.

The clock is real time plus an offset that only grows: a test moves both
processes through hours without sleeping, and stays ahead of Redis, which
expires keys by real time.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Iterable
from typing import Any

import waitress

from lucia_wsgi import Auth, LuciaMiddleware, lucia
from lucia_wsgi.adapters import PostgresAdapter, RedisSessionAdapter, SQLiteAdapter
from lucia_wsgi.config import system_clock
from lucia_wsgi.urls import parse_database_url, parse_session_url

# Both processes and the test must agree on the hash; scrypt would only slow the test.
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)


def open_stores(db: str, session_url: str | None) -> tuple[Any, Any]:
    """(user store, session store) for the URLs, as the app and the test both use them."""
    parsed = parse_database_url(db)
    users: Any = (SQLiteAdapter(parsed.target) if parsed.kind == "sqlite"
                  else PostgresAdapter(parsed.target, schema=parsed.option, max_size=8))
    if session_url is None:
        return users, users
    redis_target = parse_session_url(session_url)
    return users, RedisSessionAdapter(redis_target.target, prefix=redis_target.option or "lucia:")


class ForwardClock:
    """Real time (Unix ms) plus an offset the test moves forward, never back."""

    def __init__(self) -> None:
        self.offset = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        return system_clock() + self.offset

    def advance(self, ms: int) -> int:
        if type(ms) is not int or ms < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self.offset += ms
        return self()


def build_auth(users: Any, sessions: Any, clock: ForwardClock) -> Auth:
    adapter = users if users is sessions else {"user": users, "session": sessions}
    return lucia(adapter=adapter, env="DEV", hash=CHEAP_HASH, clock=clock)


def _json_body(environ: dict[str, Any]) -> Any:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length))


def make_app(auth: Auth, name: str, clock: ForwardClock) -> LuciaMiddleware:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = environ["lucia.auth"]
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        status, body = "404 Not Found", {"message": "not found"}
        if path == "/whoami" and method == "GET":
            session = request.validate()
            status, body = "200 OK", {"process": name, "pid": os.getpid(),
                                      "user_id": None if session is None else session.user_id}
        elif path == "/signup" and method == "POST":
            data = _json_body(environ)
            user = auth.create_user("username", data["username"], password=data["password"])
            request.set_session(auth.create_session(user["user_id"]))
            status, body = "200 OK", {"process": name, "user_id": user["user_id"]}
        elif path == "/clock" and method == "POST":
            status, body = "200 OK", {"now": clock.advance(_json_body(environ)["advance_ms"])}
        payload = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    return LuciaMiddleware(app, auth)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--session-url")
    args = parser.parse_args()
    clock = ForwardClock()
    auth = build_auth(*open_stores(args.db, args.session_url), clock)
    server: Any = waitress.create_server(make_app(auth, args.name, clock), host="127.0.0.1", port=0, threads=8)
    print(server.effective_port, flush=True)
    server.run()


if __name__ == "__main__":
    main()
