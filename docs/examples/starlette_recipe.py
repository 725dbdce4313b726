"""Starlette: ``LuciaASGIMiddleware`` in the app's middleware list; endpoints read ``request.scope``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.asgi import LuciaASGIMiddleware


async def me(request: Request) -> Response:
    session, user = await request.scope["lucia.auth"].validate_user()
    if session is None:
        return PlainTextResponse("sign in first", status_code=401)
    return PlainTextResponse(f"hello {user['username']}")


async def login(request: Request) -> Response:
    lucia_request = request.scope["lucia.auth"]
    credentials = await request.json()
    try:
        user = await lucia_request.auth.aio.authenticate_user(
            "username", str(credentials.get("username", "")), str(credentials.get("password", "")))
    except LuciaError:
        return PlainTextResponse("invalid username or password", status_code=400)
    await lucia_request.sign_in(user["user_id"])
    return PlainTextResponse("signed in")


def make_app(auth: Auth) -> Starlette:
    return Starlette(routes=[Route("/me", me), Route("/login", login, methods=["POST"])],
                     middleware=[Middleware(LuciaASGIMiddleware, auth=auth)])


def main() -> Starlette:
    """The application on ``app.db``: ``uvicorn --factory starlette_recipe:main``."""
    from app_auth import make_auth

    return make_app(make_auth("app.db"))
