"""The FastAPI and Starlette tutorials' ``main()``, run as the docs say to serve them (``app.db`` in a temporary
directory): ``uvicorn --factory fastapi_recipe:main``."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture
def main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)

    def load(module: str) -> Any:
        sys.modules.pop(module, None)
        return importlib.import_module(module).main()

    yield load
    assert (tmp_path / "app.db").exists()


def exchange(app: Any, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    """The requests in turn, each with only the cookie the previous answers set (a browser's jar)."""

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
            return [await client.request(method, path, **options) for method, path, options in requests]

    return asyncio.run(go())


def test_the_fastapi_tutorial(main: Any) -> None:
    app = main("fastapi_recipe")
    alice = {"username": "alice", "password": "correct horse"}
    greeting, me_before, signup, me, greeting_after, taken, logout, me_after = exchange(
        app,
        ("GET", "/greeting", {}),
        ("GET", "/me", {}),
        ("POST", "/signup", {"json": alice}),
        ("GET", "/me", {}),
        ("GET", "/greeting", {}),
        ("POST", "/signup", {"json": alice}),
        ("POST", "/api/auth/logout", {"headers": {"Origin": "http://localhost"}}),
        ("GET", "/me", {}),
    )
    assert greeting.text == "hello stranger"
    assert me_before.status_code == 401 and me_before.json() == {"detail": "unauthorized"}
    assert signup.status_code == 200 and signup.headers["set-cookie"].startswith("auth_session=")
    assert signup.json() == {"user_id": signup.json()["user_id"], "username": "alice"}
    assert me.text == "hello alice"
    assert greeting_after.text == "hello alice"
    assert taken.status_code == 400 and taken.json() == {"detail": "AUTH_DUPLICATE_PROVIDER_ID"}
    assert logout.status_code == 200
    assert me_after.status_code == 401
    (wrong, again) = exchange(app, ("POST", "/login", {"json": {**alice, "password": "nope"}}),
                              ("POST", "/login", {"json": alice}))
    assert wrong.status_code == 400 and "set-cookie" not in wrong.headers
    assert again.status_code == 200 and again.headers["set-cookie"].startswith("auth_session=")


def test_the_starlette_tutorial(main: Any) -> None:
    app = main("starlette_recipe")
    from app_auth import make_auth

    make_auth("app.db").create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    before, wrong, login, me = exchange(
        app,
        ("GET", "/me", {}),
        ("POST", "/login", {"json": {"username": "alice", "password": "nope"}}),
        ("POST", "/login", {"json": {"username": "alice", "password": "correct horse"}}),
        ("GET", "/me", {}),
    )
    assert before.status_code == 401 and before.text == "sign in first"
    assert wrong.status_code == 400 and "set-cookie" not in wrong.headers
    assert login.text == "signed in" and login.headers["set-cookie"].startswith("auth_session=")
    assert me.text == "hello alice"
