"""lucia_wsgi.django in a real Django project, through WebTest, Django's test client and its ASGI handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from wsgiref.validate import validator

import pytest
import webtest
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from django.urls import reverse

from lucia_wsgi import Auth, LuciaError, LuciaMiddleware, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.config import DAY_MS
from lucia_wsgi.testing import FaultyAdapter

from . import django_site
from .conftest import CHEAP_HASH, ORIGIN, T0, Clock, auth_cookies, cookie, cookie_value, set_cookies
from .django_support import MIDDLEWARE, asgi_call, project

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
JOINT_READ = "get_session_and_user_by_session_id"


@pytest.fixture(autouse=True)
def site_auth(auth: Auth, monkeypatch: pytest.MonkeyPatch) -> Auth:
    """``settings.LUCIA_AUTH`` names ``django_site.auth``: this test's Auth."""
    monkeypatch.setattr(django_site, "auth", auth)
    return auth


@pytest.fixture
def settings_project() -> Iterator[None]:
    with project():
        yield


@pytest.fixture
def app(settings_project: None) -> webtest.TestApp:
    return webtest.TestApp(validator(WSGIHandler()))


def expected_cookies(auth: Auth, session_id: str | None) -> list[str]:
    """What the WSGI middleware would send for ``session_id`` (or a sign-out)."""
    session = None if session_id is None else auth.get_session(session_id)
    return [c.serialize() for c in auth.create_session_cookies(session)]


def sign_in_through(app: webtest.TestApp, **params: str) -> webtest.TestResponse:
    return app.post("/login", {"username": "alice", "password": "correct horse", **params}, status=302)


# request.lucia and request.lucia_user


def test_anonymous_user_is_none(app: webtest.TestApp) -> None:
    response = app.get("/whoami")
    assert response.json == {"user": None}
    assert set_cookies(response) == []
    assert response.headers["Vary"] == "Cookie"


def test_lucia_user_is_the_sessions_user(app: webtest.TestApp, session_id: str, alice: Any) -> None:
    response = app.get("/whoami", headers=cookie(session_id))
    assert response.json == {"user": alice}
    assert set_cookies(response) == []


def test_lucia_user_is_read_once_on_first_use(app: webtest.TestApp, session_id: str, store: FaultyAdapter) -> None:
    store.reset()
    response = app.get("/twice", headers=cookie(session_id))
    assert response.json == {"names": ["alice"] * 3, "meta": True}
    assert store.count() == store.count(JOINT_READ) == 1


def test_a_view_not_reading_the_session_costs_no_store_call(
    app: webtest.TestApp, session_id: str, store: FaultyAdapter
) -> None:
    store.reset()
    response = app.get("/public", headers=cookie(session_id))
    assert response.text == "no session needed"
    assert store.count() == 0
    assert "Vary" not in response.headers


def test_idle_session_is_renewed_with_the_wsgi_cookie(
    app: webtest.TestApp, session_id: str, clock: Clock, auth: Auth, alice: Any
) -> None:
    clock.now = T0 + DAY_MS + 1
    response = app.get("/whoami", headers=cookie(session_id))
    assert response.json == {"user": alice}
    (value,) = set_cookies(response)
    renewed = cookie_value(value)
    assert renewed != session_id
    assert [value] == expected_cookies(auth, renewed)


def test_invalid_cookie_is_blanked(app: webtest.TestApp, auth: Auth) -> None:
    response = app.get("/whoami", headers=cookie("D" * 40))
    assert response.json == {"user": None}
    assert set_cookies(response) == expected_cookies(auth, None)


def test_store_failure_is_an_error_not_a_logout(app: webtest.TestApp, session_id: str, store: FaultyAdapter) -> None:
    store.fail(JOINT_READ)
    response = app.get("/whoami", headers=cookie(session_id), status=500)
    assert set_cookies(response) == []


# login_required


def test_login_required_answers_401_without_login_url(app: webtest.TestApp) -> None:
    response = app.get("/me", status=401)
    assert response.content_type == "application/json"
    assert response.json == {"message": "unauthorized"}
    assert app.get("/me", headers=BROWSER, status=401).text == "Unauthorized"


