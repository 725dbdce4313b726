"""Pyramid: ``LuciaMiddleware`` around ``config.make_wsgi_app()``, views read ``request.environ``."""

from __future__ import annotations

from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response

from lucia_wsgi import Auth, LuciaError, LuciaMiddleware


def me(request: Request) -> Response:
    session, user = request.environ["lucia.auth"].validate_user()
    if session is None:
        return Response("sign in first", status=401)
    return Response(f"hello {user['username']}")


def login(request: Request) -> Response:
    lucia_request = request.environ["lucia.auth"]
    auth = lucia_request.auth
    form = request.POST
    try:
        user = auth.authenticate_user("username", form.get("username", ""), form.get("password", ""))
    except LuciaError:
        return Response("invalid username or password", status=400)
    lucia_request.set_session(auth.create_session(user["user_id"]))
    return Response("signed in")


def make_app(auth: Auth) -> LuciaMiddleware:
    with Configurator() as config:
        config.add_route("me", "/me", request_method="GET")
        config.add_route("login", "/login", request_method="POST")
        config.add_view(me, route_name="me")
        config.add_view(login, route_name="login")
        app = config.make_wsgi_app()
    return LuciaMiddleware(app, auth)


def main() -> LuciaMiddleware:
    """The application on ``app.db``: ``waitress-serve --call pyramid_recipe:main``."""
    from app_auth import make_auth

    return make_app(make_auth("app.db"))
