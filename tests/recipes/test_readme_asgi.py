"""The README's FastAPI and Starlette examples, run as printed (their ``app.db`` in a temporary directory)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

README = Path(__file__).resolve().parents[2] / "README.rst"


def python_blocks(section: str) -> list[str]:
    """The ``.. code-block:: python`` blocks of a top-level README section, dedented."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(section)}\n=+\n(.*?)(?=^\S[^\n]*\n=+\n)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no {section!r} section in the README"
    blocks = re.findall(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", match[1], re.MULTILINE)
    return ["\n".join(line[4:] for line in block.splitlines()) for block in blocks]


def example(marker: str) -> str:
    (code,) = [block for block in python_blocks("ASGI") if marker in block]
    return code


@pytest.fixture
def run_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.chdir(tmp_path)
    namespaces: list[dict[str, Any]] = []

    def run(marker: str) -> dict[str, Any]:
        namespace: dict[str, Any] = {"__name__": "readme_example"}
        exec(compile(example(marker), f"README.rst ({marker})", "exec"), namespace)
        namespaces.append(namespace)
        return namespace

    yield run
    for namespace in namespaces:
        namespace["adapter"].close()
    assert (tmp_path / "app.db").exists()


def exchange(app: Any, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
    """The requests in turn, each with only the cookie the previous answers set (a browser's jar)."""

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
            return [await client.request(method, path, **options) for method, path, options in requests]

    return asyncio.run(go())


def test_the_fastapi_example(run_example: Any) -> None:
    app = run_example("FastAPI()")["app"]
    alice = {"username": "alice", "password": "correct horse"}
    home, me_before, signup, me, home_after, logout, me_after = exchange(
        app,
        ("GET", "/", {}),
        ("GET", "/me", {}),
        ("POST", "/signup", {"json": alice}),
        ("GET", "/me", {}),
        ("GET", "/", {}),
        ("POST", "/api/auth/logout", {"headers": {"Origin": "http://localhost"}}),
        ("GET", "/me", {}),
    )
    assert home.json() == {"hello": "stranger"}
    assert me_before.status_code == 401 and me_before.json() == {"detail": "unauthorized"}
    assert signup.status_code == 200 and signup.headers["set-cookie"].startswith("auth_session=")
    assert me.json() == {"user_id": signup.json()["user_id"], "username": "alice"}
    assert home_after.json() == {"hello": "alice"}
    assert logout.status_code == 200
    assert me_after.status_code == 401
    (wrong, again) = exchange(app, ("POST", "/login", {"json": {**alice, "password": "nope"}}),
                              ("POST", "/login", {"json": alice}))
    assert wrong.status_code == 400 and "set-cookie" not in wrong.headers
    assert again.status_code == 200 and again.headers["set-cookie"].startswith("auth_session=")


def test_the_starlette_example(run_example: Any) -> None:
    namespace = run_example("Starlette(")
    namespace["auth"].create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    before, wrong, login, me = exchange(
        namespace["app"],
        ("GET", "/me", {}),
        ("POST", "/login", {"json": {"username": "alice", "password": "nope"}}),
        ("POST", "/login", {"json": {"username": "alice", "password": "correct horse"}}),
        ("GET", "/me", {}),
    )
    assert before.status_code == 401 and before.text == "sign in first"
    assert wrong.status_code == 400 and "set-cookie" not in wrong.headers
    assert login.text == "signed in" and login.headers["set-cookie"].startswith("auth_session=")
    assert me.json()["username"] == "alice"