def test_login_required_lets_the_user_through(app: webtest.TestApp, session_id: str) -> None:
    assert app.get("/me", headers=cookie(session_id)).text == "hello alice"


@pytest.mark.parametrize("login_url", [pytest.param("/login-form", id="path"), pytest.param("login-form", id="name")])
def test_login_required_redirects_to_settings_login_url(login_url: str) -> None:
    with project(LOGIN_URL=login_url):
        app = webtest.TestApp(WSGIHandler())
        response = app.get("/me?tab=2", status=302)
        location = urlsplit(response.location)
        assert location.path == "/login-form"
        assert parse_qs(location.query) == {"next": ["/me?tab=2"]}
        assert response.follow().text == "the login form"


def test_login_required_takes_its_own_login_url_and_field(app: webtest.TestApp) -> None:
    location = urlsplit(app.get("/settings", status=302).location)
    assert (location.path, parse_qs(location.query)) == ("/login-form", {"to": ["/settings"]})


def test_login_required_guards_async_views(app: webtest.TestApp, session_id: str) -> None:
    assert app.get("/async-me", headers=cookie(session_id)).text == "async hello"
    app.get("/async-me", status=401)


# sign_in / sign_out


def test_sign_in_round_trip(app: webtest.TestApp, auth: Auth, alice: Any) -> None:
    response = sign_in_through(app, next="/me")
    assert urlsplit(response.location).path == "/me"
    (value,) = set_cookies(response)
    assert [value] == expected_cookies(auth, cookie_value(value))
    assert response.follow().text == "hello alice"


def test_sign_in_ignores_an_off_site_next(app: webtest.TestApp, alice: Any) -> None:
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert urlsplit(sign_in_through(app, next=hostile).location).path == "/"


def test_sign_in_refuses_a_wrong_password(app: webtest.TestApp, alice: Any) -> None:
    response = app.post("/login", {"username": "alice", "password": "wrong"}, status=400)
    assert set_cookies(response) == []


def test_sign_out_round_trip(app: webtest.TestApp, auth: Auth, alice: Any) -> None:
    session_id = cookie_value(set_cookies(sign_in_through(app))[0])
    response = app.post("/logout", headers={"Origin": ORIGIN})
    assert response.text == "signed out"
    assert set_cookies(response) == expected_cookies(auth, None)
    with pytest.raises(LuciaError):
        auth.get_session(session_id)
    app.get("/me", status=401)


def test_cross_site_sign_out_is_refused_and_ends_nothing(app: webtest.TestApp, session_id: str, auth: Auth) -> None:
    response = app.post("/logout", headers={**cookie(session_id), "Origin": "https://evil.example"}, status=403)
    assert set_cookies(response) == []
    assert auth.get_session(session_id).session_id == session_id


def test_lucia_user_follows_sign_in_and_sign_out_within_a_request(app: webtest.TestApp, alice: Any) -> None:
    response = app.get("/probe", {"user_id": alice["user_id"]})
    assert response.json == {"seen": [False, "alice", False]}


