"""The demo's account flows through WebTest: email verification, password reset, sign-in codes, throttles.

Mail is read from a ``MemorySender`` (and, once, from a real local SMTP
server); the clock is injected, so expiry and refill are exact. That the
reset and code forms tell nobody which accounts exist is in
``security/test_attack_wsgi.py`` (it counts in the security tally).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import redirect_stderr
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import webtest
from demo_support import (
    BASE_URL,
    CHEAP_HASH,
    DEMO_SHELLS,
    FORM,
    ORIGIN,
    PASSWORD,
    Demo,
    build,
    code_in,
    is_signed_in,
    link_in,
    log_in,
    sign_up,
)
from smtp_server import smtp_server

import demo_app
import demo_forms
import demo_pages
from demo_mail import Outbox
from lucia_wsgi.mail import ConsoleSender, SMTPSender

EVIL = {"Origin": "https://evil.example"}


@pytest.fixture(params=DEMO_SHELLS)
def demo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The demo on each shell in turn: WSGI, then ASGI (driven through ``AsgiForWebTest``)."""
    demo = build(tmp_path / "demo.db", shell=request.param)
    yield demo
    demo.close()


@pytest.fixture
def app(demo: Demo) -> webtest.TestApp:
    return demo.browser()


def verified(demo: Demo, username: str = "alice", email: str = "alice@example.com") -> webtest.TestApp:
    """A browser signed in as a new user whose address is verified."""
    browser = demo.browser()
    sign_up(browser, username, email, status=303)
    browser.get(link_in(demo.mails_to(email)[-1]), status=200)
    assert demo.user(username)["email_verified"] == 1  # type: ignore[index]
    return browser


def only(mails: list[Any]) -> Any:
    (mail,) = mails
    return mail


def profile_status(browser: webtest.TestApp) -> str:
    return str(browser.get("/profile").html.find(id="email-status").text)


def forms_to(response: Any, action: str) -> list[Any]:
    return [form for form in response.forms.values() if form.action == action]


# sign-up and the verification link


