"""The demo application, driven through WebTest (no server): sign-up, log-in, profile, devices.

Every test taking ``demo`` (or ``app``, ``middleware``) runs on both shells,
WSGI and ASGI (``demo_support.AsgiForWebTest``); ``test_demo_asgi.py`` has
what only the ASGI shell needs.

The account flows (email verification, password reset, sign-in codes,
throttles) are in ``test_demo_flows.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest
from demo_support import DEMO_SHELLS, FORM, ORIGIN, Demo, build, sign_up

import demo_app
import demo_pages


@pytest.fixture(params=DEMO_SHELLS)
def demo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The demo on each shell in turn: WSGI, then ASGI (driven through ``AsgiForWebTest``)."""
    demo = build(tmp_path / "demo.db", shell=request.param)
    yield demo
    demo.close()


@pytest.fixture
def middleware(demo: Demo) -> Any:
    return demo.middleware


@pytest.fixture
def app(middleware: Any) -> webtest.TestApp:
    return webtest.TestApp(validator(middleware))


@pytest.fixture
def alice(app: webtest.TestApp) -> webtest.TestApp:
    """``app`` with a signed-up (and signed-in) user alice."""
    sign_up(app, "alice", "alice@example.com", status=303)
    app.reset()  # forget the cookie: tests log in themselves
    return app


def session_cookie(app: webtest.TestApp) -> str:
    return str(app.cookies.get("auth_session", ""))


# sign up


def test_sign_up_page_shows_the_rules(app: webtest.TestApp) -> None:
    page = app.get("/signup")
    assert demo_pages.USERNAME_RULE in page.text and demo_pages.PASSWORD_RULE in page.text


def test_sign_up_creates_the_user_and_signs_in(app: webtest.TestApp) -> None:
    form = app.get("/signup").form
    form["username"], form["email"], form["password"] = "alice", "alice@example.com", "correct horse"
    response = form.submit(headers=ORIGIN, status=303)
    assert response.location.endswith("/profile")
    (set_cookie,) = response.headers.getall("Set-Cookie")
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    profile = response.follow()
    assert profile.html.find(id="username").text == "alice"
    assert profile.html.find(id="expires").find("time")["datetime"].endswith("+00:00")


def test_duplicate_username_is_refused(alice: webtest.TestApp) -> None:
    response = sign_up(alice, "alice", "other@example.com", "another one", status=409)
    assert "That username is taken." in response.text
    assert session_cookie(alice) == ""


@pytest.mark.parametrize(
    ("username", "email", "password", "message"),
    [
        pytest.param("al", "a@example.com", "long enough", "Username:", id="short-name"),
        pytest.param("a" * 32, "a@example.com", "long enough", "Username:", id="long-name"),
        pytest.param("Alice", "a@example.com", "long enough", "Username:", id="uppercase"),
        pytest.param("al ice", "a@example.com", "long enough", "Username:", id="space"),
        pytest.param("alice", "a@example.com", "short", "Password:", id="short-password"),
        pytest.param("alice", "a@example.com", "x" * 256, "Password:", id="long-password"),
        pytest.param("alice", "a@example.com", "\ufdfa" * 200, "Password:", id="password-past-4096-bytes-under-nfkc"),
        pytest.param("alice", "", "long enough", "Email address:", id="no-email"),
        pytest.param("alice", "alice", "long enough", "Email address:", id="email-without-at"),
        pytest.param("alice", "alice@localhost", "long enough", "Email address:", id="email-undotted-domain"),
        pytest.param("alice", "alice@-example.com", "long enough", "Email address:", id="email-bad-label"),
        pytest.param("alice", "a..b@example.com", "long enough", "Email address:", id="email-double-dot"),
        pytest.param("alice", "a b@example.com", "long enough", "Email address:", id="email-space"),
        pytest.param("alice", "zoë@example.com", "long enough", "Email address:", id="email-not-ascii"),
        pytest.param("alice", "alice@\u212aexample.com", "long enough", "Email address:", id="email-kelvin-sign"),
        pytest.param("alice", "a@example.com\r\nBcc: x@example.com", "long enough", "Email address:",
                     id="email-header-injection"),
        pytest.param("alice", "a" * 243 + "@example.com", "long enough", "Email address:", id="email-too-long"),
    ],
)
def test_sign_up_rules_are_enforced(
    app: webtest.TestApp, demo: Demo, username: str, email: str, password: str, message: str
) -> None:
    response = sign_up(app, username, email, password, status=400)
    assert message in response.text
    assert demo.mails() == []
    assert demo.user(username) is None