def test_several_cookie_entries_each_get_a_set_cookie(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = lucia(adapter=MemoryAdapter(), env="DEV", clock=clock, hash=CHEAP_HASH,
                 session_cookie=[{"path": "/"}, {"path": "/admin", "same_site": "strict"}],
                 transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]})
    auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    monkeypatch.setattr(django_site, "auth", auth)
    with project():
        values = set_cookies(sign_in_through(webtest.TestApp(WSGIHandler())))
        assert len(values) == 2
        assert values == expected_cookies(auth, cookie_value(values[0]))
        client = Client()
        client.post("/login", {"username": "alice", "password": "correct horse"})
        assert sorted(m.OutputString() for m in client.cookies.values()) == sorted(
            expected_cookies(auth, client.cookies["auth_session"].value))
        assert client.get("/me").content == b"hello alice"
        asgi = asgi_call(ASGIHandler(), "POST", "/login", body=b"username=alice&password=correct+horse",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        cookies = auth_cookies(asgi.all("Set-Cookie"))
        assert cookies == expected_cookies(auth, cookie_value(cookies[0]))


def test_sign_in_records_device_details_when_configured(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = lucia(adapter=MemoryAdapter(), env="DEV", clock=clock, hash=CHEAP_HASH, device_details=True)
    user = auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    monkeypatch.setattr(django_site, "auth", auth)
    with project():
        webtest.TestApp(WSGIHandler(), extra_environ={"REMOTE_ADDR": "203.0.113.9"}).post(
            "/login", {"username": "alice", "password": "correct horse"}, headers={"User-Agent": "webtest"})
        asgi_call(ASGIHandler(), "POST", "/login", body=b"username=alice&password=correct+horse",
                  headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "asgi"})
    devices = auth.get_user_sessions(user["user_id"])
    assert sorted((d.user_agent, d.ip_address) for d in devices) == [("asgi", "127.0.0.1"), ("webtest", "203.0.113.9")]


# the session headers: the rules of lucia_wsgi.headers, on Django's response


def test_a_response_setting_the_session_cookie_is_private(app: webtest.TestApp, alice: Any) -> None:
    response = app.get("/cached", {"user_id": alice["user_id"]})
    assert response.text == "hello alice"
    assert len(set_cookies(response)) == 1
    assert response.headers.getall("Cache-Control") == ["private, max-age=60"]


def test_a_sign_in_response_without_cache_control_gets_private(app: webtest.TestApp, alice: Any) -> None:
    assert sign_in_through(app).headers["Cache-Control"] == "private"


def test_a_response_setting_no_cookie_keeps_its_cache_control(app: webtest.TestApp, session_id: str) -> None:
    response = app.get("/cached", headers=cookie(session_id))
    assert (response.text, set_cookies(response)) == ("hello alice", [])
    assert response.headers["Cache-Control"] == "public, max-age=60, s-maxage=600"
    assert response.headers["Vary"] == "Cookie"


def test_the_views_own_session_cookie_wins(app: webtest.TestApp, session_id: str, clock: Clock) -> None:
    clock.now = T0 + DAY_MS + 1  # idle: reading the session queues its renewal cookie
    response = app.get("/own-cookie", headers=cookie(session_id))
    assert response.text == "was alice"
    # Django writes its own morsels with a leading space.
    (value,) = auth_cookies(value.strip() for value in response.headers.getall("Set-Cookie"))
    assert value.startswith('auth_session=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0')


# configuration


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        pytest.param(None, "must be the dotted path", id="missing"),
        pytest.param("integrations.django_site.nothing_here", "cannot import", id="unknown name"),
        pytest.param("integrations.django_site.me", "not the Auth", id="not an Auth"),
    ],
)
def test_bad_lucia_auth_fails_when_django_loads_the_middleware(setting: str | None, message: str) -> None:
    with project(LUCIA_AUTH=setting), pytest.raises(ImproperlyConfigured, match=message):
        WSGIHandler()


def test_lucia_auth_is_imported_once(settings_project: None, session_id: str, monkeypatch: pytest.MonkeyPatch
                                     ) -> None:
    app = webtest.TestApp(WSGIHandler())
    monkeypatch.setattr(django_site, "auth", lucia(adapter=MemoryAdapter(), env="DEV"))
    assert app.get("/me", headers=cookie(session_id)).text == "hello alice"


def test_routes_without_the_middleware_say_what_is_missing() -> None:
    with project(MIDDLEWARE=[]), pytest.raises(ImproperlyConfigured, match="LuciaMiddleware"):
        Client(raise_request_exception=True).get("/api/auth/user")


def test_wsgi_middleware_around_django_keeps_one_auth_request(
    settings_project: None, session_id: str, clock: Clock, auth: Auth
) -> None:
    app = webtest.TestApp(LuciaMiddleware(WSGIHandler(), auth))
    clock.now = T0 + DAY_MS + 1
    response = app.get("/twice", headers=cookie(session_id))
    assert response.json["meta"] is True
    (value,) = set_cookies(response)  # one renewal cookie, not one per middleware
    assert [value] == expected_cookies(auth, cookie_value(value))


