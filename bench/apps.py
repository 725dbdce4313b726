"""The WSGI apps under test: hello and lucia_wsgi behind its middleware (floors: :mod:`bench.floors`).

Each app answers ``200 text/plain`` with the signed-in user's id (or
``anonymous``), so every contestant does the same job. Database connections
are opened lazily, one per thread, so the apps also run under a forking server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from os import PathLike
from typing import Any

from lucia_wsgi import Auth, lucia

__all__ = ["COOKIE_NAME", "hello_app", "respond", "split_cookie", "cheap_hash", "make_auth", "lucia_view",
           "make_lucia_app", "make_demo_app"]

COOKIE_NAME = "auth_session"
Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def respond(start_response: StartResponse, text: str, *headers: tuple[str, str]) -> list[bytes]:
    """``200 text/plain`` with ``text`` as the body, and ``headers`` besides."""
    body = text.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                              *headers])
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


App = Callable[[Environ, StartResponse], Iterable[bytes]]


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
