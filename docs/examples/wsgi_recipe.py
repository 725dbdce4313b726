"""Plain WSGI: ``LuciaMiddleware`` around the application, views read ``environ["lucia.auth"]``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from lucia_wsgi import Auth, LuciaError, LuciaMiddleware


def respond(start_response: Any, status: str, text: str) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [text.encode()]


def form(environ: dict[str, Any]) -> dict[str, str]:
    size = int(environ.get("CONTENT_LENGTH") or 0)
    fields = parse_qs(environ["wsgi.input"].read(size).decode())
    return {name: values[0] for name, values in fields.items()}


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    lucia_request = environ["lucia.auth"]  # the AuthRequest the middleware made
    route = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    if route == ("GET", "/me"):
        session, user = lucia_request.validate_user()  # renews an idle session
        if session is None:
            return respond(start_response, "401 Unauthorized", "sign in first")
        return respond(start_response, "200 OK", f"hello {user['username']}")
    if route == ("POST", "/login"):
        fields = form(environ)
        try:
            user = lucia_request.auth.authenticate_user(
                "username", fields.get("username", ""), fields.get("password", ""))
        except LuciaError:
            return respond(start_response, "400 Bad Request", "invalid username or password")
        lucia_request.sign_in(user["user_id"])  # a new session, its cookie queued
        return respond(start_response, "200 OK", "signed in")
    if route == ("POST", "/logout"):
        try:
            lucia_request.sign_out()  # ends the session, queues the blank cookie
        except LuciaError:  # a cross-site POST: AUTH_INVALID_REQUEST
            return respond(start_response, "403 Forbidden", "cross-site request")
        return respond(start_response, "200 OK", "signed out")
    return respond(start_response, "404 Not Found", "not found")


def make_app(auth: Auth) -> LuciaMiddleware:
    return LuciaMiddleware(app, auth)  # also serves /api/auth/user, /logout, /client.js


def main() -> LuciaMiddleware:
    """The application on ``app.db``: ``waitress-serve --call wsgi_recipe:main``."""
    from app_auth import make_auth

    return make_app(make_auth("app.db"))
