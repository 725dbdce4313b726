"""The documentation's ASGI tutorials (FastAPI, Starlette, Django ASGI), each driven through httpx's ASGITransport.

The applications are the files the tutorials include (``docs/examples``; see ``conftest.py``).

Every recipe wraps its framework's ASGI application in ``LuciaASGIMiddleware``
and protects ``GET /me`` with ``scope["lucia.auth"]`` (FastAPI: the
``require_user`` dependency); ``POST /login`` signs in with
``await scope["lucia.auth"].sign_in(user_id)``. The same tests run against
each, as ``test_recipes.py`` does for the WSGI ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import httpx
import pytest
from fastapi import WebSocket  # at module level: FastAPI resolves the endpoint's annotations here

from lucia_wsgi import lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.config import DAY_MS
from lucia_wsgi.testing import FaultyAdapter

T0 = 1_700_000_000_000
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
ORIGIN = {"Origin": "http://localhost"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


class Browserless:
    """httpx on an ASGITransport, on one event loop; no cookie jar: each request carries its own cookie."""

    def __init__(self, app: Any, login_body: Callable[[str, str], dict[str, Any]]) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")
        self.login_body = login_body

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        response = self.loop.run_until_complete(self.client.request(method, path, **options))
        self.client.cookies.clear()
        return response

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def log_in(self, username: str, password: str) -> httpx.Response:
        return self.post("/login", **self.login_body(username, password))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def as_json(username: str, password: str) -> dict[str, Any]:
    return {"json": {"username": username, "password": password}}


def as_form(username: str, password: str) -> dict[str, Any]:
    return {"data": {"username": username, "password": password}}


def fastapi_app(auth: Any) -> AbstractContextManager[Any]:
    import fastapi_recipe

    return nullcontext(fastapi_recipe.make_app(auth))


def starlette_app(auth: Any) -> AbstractContextManager[Any]:
    import starlette_recipe

    return nullcontext(starlette_recipe.make_app(auth))


@contextmanager
def django_app(auth: Any) -> Iterator[Any]:
    import django_asgi_recipe
    from django.test.utils import override_settings
    from django_setup import configure_django

    configure_django()
    with override_settings(ROOT_URLCONF=django_asgi_recipe.__name__, ALLOWED_HOSTS=["localhost"], MIDDLEWARE=[]):
        yield django_asgi_recipe.make_app(auth)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> FaultyAdapter:
    return FaultyAdapter(MemoryAdapter())  # counts the store calls


@pytest.fixture
def auth(store: FaultyAdapter, clock: Clock) -> Any:
    return lucia(adapter=store, env="DEV", clock=clock, hash=CHEAP_HASH,
                 transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]})


@pytest.fixture
def session_id(auth: Any) -> str:
    user = auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    return str(auth.create_session(user["user_id"]).session_id)


RECIPES = [
    pytest.param((fastapi_app, as_json), id="fastapi"),
    pytest.param((starlette_app, as_json), id="starlette"),
    pytest.param((django_app, as_form), id="django-asgi"),
]


@pytest.fixture(params=RECIPES)
def app(request: pytest.FixtureRequest, auth: Any) -> Iterator[Browserless]:
    factory, login_body = request.param
    with factory(auth) as asgi_app:
        client = Browserless(asgi_app, login_body)
        yield client
        client.close()


def cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"auth_session={session_id}"}


def auth_cookies(response: httpx.Response) -> list[str]:
    return [value for value in response.headers.get_list("set-cookie") if value.startswith("auth_session=")]


def test_protected_view_refuses_anonymous_requests(app: Browserless) -> None:
    response = app.get("/me")
    assert response.status_code == 401
    assert auth_cookies(response) == []
    assert "Cookie" in response.headers.get_list("vary")[-1]


def test_protected_view_sees_the_user(app: Browserless, session_id: str) -> None:
    response = app.get("/me", headers=cookie(session_id))
    assert response.status_code == 200 and response.text == "hello alice"
    assert auth_cookies(response) == []


def test_idle_session_is_renewed_through_the_framework(app: Browserless, session_id: str, clock: Clock) -> None:
    clock.now = T0 + DAY_MS + 1
    response = app.get("/me", headers=cookie(session_id))
    assert response.text == "hello alice"
    (value,) = auth_cookies(response)
    assert not value.startswith(f"auth_session={session_id}")
    assert response.headers["cache-control"] == "private"


def test_invalid_cookie_is_blanked_through_the_framework(app: Browserless) -> None:
    response = app.get("/me", headers=cookie("D" * 40))
    assert response.status_code == 401
    (value,) = auth_cookies(response)
    assert value.startswith("auth_session=;")


def test_log_in_view_signs_in_and_sets_the_cookie(app: Browserless, session_id: str) -> None:
    response = app.log_in("alice", "correct horse")
    assert response.status_code == 200 and response.text == "signed in"
    (value,) = auth_cookies(response)
    assert "HttpOnly" in value
    new_id = value.split(";")[0].removeprefix("auth_session=")
    assert new_id != session_id
    assert app.get("/me", headers=cookie(new_id)).text == "hello alice"


def test_log_in_view_refuses_a_wrong_password(app: Browserless, session_id: str) -> None:
    response = app.log_in("alice", "wrong")
    assert response.status_code == 400
    assert auth_cookies(response) == []


def test_api_routes_answer_beside_the_framework(app: Browserless, session_id: str) -> None:
    assert app.get("/api/auth/user", headers=cookie(session_id)).json()["user"]["username"] == "alice"
    response = app.post("/api/auth/logout", headers={**cookie(session_id), **ORIGIN})
    assert auth_cookies(response)[0].startswith("auth_session=;")
    assert app.get("/me", headers=cookie(session_id)).status_code == 401


# FastAPI's dependencies


@pytest.fixture
def api(auth: Any) -> Iterator[Browserless]:
    import fastapi_recipe

    client = Browserless(fastapi_recipe.make_app(auth), as_json)
    yield client
    client.close()


def test_require_user_answers_401_with_www_authenticate(api: Browserless) -> None:
    response = api.get("/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "unauthorized"}
    assert response.headers["www-authenticate"] == "Cookie"


def test_current_user_is_none_without_a_session(api: Browserless, session_id: str) -> None:
    assert api.get("/greeting").text == "hello stranger"
    assert api.get("/greeting", headers=cookie(session_id)).text == "hello alice"


def test_the_dependencies_read_the_session_once(auth: Any, store: FaultyAdapter, session_id: str) -> None:
    from fastapi import Depends, FastAPI

    from lucia_wsgi.asgi import LuciaASGIMiddleware
    from lucia_wsgi.fastapi import current_user, require_user

    api = FastAPI()

    @api.get("/both")
    async def both(required: Any = Depends(require_user), optional: Any = Depends(current_user)) -> bool:  # noqa: B008
        return bool(required is optional)

    client = Browserless(LuciaASGIMiddleware(api, auth), as_json)
    store.reset()
    try:
        assert client.get("/both", headers=cookie(session_id)).json() is True
    finally:
        client.close()
    assert store.count() == 1, store.calls


def test_the_dependencies_need_the_middleware(auth: Any) -> None:
    from fastapi import Depends, FastAPI

    from lucia_wsgi.fastapi import require_user

    api = FastAPI()

    @api.get("/me")
    async def me(user: Any = Depends(require_user)) -> Any:  # noqa: B008
        return user

    client = Browserless(api, as_json)
    try:
        with pytest.raises(RuntimeError, match="wrap the application in LuciaASGIMiddleware"):
            client.get("/me")
    finally:
        client.close()


@pytest.mark.parametrize(("origin", "expected"), [
    pytest.param("http://localhost", "alice", id="same-site"),
    pytest.param("https://evil.example", "nobody", id="cross-site"),
])
def test_current_user_on_a_websocket_endpoint(auth: Any, session_id: str, origin: str, expected: str) -> None:
    from fastapi import Depends, FastAPI
    from shells import call_websocket
    from test_asgi import ws_scope

    from lucia_wsgi.asgi import LuciaASGIMiddleware
    from lucia_wsgi.fastapi import current_user

    api = FastAPI()

    @api.websocket("/ws")
    async def ws(websocket: WebSocket, user: Any = Depends(current_user)) -> None:  # noqa: B008
        await websocket.accept()
        await websocket.send_text("nobody" if user is None else user["username"])
        await websocket.close()

    messages = asyncio.run(call_websocket(LuciaASGIMiddleware(api, auth), ws_scope(session_id, origin)))
    assert [message["text"] for message in messages if message["type"] == "websocket.send"] == [expected]
