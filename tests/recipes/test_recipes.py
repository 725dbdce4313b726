"""The documentation's WSGI tutorials (plain WSGI, Flask, Django, Pyramid), each proven with WebTest.

The applications are the files the tutorials include (``docs/examples``; see
``conftest.py``). Flask and Django use their integrations (``lucia_wsgi.flask``,
``lucia_wsgi.django``); plain WSGI and Pyramid wrap their application in
``LuciaMiddleware`` and read ``environ["lucia.auth"]``. Each protects
``GET /me`` and signs in at ``POST /login``; the same tests run against each.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest

from lucia_wsgi import lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.config import DAY_MS

T0 = 1_700_000_000_000
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
ORIGIN = {"Origin": "http://localhost"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def wsgi_app(auth: Any) -> Iterator[Any]:
    import wsgi_recipe

    yield wsgi_recipe.make_app(auth)


def flask_app(auth: Any) -> Iterator[Any]:
    import flask_recipe

    yield flask_recipe.make_app(auth)


def django_app(auth: Any) -> Iterator[Any]:
    import django_recipe
    from django.test.utils import override_settings
    from django_setup import configure_django

    configure_django()
    with override_settings(ROOT_URLCONF=django_recipe.__name__, ALLOWED_HOSTS=["localhost"],
                           MIDDLEWARE=["lucia_wsgi.django.LuciaMiddleware"],
                           LUCIA_AUTH=f"{django_recipe.__name__}.auth"):
        try:
            yield django_recipe.make_app(auth)
        finally:
            django_recipe.auth = None


def pyramid_app(auth: Any) -> Iterator[Any]:
    import pyramid_recipe

    yield pyramid_recipe.make_app(auth)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(clock: Clock) -> Any:
    return lucia(adapter=MemoryAdapter(), env="DEV", clock=clock, hash=CHEAP_HASH,
                 transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]})


@pytest.fixture
def session_id(auth: Any) -> str:
    user = auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    return str(auth.create_session(user["user_id"]).session_id)


def serve(factory: Callable[[Any], Generator[Any, None, None]], auth: Any) -> Iterator[webtest.TestApp]:
    apps = factory(auth)
    yield webtest.TestApp(validator(next(apps)))
    apps.close()


@pytest.fixture(
    params=[
        pytest.param(wsgi_app, id="wsgi"),
        pytest.param(flask_app, id="flask"),
        pytest.param(django_app, id="django"),
        pytest.param(pyramid_app, id="pyramid"),
    ]
)
def app(request: pytest.FixtureRequest, auth: Any) -> Iterator[webtest.TestApp]:
    yield from serve(request.param, auth)


@pytest.fixture(params=[pytest.param(wsgi_app, id="wsgi"), pytest.param(flask_app, id="flask"),
                        pytest.param(django_app, id="django")])
def integrated_app(request: pytest.FixtureRequest, auth: Any) -> Iterator[webtest.TestApp]:
    """The recipes that also have ``POST /logout`` (``sign_out``)."""
    yield from serve(request.param, auth)


def cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"auth_session={session_id}"}


def auth_cookies(response: webtest.TestResponse) -> list[str]:
    return [value for value in response.headers.getall("Set-Cookie") if value.startswith("auth_session=")]


def test_protected_view_refuses_anonymous_requests(app: webtest.TestApp) -> None:
    response = app.get("/me", status=401)
    assert auth_cookies(response) == []
    assert "Cookie" in response.headers.getall("Vary")[-1]


def test_protected_view_sees_the_user(app: webtest.TestApp, session_id: str) -> None:
    response = app.get("/me", headers=cookie(session_id))
    assert response.text == "hello alice"
    assert auth_cookies(response) == []


def test_idle_session_is_renewed_through_the_framework(
    app: webtest.TestApp, session_id: str, clock: Clock
) -> None:
    clock.now = T0 + DAY_MS + 1
    response = app.get("/me", headers=cookie(session_id))
    assert response.text == "hello alice"
    (value,) = auth_cookies(response)
    assert not value.startswith(f"auth_session={session_id}")


def test_invalid_cookie_is_blanked_through_the_framework(app: webtest.TestApp) -> None:
    response = app.get("/me", headers=cookie("D" * 40), status=401)
    (value,) = auth_cookies(response)
    assert value.startswith("auth_session=;")


def test_log_in_view_sets_the_cookie(app: webtest.TestApp, session_id: str) -> None:
    response = app.post("/login", {"username": "alice", "password": "correct horse"})
    assert response.text == "signed in"
    (value,) = auth_cookies(response)
    assert "HttpOnly" in value
    new_id = value.split(";")[0].removeprefix("auth_session=")
    assert new_id != session_id
    assert app.get("/me", headers=cookie(new_id)).text == "hello alice"


def test_log_in_view_refuses_a_wrong_password(app: webtest.TestApp, session_id: str) -> None:
    response = app.post("/login", {"username": "alice", "password": "wrong"}, status=400)
    assert auth_cookies(response) == []


def test_api_routes_answer_beside_the_framework(app: webtest.TestApp, session_id: str) -> None:
    assert app.get("/api/auth/user", headers=cookie(session_id)).json["user"]["username"] == "alice"
    response = app.post("/api/auth/logout", headers={**cookie(session_id), **ORIGIN})
    assert auth_cookies(response)[0].startswith("auth_session=;")
    app.get("/me", headers=cookie(session_id), status=401)


def test_log_out_view_ends_the_session(integrated_app: webtest.TestApp, session_id: str) -> None:
    response = integrated_app.post("/logout", headers={**cookie(session_id), **ORIGIN})
    assert response.text == "signed out"
    (value,) = auth_cookies(response)
    assert value.startswith("auth_session=;")
    integrated_app.get("/me", headers=cookie(session_id), status=401)


def test_log_out_view_refuses_a_cross_site_post(integrated_app: webtest.TestApp, session_id: str) -> None:
    integrated_app.post("/logout", headers={**cookie(session_id), "Origin": "https://evil.example"}, status=403)
    assert integrated_app.get("/me", headers=cookie(session_id)).text == "hello alice"
