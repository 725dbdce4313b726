"""FastAPI: ``LuciaASGIMiddleware`` around the app; endpoints depend on ``require_user`` / ``current_user``."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.asgi import LuciaASGIMiddleware
from lucia_wsgi.fastapi import current_user, require_user


class Credentials(BaseModel):
    username: str
    password: str


def make_app(auth: Auth) -> LuciaASGIMiddleware:
    api = FastAPI()

    @api.post("/signup")
    async def signup(credentials: Credentials, request: Request) -> Any:
        try:
            user = await auth.aio.create_user("username", credentials.username, password=credentials.password,
                                              attributes={"username": credentials.username})
        except LuciaError as error:  # AUTH_DUPLICATE_PROVIDER_ID: the name is taken
            raise HTTPException(status_code=400, detail=error.code) from None
        await request.scope["lucia.auth"].sign_in(user["user_id"])
        return user

    @api.post("/login", response_class=PlainTextResponse)
    async def login(credentials: Credentials, request: Request) -> str:
        try:
            user = await auth.aio.authenticate_user("username", credentials.username, credentials.password)
        except LuciaError:
            raise HTTPException(status_code=400, detail="invalid username or password") from None
        await request.scope["lucia.auth"].sign_in(user["user_id"])
        return "signed in"

    @api.get("/me", response_class=PlainTextResponse)
    async def me(user: Any = Depends(require_user)) -> str:  # noqa: B008 - FastAPI's idiom
        return f"hello {user['username']}"  # without a session: 401 {"detail": "unauthorized"}

    @api.get("/greeting", response_class=PlainTextResponse)
    async def greeting(user: Any = Depends(current_user)) -> str:  # noqa: B008
        return "hello stranger" if user is None else f"hello {user['username']}"

    # The middleware also serves /api/auth/user, /api/auth/logout and /api/auth/client.js.
    return LuciaASGIMiddleware(api, auth)


def main() -> LuciaASGIMiddleware:
    """The application on ``app.db``: ``uvicorn --factory fastapi_recipe:main``."""
    from app_auth import make_auth

    return make_app(make_auth("app.db"))
