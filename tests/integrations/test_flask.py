"""lucia_wsgi.flask through a real Flask app (a blueprint, an app factory), driven by WebTest."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit
from wsgiref.validate import validator

import pytest
import webtest
from flask import Flask, jsonify

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi import lucia as lucia_auth
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.config import DAY_MS
from lucia_wsgi.flask import Lucia, current_user, login_required, sign_in, sign_out
from lucia_wsgi.testing import FaultyAdapter

from .conftest import CHEAP_HASH, ORIGIN, T0, Clock, cookie, cookie_value, set_cookies
from .flask_site import create_app

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def lucia(auth: Auth) -> Lucia:
    return Lucia(auth)


@pytest.fixture
def flask_app(lucia: Lucia) -> Flask:
    return create_app(lucia)


@pytest.fixture
def app(flask_app: Flask) -> webtest.TestApp:
    return webtest.TestApp(validator(flask_app))


def sign_in_through(app: webtest.TestApp, **params: str) -> webtest.TestResponse:
    return app.post("/account/login", {"username": "alice", "password": "correct horse", **params}, status=302)


# current_user


def test_current_user_is_none_for_anonymous_requests(app: webtest.TestApp) -> None:
    response = app.get("/whoami")
    assert response.json == {"user": None}
    assert set_cookies(response) == []
    assert "Cookie" in response.headers["Vary"]


def test_current_user_is_the_sessions_user(app: webtest.TestApp, session_id: str, alice: Any) -> None:
    response = app.get("/whoami", headers=cookie(session_id))
    assert response.json == {"user": alice}
    assert set_cookies(response) == []


def test_current_user_is_in_templates(app: webtest.TestApp, session_id: str) -> None:
    assert app.get("/").text == "nobody"
    assert app.get("/", headers=cookie(session_id)).text == "alice"


def test_idle_session_is_renewed_through_current_user(
    app: webtest.TestApp, session_id: str, clock: Clock, auth: Auth, alice: Any
) -> None:
    clock.now = T0 + DAY_MS + 1  # past the active period: idle
    response = app.get("/whoami", headers=cookie(session_id))
    assert response.json == {"user": alice}
    (value,) = set_cookies(response)
    renewed = cookie_value(value)
    assert renewed != session_id
    assert auth.get_session(renewed).is_fresh is False
    assert app.get("/whoami", headers=cookie(renewed)).json == {"user": alice}


def test_invalid_cookie_is_blanked_and_user_is_none(app: webtest.TestApp) -> None:
    response = app.get("/whoami", headers=cookie("D" * 40))
    assert response.json == {"user": None}
    (value,) = set_cookies(response)
    assert value.startswith("auth_session=;")


def test_store_failure_is_an_error_not_a_logout(app: webtest.TestApp, session_id: str, store: FaultyAdapter) -> None:
    store.fail("get_session_and_user_by_session_id")
    response = app.get("/whoami", headers=cookie(session_id), status=500)
    assert set_cookies(response) == []


def test_current_user_outside_the_middleware_is_a_clear_error(flask_app: Flask) -> None:
    with flask_app.test_request_context("/"):
        with pytest.raises(RuntimeError, match="wsgi_app"):
            current_user["username"]
        # Like every Flask proxy, an unbound current_user is falsy: anonymous, never signed in.
        assert not current_user


def test_current_user_without_lucia_is_a_clear_error() -> None:
    bare = Flask(__name__)

    @bare.get("/")
    @login_required
    def home() -> str:
        return "secret"

    bare.testing = True  # let the error out of the test client
    with pytest.raises(RuntimeError, match="Lucia is not set up"):
        bare.test_client().get("/")


# login_required


def test_login_required_answers_401_json_by_default(app: webtest.TestApp) -> None:
    response = app.get("/account/me", status=401)
    assert response.content_type == "application/json"
    assert response.json == {"message": "unauthorized"}
    assert set_cookies(response) == []
    assert "Cookie" in response.headers["Vary"]


def test_login_required_answers_plain_text_to_a_browser(app: webtest.TestApp) -> None:
    response = app.get("/account/me", headers=BROWSER, status=401)
    assert response.content_type == "text/plain"
    assert response.text == "Unauthorized"


def test_login_required_401_can_be_replaced_by_an_errorhandler(lucia: Lucia) -> None:
    flask_app = create_app(lucia)
    flask_app.register_error_handler(401, lambda error: ("please sign in", 401))
    response = webtest.TestApp(flask_app).get("/account/me", status=401)
    assert response.text == "please sign in"


def test_login_required_lets_the_user_through(app: webtest.TestApp, session_id: str) -> None:
    assert app.get("/account/me", headers=cookie(session_id)).text == "hello alice"


def test_login_required_wraps_async_views(app: webtest.TestApp, session_id: str) -> None:
    assert app.get("/async", headers=cookie(session_id)).text == "async hello alice"
    app.get("/async", status=401)


@pytest.mark.parametrize("login_view", [pytest.param("account.login_page", id="endpoint"),
                                        pytest.param("/account/login", id="path")])
def test_login_required_redirects_to_the_login_view_with_next(auth: Auth, login_view: str) -> None:
    app = webtest.TestApp(create_app(Lucia(auth, login_view=login_view)))
    response = app.get("/account/me?tab=2&q=caf%C3%A9", status=302)
    location = urlsplit(response.location)
    assert location.path == "/account/login"
    assert parse_qs(location.query) == {"next": ["/account/me?tab=2&q=caf%C3%A9"]}
    assert set_cookies(response) == []
    assert response.follow().text == "the login form"


def test_login_view_can_be_set_after_construction(lucia: Lucia) -> None:
    app = webtest.TestApp(create_app(lucia))
    app.get("/account/me", status=401)
    lucia.login_view = "account.login_page"
    assert urlsplit(app.get("/account/me", status=302).location).path == "/account/login"


def test_next_is_a_local_path_for_odd_request_paths(auth: Auth) -> None:
    app = webtest.TestApp(create_app(Lucia(auth, login_view="account.login_page")))
    response = app.get("/files/%5C%5Cevil.example/%09x", status=302)
    (target,) = parse_qs(urlsplit(response.location).query)["next"]
    assert target == "/files/%5C%5Cevil.example/%09x"


# sign_in / sign_out


def test_sign_in_round_trip(app: webtest.TestApp, auth: Auth, alice: Any) -> None:
    response = sign_in_through(app, next="/account/me")
    assert urlsplit(response.location).path == "/account/me"
    (value,) = set_cookies(response)
    assert "HttpOnly" in value
    assert auth.get_session(cookie_value(value)).user_id == alice["user_id"]
    # WebTest's cookie jar sends the cookie back, as a browser would.
    assert response.follow().text == "hello alice"


def test_sign_in_ignores_an_off_site_next(app: webtest.TestApp, alice: Any) -> None:
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert urlsplit(sign_in_through(app, next=hostile).location).path == "/"


def test_sign_in_refuses_a_wrong_password(app: webtest.TestApp) -> None:
    response = app.post("/account/login", {"username": "alice", "password": "wrong"}, status=400)
    assert set_cookies(response) == []


def test_sign_out_round_trip(app: webtest.TestApp, auth: Auth, alice: Any) -> None:
    session_id = cookie_value(set_cookies(sign_in_through(app))[0])
    assert app.get("/account/me").text == "hello alice"
    response = app.post("/account/logout", headers={"Origin": ORIGIN})
    assert response.text == "signed out"
    (value,) = set_cookies(response)
    assert value.startswith("auth_session=;")
    with pytest.raises(LuciaError):
        auth.get_session(session_id)
    app.get("/account/me", status=401)


def test_cross_site_sign_out_is_refused_and_ends_nothing(app: webtest.TestApp, session_id: str, auth: Auth) -> None:
    response = app.post("/account/logout", headers={**cookie(session_id), "Origin": "https://evil.example"},
                        status=403)
    assert set_cookies(response) == []
    assert auth.get_session(session_id).session_id == session_id


def test_current_user_follows_sign_in_and_sign_out_within_a_request(lucia: Lucia, alice: Any) -> None:
    flask_app = create_app(lucia)

    @flask_app.post("/probe")
    def probe() -> Any:
        seen = [current_user._get_current_object()]
        sign_in(alice["user_id"])
        seen.append(current_user._get_current_object())
        sign_out()
        seen.append(current_user._get_current_object())
        return jsonify(seen)

    response = webtest.TestApp(flask_app).post("/probe", headers={"Origin": ORIGIN})
    assert response.json == [None, alice, None]
    (value,) = set_cookies(response)
    assert value.startswith("auth_session=;")


def test_sign_in_is_private_and_records_device_details(clock: Clock) -> None:
    auth = lucia_auth(adapter=MemoryAdapter(), env="DEV", clock=clock, hash=CHEAP_HASH, device_details=True)
    user = auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    app = webtest.TestApp(create_app(Lucia(auth)), extra_environ={"REMOTE_ADDR": "203.0.113.9"})
    response = app.post("/account/login", {"username": "alice", "password": "correct horse"},
                        headers={"User-Agent": "webtest"}, status=302)
    assert response.headers["Cache-Control"] == "private"
    (device,) = auth.get_user_sessions(user["user_id"])
    assert (device.user_agent, device.ip_address) == ("webtest", "203.0.113.9")


# the extension


def test_one_lucia_serves_several_apps(lucia: Lucia, alice: Any) -> None:
    first, second = create_app(lucia), create_app(lucia)
    assert first.extensions["lucia"] is second.extensions["lucia"] is lucia
    session_id = cookie_value(set_cookies(sign_in_through(webtest.TestApp(first)))[0])
    assert webtest.TestApp(second).get("/account/me", headers=cookie(session_id)).text == "hello alice"


def test_lucia_app_auth_form(auth: Auth, session_id: str) -> None:
    flask_app = Flask(__name__)

    @flask_app.get("/me")
    @login_required
    def me() -> str:
        return f"hello {current_user['username']}"

    lucia = Lucia(flask_app, auth)
    assert flask_app.extensions["lucia"] is lucia
    assert webtest.TestApp(flask_app).get("/me", headers=cookie(session_id)).text == "hello alice"
    # Flask's own test client goes through app.wsgi_app too.
    client = flask_app.test_client()
    client.set_cookie("auth_session", session_id)
    assert client.get("/me").text == "hello alice"


def test_init_app_twice_on_one_app_is_refused(lucia: Lucia, flask_app: Flask) -> None:
    with pytest.raises(RuntimeError, match="already set up"):
        lucia.init_app(flask_app)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((), id="nothing"),
        pytest.param((Flask(__name__),), id="app without auth"),
        pytest.param(("auth",), id="not an Auth"),
    ],
)
def test_lucia_refuses_bad_arguments(args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        Lucia(*args)


def test_api_routes_answer_beside_the_app(app: webtest.TestApp, session_id: str, alice: Any) -> None:
    assert app.get("/api/auth/user", headers=cookie(session_id)).json == {"user": alice}
    response = app.post("/api/auth/logout", headers={**cookie(session_id), "Origin": ORIGIN})
    assert set_cookies(response)[0].startswith("auth_session=;")
    app.get("/account/me", headers=cookie(session_id), status=401)


def test_api_prefix_moves_the_routes(auth: Auth, session_id: str, alice: Any) -> None:
    app = webtest.TestApp(create_app(Lucia(auth, api_prefix="/auth")))
    assert app.get("/auth/user", headers=cookie(session_id)).json == {"user": alice}
    app.get("/api/auth/user", status=404)