def test_url_names(settings_project: None) -> None:
    assert [reverse(f"lucia:{name}") for name in ("user", "logout", "client_js")] == [
        "/api/auth/user", "/api/auth/logout", "/api/auth/client.js"]


# Django's test client


def test_test_client_round_trip(settings_project: None, auth: Auth, alice: Any) -> None:
    client = Client()
    response = client.post("/login", {"username": "alice", "password": "correct horse", "next": "/me"})
    assert (response.status_code, response["Location"]) == (302, "/me")
    session_id = client.cookies["auth_session"].value
    assert auth.get_session(session_id).user_id == alice["user_id"]
    assert client.get("/me").content == b"hello alice"
    assert client.post("/api/auth/logout", headers={"Origin": "http://testserver"}).json() == {}
    assert client.get("/me").status_code == 401


def test_logout_route_is_exempt_from_django_csrf_and_guarded_by_origin(auth: Auth, session_id: str) -> None:
    with project(MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware", MIDDLEWARE]):
        client = Client(enforce_csrf_checks=True)
        client.cookies["auth_session"] = session_id
        # The site's own logout view has no token: Django's CSRF check refuses it.
        assert client.post("/logout", headers={"Origin": "http://testserver"}).status_code == 403
        assert auth.get_session(session_id).session_id == session_id
        cross_site = client.post("/api/auth/logout", headers={"Origin": "https://evil.example"})
        assert (cross_site.status_code, cross_site.json()) == (403, {"message": "AUTH_INVALID_REQUEST"})
        assert auth.get_session(session_id).session_id == session_id
        assert client.post("/api/auth/logout", headers={"Origin": "http://testserver"}).json() == {}
        with pytest.raises(LuciaError):
            auth.get_session(session_id)


# Django's ASGI handler


def test_asgi_views_see_the_user(settings_project: None, session_id: str) -> None:
    handler = ASGIHandler()
    assert asgi_call(handler, "GET", "/me").status == 401
    answer = asgi_call(handler, "GET", "/me", headers=cookie(session_id))
    assert (answer.status, answer.body) == (200, b"hello alice")
    assert asgi_call(handler, "GET", "/async-me", headers=cookie(session_id)).body == b"async hello"
    assert asgi_call(handler, "GET", "/async-me").status == 401


def test_asgi_async_view_reads_the_user_in_a_thread(settings_project: None, session_id: str, alice: Any) -> None:
    answer = asgi_call(ASGIHandler(), "GET", "/async-whoami", headers=cookie(session_id))
    assert json.loads(answer.body) == {"user": alice}
    assert answer.all("Vary") == ["Cookie"]


def test_asgi_renewal_sends_the_wsgi_cookie(settings_project: None, session_id: str, clock: Clock, auth: Auth
                                            ) -> None:
    clock.now = T0 + DAY_MS + 1
    answer = asgi_call(ASGIHandler(), "GET", "/whoami", headers=cookie(session_id))
    assert json.loads(answer.body)["user"]["username"] == "alice"
    (value,) = auth_cookies(answer.all("Set-Cookie"))
    assert [value] == expected_cookies(auth, cookie_value(value))
    assert answer.all("Vary") == ["Cookie"]


@pytest.mark.parametrize(
    ("scheme", "origin", "status"),
    [
        pytest.param("https", "https://localhost", 200, id="https same origin"),
        pytest.param("https", "http://localhost", 403, id="https request, http origin"),
        pytest.param("http", "http://localhost", 200, id="http same origin"),
    ],
)
def test_asgi_origin_check_uses_the_scope_scheme(
    settings_project: None, session_id: str, auth: Auth, scheme: str, origin: str, status: int
) -> None:
    answer = asgi_call(ASGIHandler(), "POST", "/api/auth/logout", scheme=scheme,
                       headers={**cookie(session_id), "Origin": origin})
    assert answer.status == status
    assert bool(auth_cookies(answer.all("Set-Cookie"))) is (status == 200)