def test_sign_up_mails_a_link_that_verifies_the_address(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(app, "alice", "Alice@Example.COM", status=303)  # stored as typed, in lower case
    mail = only(demo.mails())
    assert (mail.to, mail.subject) == ("alice@example.com", "Confirm your email address")
    assert "alice@example.com" in mail.text and "24 hours" in mail.text
    profile = app.get("/profile")
    assert profile.html.find(id="email").text == "alice@example.com"
    assert profile.html.find(id="email-status").text == "email not verified"
    assert forms_to(profile, "/verify-email/resend")
    assert demo.user("alice")["email_verified"] == 0  # type: ignore[index]

    confirmed = demo.browser().get(link_in(mail), status=200)  # any browser: the link is the proof
    assert confirmed.html.find(id="confirmed").text == "alice@example.com is confirmed."
    assert demo.user("alice")["email_verified"] == 1  # type: ignore[index]
    profile = app.get("/profile")
    assert profile.html.find(id="email-status").text == "verified"
    assert not forms_to(profile, "/verify-email/resend")
    assert app.get("/api/auth/user").json["user"]["email_verified"] is True


def test_verification_link_works_once(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(app, "alice", "alice@example.com", status=303)
    link = link_in(only(demo.mails()))
    app.get(link, status=200)
    again = app.get(link, status=400)
    assert demo_pages.LINK_GONE in again.text


def test_verification_link_expires_after_24_hours(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(app, "alice", "alice@example.com", status=303)
    demo.clock.advance(timedelta(hours=24, milliseconds=1))
    assert demo_pages.LINK_GONE in app.get(link_in(only(demo.mails())), status=400).text
    assert demo.user("alice")["email_verified"] == 0  # type: ignore[index]


def test_verification_link_is_bound_to_its_address(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(app, "alice", "alice@example.com", status=303)
    link = link_in(only(demo.mails()))
    forged = link.replace("alice%40example.com", "mallory%40example.com")
    assert forged != link
    app.get(forged, status=400)
    assert demo.user("alice")["email_verified"] == 0  # type: ignore[index]


def test_link_for_an_old_address_does_not_verify_the_new_one(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(app, "alice", "alice@example.com", status=303)
    link = link_in(only(demo.mails()))
    user = demo.user("alice")
    assert user is not None
    demo.auth.update_user_attributes(user["id"], {"email": "new@example.com"})  # as an address change would
    response = app.get(link, status=400)
    assert "no longer uses" in response.text
    assert demo.user("alice")["email_verified"] == 0  # type: ignore[index]


def test_resending_the_link_is_throttled_with_a_429(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(app, "alice", "alice@example.com", status=303)  # the first of 3 links at once
    for _ in range(2):
        sent = forms_to(app.get("/profile"), "/verify-email/resend")[0].submit(headers=ORIGIN, status=200)
        assert "We sent a new link to alice@example.com." in sent.text
    throttled = app.post("/verify-email/resend", "", content_type=FORM, headers=ORIGIN, status=429)
    assert throttled.headers["Retry-After"] == "300"  # one more every 5 minutes
    assert "wait 300 seconds" in throttled.text
    assert throttled.headers["Content-Security-Policy"] == demo_pages.SECURITY_HEADERS["Content-Security-Policy"]
    assert len(demo.mails()) == 3
    demo.clock.advance(timedelta(minutes=5))
    app.post("/verify-email/resend", "", content_type=FORM, headers=ORIGIN, status=200)
    links = [link_in(mail) for mail in demo.mails()]
    assert len(set(links)) == 4
    app.get(links[0], status=200)  # each one works (once), the first included


def test_resend_needs_a_session_and_an_unverified_address(demo: Demo, app: webtest.TestApp) -> None:
    assert app.post("/verify-email/resend", "", content_type=FORM, headers=ORIGIN,
                    status=303).location.endswith("/login")
    browser = verified(demo)
    response = browser.post("/verify-email/resend", "", content_type=FORM, headers=ORIGIN, status=303)
    assert response.location.endswith("/profile")
    assert len(demo.mails()) == 1


def test_a_taken_address_is_refused(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(app, "alice", "alice@example.com", status=303)
    app.reset()
    response = sign_up(app, "bob", "ALICE@example.com", status=409)
    assert "That email address is taken." in response.text
    assert demo.user("bob") is None
    assert app.cookies.get("auth_session") is None


@pytest.mark.parametrize("query", [
    pytest.param("", id="empty"),
    pytest.param("token=abc", id="no-email"),
    pytest.param("token=abc&email=a%40example.com&x=1", id="extra-field"),
    pytest.param("token=a&token=b&email=a%40example.com", id="duplicate-field"),
    pytest.param("token=%FF&email=a%40example.com", id="invalid-utf8"),
    pytest.param("token=%ED%A0%80&email=a%40example.com", id="surrogate"),
    pytest.param("token=" + "A" * 2000 + "&email=a%40example.com", id="too-long"),
    pytest.param("token=%00&email=a%40example.com", id="nul"),
    pytest.param("token=" + "A" * 43 + "&email=a%40example.com", id="unknown-token"),
])
def test_malformed_verification_links_are_a_clean_400(app: webtest.TestApp, query: str) -> None:
    response = app.get(f"/verify-email?{query}", status=400)
    assert response.content_type == "text/html"


# log-in and sign-up throttles


def test_a_throttled_log_in_answers_429_with_retry_after(demo: Demo) -> None:
    sign_up(demo.browser("192.0.2.1"), "alice", "alice@example.com", status=303)
    for username, address in (("alice", "198.51.100.1"), ("nobody", "198.51.100.2")):  # known or not: the same
        browser = demo.browser(address)
        for _ in range(10):  # the library's default: 10 per username, then one a minute
            log_in(browser, username, "wrong password", status=400)
        throttled = log_in(browser, username, PASSWORD, status=429)  # even the right password
        assert throttled.headers["Retry-After"] == "60"
        assert "wait 60 seconds" in throttled.text
        assert browser.cookies.get("auth_session") is None
    demo.clock.advance(timedelta(minutes=1))
    log_in(demo.browser("198.51.100.1"), "alice", status=303)


def test_per_address_bucket_on_log_in_and_sign_up(demo: Demo) -> None:
    browser = demo.browser("203.0.113.5")
    for index in range(10):
        sign_up(browser, f"user{index}", f"user{index}@example.com", status=303)
        log_in(browser, f"user{index}", status=303)
    assert log_in(browser, "user0", status=429).headers["Retry-After"] == "5"
    assert sign_up(browser, "late", "late@example.com", status=429).headers["Retry-After"] == "5"
    assert demo.user("late") is None
    log_in(demo.browser("203.0.113.6"), "user0", status=303)  # another address has its own bucket
    demo.clock.advance(timedelta(seconds=5))
    log_in(browser, "user1", status=303)  # one more every 5 seconds
    log_in(browser, "user1", status=429)


def test_a_spoofed_forwarded_for_never_chooses_the_bucket(demo: Demo) -> None:
    browser = demo.browser("203.0.113.5")
    for index in range(20):
        log_in(browser, "nobody", "x", status=(400, 429), headers={"X-Forwarded-For": f"10.0.0.{index}"})
    response = log_in(browser, "other", "x", status=429, headers={"X-Forwarded-For": "10.9.9.9"})
    assert response.headers["Retry-After"] == "5"


# forgotten passwords


def forgot(browser: webtest.TestApp, account: str, **kwargs: Any) -> Any:
    return browser.post("/forgot-password", {"account": account}, headers=ORIGIN, **kwargs)


@pytest.mark.parametrize("account", ["alice@example.com", "ALICE@example.com ", "alice"])
def test_forgot_password_mails_a_link_to_set_a_new_one(demo: Demo, account: str) -> None:
    sign_up(demo.browser(), "alice", "alice@example.com", status=303)
    browser = demo.browser()
    form = browser.get("/forgot-password").form
    form["account"] = account
    assert "Check your mail" in form.submit(headers=ORIGIN, status=200).text
    mail = demo.mails()[-1]
    assert (mail.to, mail.subject) == ("alice@example.com", "Reset your password")
    reset_page = browser.get(link_in(mail), status=200)
    reset_page.form["password"] = "a new password"
    profile = reset_page.form.submit(headers=ORIGIN, status=303).follow()
    assert profile.html.find(id="username").text == "alice"
    log_in(demo.browser(), "alice", PASSWORD, status=400)
    log_in(demo.browser(), "alice", "a new password", status=303)


def test_reset_ends_every_session_the_attackers_too_and_signs_this_browser_in_afresh(demo: Demo) -> None:
    victim = demo.browser("192.0.2.10")
    sign_up(victim, "alice", "alice@example.com", status=303)
    old_session = victim.cookies["auth_session"]
    attacker = demo.browser("203.0.113.66", "attacker")
    log_in(attacker, "alice", status=303)  # the attacker knows the old password
    forgot(demo.browser(), "alice", status=200)
    reset_page = victim.get(link_in(demo.mails()[-1]))
    reset_page.form["password"] = "only alice knows"
    reset_page.form.submit(headers=ORIGIN, status=303)
    new_session = victim.cookies["auth_session"]
    assert new_session != old_session
    assert demo.auth.config.session_adapter.get_session(old_session) is None
    assert not is_signed_in(attacker)
    assert is_signed_in(victim)
    user = demo.user("alice")
    assert user is not None
    assert [session.session_id for session in demo.auth.get_user_sessions(user["id"])] == [new_session]


def test_reset_link_works_once_and_ends_the_other_links(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(demo.browser(), "alice", "alice@example.com", status=303)
    forgot(app, "alice", status=200)
    forgot(app, "alice@example.com", status=200)
    first, second = (link_in(mail) for mail in demo.mails()[1:])
    token = re.search(r"token=([^&]+)", first).group(1)  # type: ignore[union-attr]
    body = {"token": token, "password": "a new password"}
    app.post("/reset-password", body, headers=ORIGIN, status=303)
    again = app.post("/reset-password", {**body, "password": "another password"}, headers=ORIGIN, status=400)
    assert demo_pages.LINK_GONE in again.text
    other = app.get(second).form
    other["password"] = "yet another one"
    assert demo_pages.LINK_GONE in other.submit(headers=ORIGIN, status=400).text
    log_in(demo.browser(), "alice", "a new password", status=303)


def test_reset_link_expires_after_30_minutes(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(demo.browser(), "alice", "alice@example.com", status=303)
    forgot(app, "alice", status=200)
    form = app.get(link_in(demo.mails()[-1])).form
    demo.clock.advance(timedelta(minutes=30, milliseconds=1))
    form["password"] = "a new password"
    assert demo_pages.LINK_GONE in form.submit(headers=ORIGIN, status=400).text
    log_in(demo.browser(), "alice", PASSWORD, status=303)


@pytest.mark.parametrize("password", ["short", "x" * 256, "\ufdfa" * 200])
def test_a_refused_new_password_leaves_the_link_working(demo: Demo, app: webtest.TestApp, password: str) -> None:
    sign_up(demo.browser(), "alice", "alice@example.com", status=303)
    forgot(app, "alice", status=200)
    form = app.get(link_in(demo.mails()[-1])).form
    form["password"] = password
    refused = form.submit(headers=ORIGIN, status=400)
    assert f"Password: {demo_pages.PASSWORD_RULE}." in refused.text
    refused.form["password"] = "a good new password"
    refused.form.submit(headers=ORIGIN, status=303)


def test_forgot_password_for_an_account_without_an_address_mails_nothing(demo: Demo, app: webtest.TestApp) -> None:
    demo.auth.create_user("username", "old", password=PASSWORD, attributes={"username": "old"})
    forgot(app, "old", status=200)
    assert demo.mails() == []


@pytest.mark.parametrize("account", ["", "x", "Alice!", "a@b", "zoë@example.com"])
def test_forgot_password_refuses_what_is_neither_address_nor_username(demo: Demo, app: webtest.TestApp,
                                                                      account: str) -> None:
    response = forgot(app, account, status=400)
    assert "Enter your email address, or your username" in response.text
    assert demo.mails() == []


def test_forgot_password_is_throttled_per_address_known_account_or_not(demo: Demo) -> None:
    sign_up(demo.browser(), "alice", "alice@example.com", status=303)
    browser = demo.browser("198.51.100.20")
    for account in ("alice", "nobody", "alice", "nobody", "alice"):
        forgot(browser, account, status=200)
    for account in ("alice", "nobody"):
        assert forgot(browser, account, status=429).headers["Retry-After"] == "60"
    forgot(demo.browser("198.51.100.21"), "alice", status=200)
    # alice got 3 links (her own limit: 3 at once), asked 4 times: the 4th mailed nothing, said the same
    assert len(demo.mails_to("alice@example.com")) == 1 + 3


@pytest.mark.parametrize("query", ["", "token=a&token=b", "token=x&email=y", "token=%FF", "x=1"])
def test_malformed_reset_links_are_a_clean_400(app: webtest.TestApp, query: str) -> None:
    app.get(f"/reset-password?{query}", status=400)


def test_reset_page_escapes_the_token(app: webtest.TestApp) -> None:
    response = app.get('/reset-password?token=%22%3E%3Cscript%3Ex()%3C/script%3E', status=200)
    assert "<script>x()" not in response.text
    assert response.form["token"].value == '"><script>x()</script>'


# sign-in codes


def request_code(browser: webtest.TestApp, email: str) -> Any:
    return browser.post("/signin-code", {"email": email}, headers=ORIGIN, status=200)


def enter_code(browser: webtest.TestApp, email: str, code: str, **kwargs: Any) -> Any:
    return browser.post("/signin-code/verify", {"email": email, "code": code}, headers=ORIGIN, **kwargs)


def test_sign_in_code_logs_in(demo: Demo, app: webtest.TestApp) -> None:
    verified(demo)
    form = app.get("/signin-code").form
    form["email"] = "alice@example.com"
    code_page = form.submit(headers=ORIGIN, status=200)
    mail = demo.mails()[-1]
    assert (mail.to, mail.subject) == ("alice@example.com", "Your sign-in code")
    code_page.form["code"] = code_in(mail)
    profile = code_page.form.submit(headers=ORIGIN, status=303).follow()
    assert profile.html.find(id="username").text == "alice"
    app.reset()
    wrong = enter_code(app, "alice@example.com", code_in(mail), status=400)  # used up
    assert demo_pages.CODE_WRONG in wrong.text
    assert not is_signed_in(app)


def test_five_wrong_codes_cut_the_code_off_and_a_new_one_works(demo: Demo, app: webtest.TestApp) -> None:
    verified(demo)
    request_code(app, "alice@example.com")
    code = code_in(demo.mails()[-1])
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        assert demo_pages.CODE_WRONG in enter_code(app, "alice@example.com", wrong, status=400).text
    cut_off = enter_code(app, "alice@example.com", code, status=400)  # the right code, too late
    assert "Too many wrong codes" in cut_off.text
    assert not is_signed_in(app)
    (new_code_form,) = forms_to(cut_off, "/signin-code")
    assert new_code_form["email"].value == "alice@example.com"
    code_page = new_code_form.submit(headers=ORIGIN, status=200)
    code_page.form["code"] = code_in(demo.mails()[-1])
    code_page.form.submit(headers=ORIGIN, status=303)
    assert is_signed_in(app)


def test_sign_in_code_expires_after_10_minutes(demo: Demo, app: webtest.TestApp) -> None:
    verified(demo)
    request_code(app, "alice@example.com")
    code = code_in(demo.mails()[-1])  # issued (by the outbox) before the clock moves
    demo.clock.advance(timedelta(minutes=10, milliseconds=1))
    expired = enter_code(app, "alice@example.com", code, status=400)
    assert "This code has expired." in expired.text
    assert forms_to(expired, "/signin-code")


def test_codes_go_only_to_verified_addresses(demo: Demo, app: webtest.TestApp) -> None:
    sign_up(demo.browser(), "alice", "alice@example.com", status=303)
    request_code(app, "alice@example.com")
    assert [mail.subject for mail in demo.mails()] == ["Confirm your email address"]


@pytest.mark.parametrize("code", ["", "1234567", "123456789", "abcdefgh", "1234 678", "１２３４５６７８"])
def test_a_malformed_code_is_refused_without_costing_a_guess(demo: Demo, app: webtest.TestApp, code: str) -> None:
    verified(demo)
    request_code(app, "alice@example.com")
    for _ in range(6):
        response = enter_code(app, "alice@example.com", code, status=400)
        assert f"Code: {demo_pages.CODE_RULE}." in response.text
    enter_code(app, "alice@example.com", code_in(demo.mails()[-1]), status=303)


def test_code_guesses_share_the_log_in_bucket_per_address(demo: Demo) -> None:
    browser = demo.browser("198.51.100.30")
    for _ in range(20):
        enter_code(browser, "nobody@example.com", "00000000", status=400)
    assert enter_code(browser, "nobody@example.com", "00000000", status=429).headers["Retry-After"] == "5"


# every new form: same-origin, well-formed, escaped

POSTS = {
    "/forgot-password": {"account": "alice"},
    "/reset-password": {"token": "A" * 43, "password": "a new password"},
    "/signin-code": {"email": "alice@example.com"},
    "/signin-code/verify": {"email": "alice@example.com", "code": "12345678"},
    "/verify-email/resend": {},
}


@pytest.mark.parametrize("path", POSTS)
def test_cross_site_flow_posts_are_refused(demo: Demo, path: str) -> None:
    browser = verified(demo)
    before = len(demo.mails())
    response = browser.post(path, POSTS[path], content_type=FORM, headers=EVIL, status=403)
    assert "Set-Cookie" not in response.headers
    assert len(demo.mails()) == before


BAD_BODIES = [
    ("empty", b"", FORM),
    ("wrong-field", b"x=1", FORM),
    ("invalid-utf8", b"%FF=%FF", FORM),
    ("raw-non-ascii", "email=zoë".encode(), FORM),
    ("too-many-fields", b"a=1&a=2&a=3&a=4", FORM),
    ("oversized", b"x=" + b"y" * (16 * 1024), FORM),
    ("json", b'{"email": "alice@example.com"}', "application/json"),
]


@pytest.mark.parametrize(("path", "body", "content_type"), [
    pytest.param(path, body, content_type, id=f"{path}-{name}")
    for path in POSTS for name, body, content_type in BAD_BODIES
    if not (path == "/verify-email/resend" and name == "empty")  # its form has no fields
])
def test_bad_flow_form_input_is_a_clean_400(demo: Demo, path: str, body: bytes, content_type: str) -> None:
    browser = verified(demo)
    response = browser.post(path, body, content_type=content_type, headers=ORIGIN, status=400)
    assert "Bad request" in response.text


def test_code_form_with_a_bad_address_is_a_400(app: webtest.TestApp) -> None:
    enter_code(app, "not an address", "12345678", status=400)
    assert "Email address:" in app.post("/signin-code", {"email": "<b>@x"}, headers=ORIGIN, status=400).text


def test_addresses_are_escaped_everywhere(demo: Demo) -> None:
    hostile = "o'neil&<b>@example.com"
    assert demo_forms.valid_email(hostile) is None  # < and > are not in an address the demo takes
    email = "o'neil&co@example.com"
    browser = demo.browser()
    sign_up(browser, "oneil", email, status=303)
    escaped = "o&#x27;neil&amp;co@example.com"
    assert escaped in browser.get("/profile").text
    assert escaped in request_code(browser, email).text
    assert escaped in browser.get(link_in(demo.mails()[-1])).text
    assert only(demo.mails_to(email)).to == email


def test_flow_pages_keep_the_strict_policy(demo: Demo, app: webtest.TestApp) -> None:
    pages = [app.get(path) for path in ("/forgot-password", "/signin-code", "/reset-password?token=x")]
    pages += [forgot(app, "alice", status=200), request_code(app, "alice@example.com")]
    for response in pages:
        assert response.headers["Content-Security-Policy"] == demo_pages.SECURITY_HEADERS["Content-Security-Policy"]
        assert response.headers["Cache-Control"] == "no-store"
        assert [script.get("src") for script in response.html.find_all("script")] == ["/static/demo.js"]
        assert response.html.find(style=True) is None and "<style" not in response.text


def test_log_in_page_links_the_flows(app: webtest.TestApp) -> None:
    links = {a["href"] for a in app.get("/login").html.find_all("a")}
    assert {"/forgot-password", "/signin-code"} <= links


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("GET", "/signin-code/verify", "POST"),
    ("GET", "/verify-email/resend", "POST"),
    ("HEAD", "/verify-email", "GET"),  # a link checker's HEAD must not use the link up
    ("PUT", "/forgot-password", "GET, HEAD, POST"),
])
def test_flow_routes_take_their_methods_only(app: webtest.TestApp, method: str, path: str, allow: str) -> None:
    response = app.request(path, method=method, status=405)
    assert response.headers["Allow"] == allow


# the mail seam


def test_mail_goes_through_a_real_smtp_server(tmp_path: Path) -> None:
    with smtp_server() as (port, mailbox):
        send = SMTPSender(f"smtp://127.0.0.1:{port}", sender=demo_app.MAIL_FROM)
        middleware: Any = demo_app.make_app(tmp_path / "demo.db", mail=send, base_url=BASE_URL, hash=CHEAP_HASH)
        try:
            sign_up(webtest.TestApp(middleware), "alice", "alice@example.com", status=303)
            middleware.app.outbox.wait()
        finally:
            middleware.app.close()
    (received,) = mailbox.received
    assert received.rcpt_tos == ["alice@example.com"]
    assert received.message["Subject"] == "Confirm your email address"
    assert f"{BASE_URL}/verify-email?token=" in received.message.get_content()


def test_default_mail_is_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    middleware: Any = demo_app.make_app(tmp_path / "demo.db", hash=CHEAP_HASH)
    try:
        assert isinstance(middleware.app.mail, ConsoleSender)
        sign_up(webtest.TestApp(middleware), "alice", "alice@example.com", status=303)
        middleware.app.outbox.wait()
    finally:
        middleware.app.close()
    printed = capsys.readouterr().err
    assert "----- mail to alice@example.com\nSubject: Confirm your email address" in printed
    assert "http://127.0.0.1:8000/verify-email?token=" in printed


def test_a_failing_sender_never_fails_the_request(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken(to: str, subject: str, text: str) -> None:
        raise OSError("the mail server is down")

    middleware: Any = demo_app.make_app(tmp_path / "demo.db", mail=broken, hash=CHEAP_HASH)
    try:
        sign_up(webtest.TestApp(middleware), "alice", "alice@example.com", status=303)
        middleware.app.outbox.wait()
    finally:
        middleware.app.close()
    assert "the mail server is down" in caplog.text


def test_command_line_mail_options() -> None:
    assert isinstance(demo_app.parse_args([]).mail, ConsoleSender)
    assert isinstance(demo_app.parse_args(["--smtp", "smtp://127.0.0.1:2525"]).mail, SMTPSender)
    for bad in (["--smtp", "http://127.0.0.1"], ["--smtp", "smtp://:25"], ["--base-url", "demo.test"],
                ["--mail-from", "not an address", "--smtp", "smtp://127.0.0.1:25"]):
        stderr = io.StringIO()
        with pytest.raises(SystemExit), redirect_stderr(stderr):
            demo_app.parse_args(bad)
        assert "error:" in stderr.getvalue()


def test_outbox_runs_jobs_in_order_on_its_thread_and_survives_a_failing_one() -> None:
    outbox = Outbox()
    ran: list[tuple[int, str]] = []

    def job(index: int) -> None:
        if index == 1:
            raise RuntimeError("this job fails")
        ran.append((index, threading.current_thread().name))

    try:
        for index in range(3):
            outbox.put(lambda index=index: job(index))  # type: ignore[misc]
        outbox.wait()
    finally:
        outbox.close()
    assert ran == [(0, "demo-outbox"), (2, "demo-outbox")]