def test_sign_up_escapes_what_it_echoes(app: webtest.TestApp) -> None:
    response = sign_up(app, '"><script>x()</script>', "a@example.com", "long enough", status=400)
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
    assert demo_pages.LOGIN_FAILED in response.text
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
    if path == "/signup" and content_type == FORM and body:  # the same fault, in a form that has an email field
        body += b"&email=a%40example.com"
    response = app.post(path, body, content_type=content_type, headers=ORIGIN, status=400)
    assert response.content_type == "text/html"
    assert "Bad request" in response.text


@pytest.mark.parametrize("path", ["/login", "/signup", "/logout"])
def test_cross_site_form_posts_are_refused(app: webtest.TestApp, middleware: Any, path: str) -> None:
    response = app.post(path, {"username": "mallory", "email": "m@example.com", "password": "long enough"},
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
    (form,) = [form for form in profile.forms.values() if form.action == "/logout"]
    response = form.submit(headers=ORIGIN, status=303)
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
    first = build(tmp_path / "demo.db")
    sign_up(webtest.TestApp(first.middleware), "alice", "alice@example.com", status=303)
    first.close()
    second = build(tmp_path / "demo.db")
    webtest.TestApp(second.middleware).post("/login", {"username": "alice", "password": "correct horse"},
                                            headers=ORIGIN, status=303)
    assert second.user("alice")["email"] == "alice@example.com"  # type: ignore[index]
    second.close()


def test_command_line_defaults() -> None:
    args = demo_app.parse_args([])
    assert (args.db, args.host, args.port, args.smtp, args.base_url) == ("demo.db", "127.0.0.1", 8000, None, None)
    args = demo_app.parse_args(["--db", "x.db", "--host", "0.0.0.0", "--port", "9000"])
    assert (args.db, args.host, args.port) == ("x.db", "0.0.0.0", 9000)


# devices

AGENT_A = "Mozilla/5.0 (X11; Linux x86_64) DeviceA"
AGENT_B = "Mozilla/5.0 (Macintosh) DeviceB"


def signed_in_device(middleware: Any, user_agent: str, address: str, username: str = "alice") -> webtest.TestApp:
    """A browser of its own (cookie jar, user agent, address) signed in as ``username``."""
    device = webtest.TestApp(validator(middleware),
                             extra_environ={"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": address})
    device.post("/login", {"username": username, "password": "correct horse"}, headers=ORIGIN, status=303)
    return device


def create_user(middleware: Any, username: str) -> None:
    middleware.auth.create_user("username", username, password="correct horse", attributes={"username": username})


@pytest.fixture
def alice_user(middleware: Any) -> None:
    """A user alice with no session yet (unlike ``alice``, whose sign-up left one)."""
    create_user(middleware, "alice")


@pytest.fixture
def two_devices(alice_user: None, middleware: Any) -> tuple[webtest.TestApp, webtest.TestApp]:
    """alice signed in on device A (198.51.100.7) and device B (203.0.113.9)."""
    return (signed_in_device(middleware, AGENT_A, "198.51.100.7"),
            signed_in_device(middleware, AGENT_B, "203.0.113.9"))


def user_id(middleware: Any, username: str) -> str:
    return str(middleware.auth.config.user_adapter.get_user_by_provider_id(f"username:{username}")["id"])


def device_ids(middleware: Any, username: str = "alice") -> list[str]:
    return sorted(session.device_id for session in middleware.auth.get_user_sessions(user_id(middleware, username)))


def device_items(profile: webtest.TestResponse) -> list[Any]:
    return profile.html.find(id="devices").find_all("li", recursive=False)


def facts(item: Any) -> dict[str, Any]:
    return {dt.text: dt.find_next_sibling("dd") for dt in item.find_all("dt")}


def sign_out_form(profile: webtest.TestResponse, action: str) -> webtest.Form:
    (form,) = [form for form in profile.forms.values() if form.action == action]
    return form


def is_signed_in(device: webtest.TestApp) -> bool:
    return device.get("/profile", status=(200, 303)).status_int == 200


def test_devices_lists_each_signed_in_device_with_its_facts(
    two_devices: tuple[webtest.TestApp, webtest.TestApp], middleware: Any
) -> None:
    a, _ = two_devices
    items = device_items(a.get("/profile"))
    assert sorted(item["id"].removeprefix("device-") for item in items) == device_ids(middleware)
    by_agent = {facts(item)["User agent"].text: facts(item) for item in items}
    assert set(by_agent) == {AGENT_A, AGENT_B}
    assert by_agent[AGENT_A]["IP address"].text == "198.51.100.7"
    assert by_agent[AGENT_B]["IP address"].text == "203.0.113.9"
    for device in by_agent.values():
        for label in ("Signed in", "Last seen"):
            assert device[label].find("time")["datetime"].endswith("+00:00")


def test_devices_marks_this_device_and_offers_sign_out_for_the_others(
    two_devices: tuple[webtest.TestApp, webtest.TestApp],
) -> None:
    for device, agent, other_agent in ((two_devices[0], AGENT_A, AGENT_B), (two_devices[1], AGENT_B, AGENT_A)):
        profile = device.get("/profile")
        current, other = device_items(profile)  # this device first
        assert current.has_attr("data-current") and "This device" in current.text
        assert facts(current)["User agent"].text == agent
        assert current.find("form") is None
        assert not other.has_attr("data-current") and "This device" not in other.text
        assert facts(other)["User agent"].text == other_agent
        button_form = other.find("form")
        assert button_form["action"] == "/devices/sign-out"
        assert button_form.find("input", attrs={"name": "device_id"})["value"] == other["id"].removeprefix("device-")
        assert sign_out_form(profile, "/devices/sign-out-others")


def test_devices_with_one_device_offers_no_sign_out(alice_user: None, app: webtest.TestApp) -> None:
    app.post("/login", {"username": "alice", "password": "correct horse"}, headers=ORIGIN, status=303)
    profile = app.get("/profile")
    (item,) = device_items(profile)
    assert item.has_attr("data-current")
    assert "User agent" not in facts(item)  # none was sent: the fact is left out, not shown empty
    assert [form.action for form in profile.forms.values()] == ["/logout"]


def test_this_device_stays_marked_across_a_renewal(demo: Demo) -> None:
    middleware = demo.middleware
    create_user(middleware, "carol")
    a = signed_in_device(middleware, AGENT_A, "198.51.100.7", "carol")
    signed_in_device(middleware, AGENT_B, "203.0.113.9", "carol")
    old_cookie = session_cookie(a)
    demo.clock.advance(timedelta(hours=25))  # past the active period: this request renews
    profile = a.get("/profile")
    assert session_cookie(a) != old_cookie
    current, _ = device_items(profile)
    assert current.has_attr("data-current") and facts(current)["User agent"].text == AGENT_A
    assert len(device_items(profile)) == 2
    signed_in, last_seen = (facts(current)[label].find("time")["datetime"] for label in ("Signed in", "Last seen"))
    assert datetime.fromisoformat(last_seen) - datetime.fromisoformat(signed_in) == timedelta(hours=25)


def test_sign_out_ends_that_device_only(two_devices: tuple[webtest.TestApp, webtest.TestApp], middleware: Any) -> None:
    a, b = two_devices
    profile = a.get("/profile")
    _, other = device_items(profile)
    response = sign_out_form(profile, "/devices/sign-out").submit(headers=ORIGIN, status=303)
    assert response.location.endswith("/profile")
    assert other["id"].removeprefix("device-") not in device_ids(middleware)
    assert len(device_ids(middleware)) == 1
    (item,) = device_items(response.follow())
    assert item.has_attr("data-current")
    assert not is_signed_in(b)
    assert is_signed_in(a)


def test_sign_out_everywhere_else_keeps_only_this_device(
    two_devices: tuple[webtest.TestApp, webtest.TestApp], middleware: Any
) -> None:
    a, b = two_devices
    c = signed_in_device(middleware, "third", "192.0.2.1")
    assert len(device_ids(middleware)) == 3
    response = sign_out_form(a.get("/profile"), "/devices/sign-out-others").submit(headers=ORIGIN, status=303)
    assert response.location.endswith("/profile")
    (item,) = device_items(response.follow())
    assert item.has_attr("data-current") and facts(item)["User agent"].text == AGENT_A
    assert not is_signed_in(b) and not is_signed_in(c)
    assert is_signed_in(a)


def test_sign_out_everywhere_else_leaves_other_users_alone(
    two_devices: tuple[webtest.TestApp, webtest.TestApp], middleware: Any
) -> None:
    a, _ = two_devices
    create_user(middleware, "bob")
    bob = signed_in_device(middleware, "bob's", "192.0.2.2", "bob")
    a.post("/devices/sign-out-others", "", content_type=FORM, headers=ORIGIN, status=303)
    assert is_signed_in(bob)


def test_signing_out_this_device_by_hand_is_a_log_out(
    two_devices: tuple[webtest.TestApp, webtest.TestApp], middleware: Any
) -> None:
    a, b = two_devices
    current, _ = device_items(a.get("/profile"))
    response = a.post("/devices/sign-out", {"device_id": current["id"].removeprefix("device-")},
                      headers=ORIGIN, status=303)
    assert response.location.endswith("/login")
    assert session_cookie(a) == ""
    assert not is_signed_in(a)
    assert is_signed_in(b)


def test_a_foreign_or_unknown_device_id_signs_nothing_out(
    two_devices: tuple[webtest.TestApp, webtest.TestApp], middleware: Any
) -> None:
    a, b = two_devices
    create_user(middleware, "bob")
    bob = signed_in_device(middleware, "bob's", "192.0.2.2", "bob")
    (bobs_device,) = device_ids(middleware, "bob")
    before = device_ids(middleware)
    for device in (bobs_device, "0" * 20):
        response = a.post("/devices/sign-out", {"device_id": device}, headers=ORIGIN, status=303)
        assert response.location.endswith("/profile")
    assert device_ids(middleware) == before
    assert device_ids(middleware, "bob") == [bobs_device]
    assert is_signed_in(a) and is_signed_in(b) and is_signed_in(bob)


@pytest.mark.parametrize("path", ["/devices/sign-out", "/devices/sign-out-others"])
def test_anonymous_device_posts_go_to_log_in(
    alice_user: None, app: webtest.TestApp, middleware: Any, path: str
) -> None:
    device = signed_in_device(middleware, AGENT_A, "198.51.100.7")
    before = device_ids(middleware)
    body = {"device_id": before[0]} if path == "/devices/sign-out" else ""
    response = app.post(path, body, content_type=FORM, headers=ORIGIN, status=303)
    assert response.location.endswith("/login")
    assert device_ids(middleware) == before
    assert is_signed_in(device)


@pytest.mark.parametrize("path", ["/devices/sign-out", "/devices/sign-out-others"])
def test_cross_site_device_posts_are_refused(
    two_devices: tuple[webtest.TestApp, webtest.TestApp], middleware: Any, path: str
) -> None:
    a, b = two_devices
    before = device_ids(middleware)
    body = {"device_id": before[0]} if path == "/devices/sign-out" else ""
    response = a.post(path, body, content_type=FORM, headers={"Origin": "https://evil.example"}, status=403)
    assert "Set-Cookie" not in response.headers
    assert device_ids(middleware) == before
    assert is_signed_in(a) and is_signed_in(b)


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        pytest.param("/devices/sign-out", b"", FORM, id="one-missing-field"),
        pytest.param("/devices/sign-out", b"device_id=" + b"a" * 19, FORM, id="one-short-id"),
        pytest.param("/devices/sign-out", b"device_id=" + b"A" * 20, FORM, id="one-uppercase-id"),
        pytest.param("/devices/sign-out", b"device_id=" + b"g" * 20, FORM, id="one-not-hex"),
        pytest.param("/devices/sign-out", b"device_id=" + b"a" * 20 + b"%0A", FORM, id="one-trailing-newline"),
        pytest.param("/devices/sign-out", b"device_id=aaaa&device_id=bbbb", FORM, id="one-duplicate-field"),
        pytest.param("/devices/sign-out", b"device_id=" + b"a" * 20 + b"&x=1", FORM, id="one-extra-field"),
        pytest.param("/devices/sign-out", b"device_id=%FF", FORM, id="one-invalid-utf8"),
        pytest.param("/devices/sign-out", b'{"device_id": "x"}', "application/json", id="one-json"),
        pytest.param("/devices/sign-out-others", b"x=1", FORM, id="others-with-a-field"),
        pytest.param("/devices/sign-out-others", b"{}", "application/json", id="others-json"),
    ],
)
def test_bad_device_forms_are_a_clean_400(
    two_devices: tuple[webtest.TestApp, webtest.TestApp], middleware: Any, path: str, body: bytes, content_type: str
) -> None:
    a, b = two_devices
    before = device_ids(middleware)
    response = a.post(path, body, content_type=content_type, headers=ORIGIN, status=400)
    assert "Bad request" in response.text
    assert device_ids(middleware) == before
    assert is_signed_in(b)


def test_devices_escape_a_hostile_user_agent(alice_user: None, middleware: Any) -> None:
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    signed_in_device(middleware, hostile, "198.51.100.7")
    a = signed_in_device(middleware, AGENT_A, "198.51.100.7")
    profile = a.get("/profile")
    assert "<script>alert" not in profile.text and "<img" not in profile.text
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in profile.text
    _, other = device_items(profile)
    assert facts(other)["User agent"].text == hostile
    csp = demo_pages.SECURITY_HEADERS["Content-Security-Policy"]
    assert profile.headers["Content-Security-Policy"] == csp and "unsafe-inline" not in csp
    assert [script.get("src") for script in profile.html.find_all("script")] == ["/static/demo.js"]


def test_device_routes_take_only_post(app: webtest.TestApp) -> None:
    for path in ("/devices/sign-out", "/devices/sign-out-others"):
        assert app.get(path, status=405).headers["Allow"] == "POST"
