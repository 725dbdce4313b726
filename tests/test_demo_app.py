"""The demo application, driven through WebTest (no server)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest

CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
ORIGIN = {"Origin": "http://localhost"}
FORM = "application/x-www-form-urlencoded"


def load_demo() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "demo_app.py"
    spec = importlib.util.spec_from_file_location("demo_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo_app = load_demo()


@pytest.fixture
def middleware(tmp_path: Path) -> Iterator[Any]:
    middleware = demo_app.make_app(tmp_path / "demo.db", hash=CHEAP_HASH)
    yield middleware
    middleware.auth.config.user_adapter.close()


@pytest.fixture
def app(middleware: Any) -> webtest.TestApp:
    return webtest.TestApp(validator(middleware))


@pytest.fixture
def alice(app: webtest.TestApp) -> webtest.TestApp:
    """``app`` with a signed-up (and signed-in) user alice."""
    app.post("/signup", {"username": "alice", "password": "correct horse"}, headers=ORIGIN, status=303)
    app.reset()  # forget the cookie: tests log in themselves
    return app


def session_cookie(app: webtest.TestApp) -> str:
    return str(app.cookies.get("auth_session", ""))


# sign up


def test_sign_up_page_shows_the_rules(app: webtest.TestApp) -> None:
    page = app.get("/signup")
    assert demo_app.USERNAME_RULE in page.text and demo_app.PASSWORD_RULE in page.text


def test_sign_up_creates_the_user_and_signs_in(app: webtest.TestApp) -> None:
    form = app.get("/signup").form
    form["username"], form["password"] = "alice", "correct horse"
    response = form.submit(headers=ORIGIN, status=303)
    assert response.location.endswith("/profile")
    (set_cookie,) = response.headers.getall("Set-Cookie")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    profile = response.follow()
    assert profile.html.find(id="username").text == "alice"
    assert profile.html.find(id="expires").find("time")["datetime"].endswith("+00:00")


def test_duplicate_username_is_refused(alice: webtest.TestApp) -> None:
    response = alice.post("/signup", {"username": "alice", "password": "another one"}, headers=ORIGIN, status=409)
    assert "That username is taken." in response.text
    assert session_cookie(alice) == ""


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        pytest.param("al", "long enough", "Username:", id="short-name"),
        pytest.param("a" * 32, "long enough", "Username:", id="long-name"),
        pytest.param("Alice", "long enough", "Username:", id="uppercase"),
        pytest.param("al ice", "long enough", "Username:", id="space"),
        pytest.param("alice", "short", "Password:", id="short-password"),
        pytest.param("alice", "x" * 256, "Password:", id="long-password"),
        pytest.param("alice", "\ufdfa" * 200, "Password:", id="password-past-4096-bytes-under-nfkc"),
    ],
)
def test_sign_up_rules_are_enforced(
    app: webtest.TestApp, middleware: Any, username: str, password: str, message: str
) -> None:
    response = app.post("/signup", {"username": username, "password": password}, headers=ORIGIN, status=400)
    assert message in response.text
    assert middleware.auth.config.user_adapter.get_user_by_provider_id(f"username:{username}") is None


def test_sign_up_escapes_what_it_echoes(app: webtest.TestApp) -> None:
    response = app.post("/signup", {"username": '"><script>x()</script>', "password": "long enough"},
                        headers=ORIGIN, status=400)
    assert "<script>x()" not in response.text
    assert "&quot;&gt;&lt;script&gt;x()&lt;/script&gt;" in response.text


# log in


def test_log_in_signs_in(alice: webtest.TestApp) -> None:
    form = alice.get("/login").form
    form["username"], form["password"] = "alice", "correct horse"
    profile = form.submit(headers=ORIGIN, status=303).follow()
    assert profile.html.find(id="username").text == "alice"
    assert len(session_cookie(alice)) == 40


def test_signed_in_visitor_skips_the_log_in_page(alice: webtest.TestApp) -> None:
    alice.post("/login", {"username": "alice", "password": "correct horse"}, headers=ORIGIN, status=303)
    assert alice.get("/login", status=303).location.endswith("/profile")


def _user_without_password(middleware: Any) -> str:
    middleware.auth.create_user("username", "nopass", attributes={"username": "nopass"})
    return "nopass"


def _user_with_bcrypt_hash(middleware: Any) -> str:
    user = middleware.auth.create_user("username", "old", password="long enough", attributes={"username": "old"})
    middleware.auth.config.user_adapter.update_user(user["user_id"], {"hashed_password": "$2a$10$" + "a" * 53})
    return "old"


@pytest.mark.parametrize(
    ("make_user", "password"),
    [
        pytest.param(lambda middleware: "alice", "wrong password", id="wrong-password"),
        pytest.param(lambda middleware: "alice", "", id="empty-password"),
        pytest.param(lambda middleware: "alice", "x" * 5000, id="over-long-password"),
        pytest.param(lambda middleware: "nobody", "correct horse", id="unknown-user"),
        pytest.param(lambda middleware: "<b>", "correct horse", id="malformed-user"),
        pytest.param(_user_without_password, "correct horse", id="user-without-password"),
        pytest.param(_user_with_bcrypt_hash, "long enough", id="outdated-hash"),
    ],
)
def test_every_log_in_failure_gives_the_same_page(
    alice: webtest.TestApp, middleware: Any, make_user: Any, password: str
) -> None:
    reference = alice.post("/login", {"username": "nobody-at-all", "password": "x"}, headers=ORIGIN, status=400)
    username = make_user(middleware)
    response = alice.post("/login", {"username": username, "password": password}, headers=ORIGIN, status=400)
    assert demo_app.LOGIN_FAILED in response.text
    assert response.text == reference.text
    assert session_cookie(alice) == ""


# bad input


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(b"username=alice&password=%ED%A0%80xxxxxxxx", FORM, id="lone-surrogate"),
        pytest.param(b"username=%FF%FE&password=xxxxxxxxxx", FORM, id="invalid-utf8-escape"),
        pytest.param("username=zoë&password=xxxxxxxxxx".encode(), FORM, id="raw-non-ascii"),
        pytest.param(b"username=alice", FORM, id="missing-field"),
        pytest.param(b"username=a&username=b&password=xxxxxxxxxx", FORM, id="duplicate-field"),
        pytest.param(b"username=a&password=xxxxxxxxxx&extra=1", FORM, id="extra-field"),
        pytest.param(b"username=a&password=" + b"x" * (16 * 1024), FORM, id="oversized"),
        pytest.param(b'{"username": "a", "password": "b"}', "application/json", id="json"),
        pytest.param(b"", FORM, id="empty"),
    ],
)
@pytest.mark.parametrize("path", [pytest.param("/login", id="login"), pytest.param("/signup", id="signup")])
def test_bad_form_input_is_a_clean_400(app: webtest.TestApp, path: str, body: bytes, content_type: str) -> None:
    response = app.post(path, body, content_type=content_type, headers=ORIGIN, status=400)
    assert response.content_type == "text/html"
    assert "Bad request" in response.text


@pytest.mark.parametrize("path", ["/login", "/signup", "/logout"])
def test_cross_site_form_posts_are_refused(app: webtest.TestApp, middleware: Any, path: str) -> None:
    response = app.post(path, {"username": "mallory", "password": "long enough"},
                        headers={"Origin": "https://evil.example"}, status=403)
    assert "Set-Cookie" not in response.headers
    assert middleware.auth.config.user_adapter.get_user_by_provider_id("username:mallory") is None


# profile and log out


def test_profile_redirects_to_log_in_when_anonymous(app: webtest.TestApp) -> None:
    assert app.get("/profile", status=303).location.endswith("/login")
    assert app.get("/", status=303).location.endswith("/profile")


def test_plain_form_log_out(alice: webtest.TestApp, middleware: Any) -> None:
    alice.post("/login", {"username": "alice", "password": "correct horse"}, headers=ORIGIN, status=303)
    session_id = session_cookie(alice)
    profile = alice.get("/profile")
    response = profile.forms[0].submit(headers=ORIGIN, status=303)
    assert response.location.endswith("/login")
    assert session_cookie(alice) == ""
    assert middleware.auth.config.session_adapter.get_session(session_id) is None
    alice.get("/profile", status=303)


def test_profile_page_wires_client_js_sign_out(alice: webtest.TestApp) -> None:
    alice.post("/login", {"username": "alice", "password": "correct horse"}, headers=ORIGIN, status=303)
    profile = alice.get("/profile")
    assert profile.html.find("form", attrs={"data-sign-out": True})["action"] == "/logout"
    script = alice.get("/static/demo.js")
    assert script.content_type == "text/javascript"
    assert 'import { signOut } from "/api/auth/client.js"' in script.text


def test_api_routes_are_mounted(alice: webtest.TestApp) -> None:
    alice.post("/login", {"username": "alice", "password": "correct horse"}, headers=ORIGIN, status=303)
    assert alice.get("/api/auth/user").json["user"]["username"] == "alice"


# the rest


def test_pages_carry_security_headers(app: webtest.TestApp) -> None:
    headers = app.get("/login").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"


def test_unknown_page_and_wrong_method(app: webtest.TestApp) -> None:
    assert "no such page" in app.get("/nowhere", status=404).text
    assert app.get("/logout", status=405).headers["Allow"] == "POST"


def test_tables_are_created_on_first_start_and_kept(tmp_path: Path) -> None:
    first = demo_app.make_app(tmp_path / "demo.db", hash=CHEAP_HASH)
    webtest.TestApp(first).post("/signup", {"username": "alice", "password": "correct horse"},
                                headers=ORIGIN, status=303)
    first.auth.config.user_adapter.close()
    second = demo_app.make_app(tmp_path / "demo.db", hash=CHEAP_HASH)
    webtest.TestApp(second).post("/login", {"username": "alice", "password": "correct horse"},
                                 headers=ORIGIN, status=303)
    second.auth.config.user_adapter.close()


def test_command_line_defaults() -> None:
    args = demo_app.parse_args([])
    assert (args.db, args.host, args.port) == ("demo.db", "127.0.0.1", 8000)
    args = demo_app.parse_args(["--db", "x.db", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.db, args.host, args.port) == ("x.db", "0.0.0.0", 9000)
