"""The demo in a real browser: Debian's Chromium driven by Playwright.

Starts ``demo_app.py`` on a free port with a fresh database, then walks the
whole flow a user would, the Devices section with two browser contexts
signed in as one user, a session renewed on a reload, and the account flows
(verification link, password reset, sign-in codes) with the demo's mail read
from a real SMTP server (``tests/smtp_server.py``) it is pointed at with
``--smtp``. Every test runs on both shells: WSGI on waitress, and ASGI on
uvicorn (``--asgi``). Never downloads
a browser: without ``chromium`` on ``PATH`` (``conftest.require_tool``) or the
``playwright`` package the test is skipped, or fails under
``LUCIA_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool, service_unavailable
from smtp_server import Mailbox, smtp_server

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO = Path(__file__).resolve().parents[2] / "demo_app.py"
STARTUP_SECONDS = 30
TIMEOUT_MS = 15_000


#: The demo's shells, and the command-line options that choose them.
SHELL_OPTIONS = {"wsgi": (), "asgi": ("--asgi",)}


@pytest.fixture(params=list(SHELL_OPTIONS))
def demo_shell(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The options starting the demo on each shell in turn: waitress (WSGI), then uvicorn (ASGI)."""
    return SHELL_OPTIONS[request.param]


@contextmanager
def demo_server(directory: Path, *options: str) -> Iterator[str]:
    """The demo's base URL, served in a child process started with ``options``."""
    log = (directory / "demo.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(DEMO), "--db", str(directory / "demo.db"), "--host", "127.0.0.1", "--port", "0",
         *options],
        stdout=subprocess.PIPE, stderr=log, cwd=directory, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
        line = process.stdout.readline().decode() if ready else ""
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if match is None:
            process.kill()
            process.wait()
            pytest.fail(f"demo_app.py did not start: {line!r} {(directory / 'demo.log').read_text()!r}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        process.stdout.close()
        log.close()


@pytest.fixture
def server(tmp_path: Path, demo_shell: tuple[str, ...]) -> Iterator[str]:
    """The demo, printing its mail (the default)."""
    with demo_server(tmp_path, *demo_shell) as url:
        yield url


#: The active period of :func:`renewing_server`'s sessions.
ACTIVE_SECONDS = 2


@pytest.fixture
def renewing_server(tmp_path: Path, demo_shell: tuple[str, ...]) -> Iterator[str]:
    """The demo with sessions that renew :data:`ACTIVE_SECONDS` after they are made."""
    with demo_server(tmp_path, *demo_shell, "--active-period", str(ACTIVE_SECONDS)) as url:
        yield url


@pytest.fixture
def mail_server(tmp_path: Path, demo_shell: tuple[str, ...]) -> Iterator[tuple[str, Mailbox]]:
    """The demo, sending its mail to a local SMTP server, and that server's mailbox."""
    with smtp_server() as (port, mailbox), \
            demo_server(tmp_path, *demo_shell, "--smtp", f"smtp://127.0.0.1:{port}") as url:
        yield url, mailbox


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium = require_tool("chromium", "apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def session_cookies(context: Any) -> list[dict[str, Any]]:
    return [cookie for cookie in context.cookies() if cookie["name"] == "auth_session"]


def fill_and_submit(page: Any, username: str, password: str, button: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name=button).click()


def sign_up(page: Any, username: str, password: str = "correct horse battery") -> None:
    """Sign up as ``username`` with the address ``username@example.com``, landing on the profile."""
    page.goto("/signup")
    page.fill("#email", f"{username}@example.com")
    fill_and_submit(page, username, password, "Create account")


def test_sign_up_use_and_sign_out_in_chromium(server: str, browser: Any) -> None:
    context = browser.new_context(base_url=server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    # sign up: lands on the profile, signed in
    sign_up(page, "alice")
    page.wait_for_url(f"{server}/profile")
    assert page.text_content("#username") == "alice"
    assert "UTC" in (page.text_content("#expires") or "")

    # a reload keeps the session, and its cookie (a day before it renews)
    (signed_up,) = session_cookies(context)
    page.reload()
    assert page.url == f"{server}/profile"
    assert page.text_content("#username") == "alice"

    # the cookie is out of JavaScript's reach and Lax
    (cookie,) = session_cookies(context)
    assert cookie["value"] == signed_up["value"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert len(cookie["value"]) == 40
    assert page.evaluate("document.cookie") == ""

    # client.js from the page
    user = page.evaluate("async () => (await import('/api/auth/client.js')).getUser()")
    assert user["username"] == "alice" and user["user_id"]

    # sign out with client.js's signOut(): cookie gone, profile sends to log in
    with page.expect_response(f"{server}/api/auth/logout") as logout:
        page.get_by_role("button", name="Log out").click()
    assert logout.value.status == 200
    page.wait_for_url(f"{server}/login")
    assert session_cookies(context) == []
    page.goto("/profile")
    assert page.url == f"{server}/login"
    assert page.evaluate("async () => (await import('/api/auth/client.js')).getUser()") is None

    # a wrong password shows the one generic message
    fill_and_submit(page, "alice", "wrong password", "Log in")
    page.wait_for_selector("[role=alert]")
    assert page.text_content("[role=alert]") == "Invalid username or password."
    assert session_cookies(context) == []

    # the right one signs in again
    fill_and_submit(page, "alice", "correct horse battery", "Log in")
    page.wait_for_url(f"{server}/profile")
    assert page.text_content("#username") == "alice"
    context.close()


def test_sign_out_without_javascript_uses_the_plain_form(server: str, browser: Any) -> None:
    context = browser.new_context(base_url=server, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_up(page, "bob")
    page.wait_for_url(f"{server}/profile")
    assert len(session_cookies(context)) == 1

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{server}/login")
    assert f"{server}/logout" in requests and f"{server}/api/auth/logout" not in requests
    assert session_cookies(context) == []
    page.goto("/profile")
    assert page.url == f"{server}/login"
    context.close()


AGENT_B = "Mozilla/5.0 (X11; Linux x86_64) lucia-demo-test device-B"


def devices_of(page: Any) -> Any:
    return page.locator("#devices > li")


def signed_in_at(page: Any) -> str | None:
    """When this device signed in, from the Devices list."""
    return page.get_attribute("#devices > li[data-current] dt:has-text('Signed in') + dd time", "datetime")


def test_a_reload_past_the_active_period_renews_the_session_in_chromium(renewing_server: str, browser: Any) -> None:
    server = renewing_server
    context = browser.new_context(base_url=server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_up(page, "gina")
    page.wait_for_url(f"{server}/profile")
    (first,) = session_cookies(context)
    renews_after = page.get_attribute("dt:has-text('Session renews after') + dd time", "datetime")
    signed_in = signed_in_at(page)

    # past the active period, a reload renews: a new session id in the cookie, still signed in
    time.sleep(ACTIVE_SECONDS + 0.5)
    page.reload()
    assert page.url == f"{server}/profile"
    assert page.text_content("#username") == "gina"
    (renewed,) = session_cookies(context)
    assert renewed["value"] != first["value"] and len(renewed["value"]) == 40
    assert renewed["httpOnly"] is True and renewed["sameSite"] == "Lax"
    later = page.get_attribute("dt:has-text('Session renews after') + dd time", "datetime")
    assert renews_after is not None and later is not None and later > renews_after
    (device,) = devices_of(page).all()  # one device still, this one, signed in when it was
    assert device.get_attribute("data-current") is not None
    assert signed_in_at(page) == signed_in

    # the renewed session signs out like any other
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{server}/login")
    assert session_cookies(context) == []
    page.goto("/profile")
    assert page.url == f"{server}/login"

    # and logs in again, on a fresh session
    fill_and_submit(page, "gina", "correct horse battery", "Log in")
    page.wait_for_url(f"{server}/profile")
    (again,) = session_cookies(context)
    assert again["value"] not in (first["value"], renewed["value"])
    context.close()


def test_devices_sign_out_another_browser_in_chromium(server: str, browser: Any) -> None:
    from playwright.sync_api import expect  # after the browser fixture: the package is there

    context_a = browser.new_context(base_url=server)
    context_b = browser.new_context(base_url=server, user_agent=AGENT_B)
    for context in (context_a, context_b):
        context.set_default_timeout(TIMEOUT_MS)
    a, b = context_a.new_page(), context_b.new_page()

    # A signs up, B logs in as the same user
    sign_up(a, "carol")
    a.wait_for_url(f"{server}/profile")
    b.goto("/login")
    fill_and_submit(b, "carol", "correct horse battery", "Log in")
    b.wait_for_url(f"{server}/profile")

    # A sees two devices: itself first, then B with B's user agent and address
    a.reload()
    assert devices_of(a).count() == 2
    this, other = devices_of(a).nth(0), devices_of(a).nth(1)
    assert this.get_attribute("data-current") is not None
    assert "This device" in (this.text_content() or "")
    assert AGENT_B in (other.text_content() or "")
    assert "127.0.0.1" in (other.text_content() or "")
    assert (other.locator("time").first.get_attribute("datetime") or "").endswith("+00:00")
    b_device = other.get_attribute("id")

    # A signs B out from the list; A stays signed in with one device
    # (the page stays /profile, so wait for the new list rather than the URL)
    other.get_by_role("button", name="Sign out").click()
    expect(devices_of(a)).to_have_count(1)
    assert a.url == f"{server}/profile"
    assert a.locator(f"[id='{b_device}']").count() == 0
    assert a.get_by_role("button", name="Sign out everywhere else").count() == 0
    b.reload()
    assert b.url == f"{server}/login"
    a.reload()
    assert a.url == f"{server}/profile"
    assert a.text_content("#username") == "carol"

    # B signs in again; A signs out everywhere else: B is out, A is in
    fill_and_submit(b, "carol", "correct horse battery", "Log in")
    b.wait_for_url(f"{server}/profile")
    a.reload()
    assert devices_of(a).count() == 2
    a.get_by_role("button", name="Sign out everywhere else").click()
    expect(devices_of(a)).to_have_count(1)
    assert a.url == f"{server}/profile"
    assert devices_of(a).first.get_attribute("data-current") is not None
    b.reload()
    assert b.url == f"{server}/login"
    assert session_cookies(context_b) == []
    a.reload()
    assert a.url == f"{server}/profile"
    assert a.text_content("#username") == "carol"
    context_a.close()
    context_b.close()


# The account flows, with the mail read from the SMTP server the demo sends to.

MAIL_SECONDS = 15


def mail_to(mailbox: Mailbox, address: str, count: int) -> str:
    """The text of the ``count``-th message to ``address``, once it has arrived."""
    deadline = time.monotonic() + MAIL_SECONDS
    while True:
        received = [item for item in mailbox.received if item.rcpt_tos == [address]]
        if len(received) >= count:
            text = received[count - 1].message.get_content()
            assert isinstance(text, str)
            return text
        if time.monotonic() > deadline:
            pytest.fail(f"no message {count} to {address} within {MAIL_SECONDS} s: {len(received)} arrived")
        time.sleep(0.05)


def link_in(text: str, server: str) -> str:
    (link,) = re.findall(r"http://\S+", text)
    assert link.startswith(f"{server}/")  # the demo's own address, never a Host header's
    return link


def code_in(text: str) -> str:
    (code,) = re.findall(r"\b[0-9]{8}\b", text)
    return code


def new_context(browser: Any, server: str, **options: Any) -> Any:
    context = browser.new_context(base_url=server, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def test_sign_up_and_verify_the_address_in_chromium(mail_server: tuple[str, Mailbox], browser: Any) -> None:
    server, mailbox = mail_server
    page = new_context(browser, server).new_page()
    sign_up(page, "dana")
    page.wait_for_url(f"{server}/profile")
    assert page.text_content("#email") == "dana@example.com"
    assert page.text_content("#email-status") == "email not verified"
    first = mail_to(mailbox, "dana@example.com", 1)
    assert "Confirm" in str(mailbox.received[0].message["Subject"])

    # re-sending: two more links, then the friendly 429 with Retry-After
    for count in (2, 3):
        page.get_by_role("button", name="Resend the link").click()
        page.wait_for_selector("text=We sent a new link to dana@example.com.")
        mail_to(mailbox, "dana@example.com", count)
        page.goto("/profile")
    with page.expect_response(f"{server}/verify-email/resend") as resend:
        page.get_by_role("button", name="Resend the link").click()
    assert resend.value.status == 429
    wait = resend.value.headers["retry-after"]  # up to 5 minutes: one link more every 5, on a real clock
    assert 240 < int(wait) <= 300
    assert f"Please wait {wait} seconds" in (page.text_content("[role=alert]") or "")

    # the first link verifies the address; the profile says so, with no button
    page.goto(link_in(first, server))
    assert page.text_content("#confirmed") == "dana@example.com is confirmed."
    page.goto("/profile")
    assert page.text_content("#email-status") == "verified"
    assert page.get_by_role("button", name="Resend the link").count() == 0
    page.goto(link_in(first, server))  # once only
    assert "This link was used or has expired." in (page.text_content("body") or "")
    page.context.close()


def test_forgot_password_reset_signs_the_attacker_out_in_chromium(
    mail_server: tuple[str, Mailbox], browser: Any,
) -> None:
    server, mailbox = mail_server
    victim_context = new_context(browser, server)
    attacker_context = new_context(browser, server, user_agent=AGENT_B)
    victim, attacker = victim_context.new_page(), attacker_context.new_page()
    sign_up(victim, "erin", "old password 123")
    victim.wait_for_url(f"{server}/profile")
    victim.get_by_role("button", name="Log out").click()
    victim.wait_for_url(f"{server}/login")
    attacker.goto("/login")  # the attacker has the old password
    fill_and_submit(attacker, "erin", "old password 123", "Log in")
    attacker.wait_for_url(f"{server}/profile")

    # the victim asks for a link from the log-in page, opens it, sets a new password
    victim.get_by_role("link", name="Forgot your password?").click()
    victim.fill("#account", "erin@example.com")
    victim.get_by_role("button", name="Email me a reset link").click()
    victim.wait_for_selector("h1:has-text('Check your mail')")
    link = link_in(mail_to(mailbox, "erin@example.com", 2), server)  # after the verification mail
    victim.goto(link)
    victim.fill("#password", "new password 456")
    victim.get_by_role("button", name="Set new password").click()
    victim.wait_for_url(f"{server}/profile")
    assert victim.text_content("#username") == "erin"
    (this_device,) = victim.locator("#devices > li").all()
    assert this_device.get_attribute("data-current") is not None  # the attacker's device is gone

    # the attacker's session is over, and the old password with it
    attacker.reload()
    assert attacker.url == f"{server}/login"
    assert session_cookies(attacker_context) == []
    fill_and_submit(attacker, "erin", "old password 123", "Log in")
    attacker.wait_for_selector("[role=alert]")
    assert attacker.text_content("[role=alert]") == "Invalid username or password."

    # the link worked once
    victim.goto(link)
    victim.fill("#password", "a third password")
    victim.get_by_role("button", name="Set new password").click()
    victim.wait_for_selector("text=This link was used or has expired.")
    victim_context.close()
    attacker_context.close()


def test_sign_in_code_cut_off_after_five_wrong_then_a_fresh_one_works_in_chromium(
    mail_server: tuple[str, Mailbox], browser: Any,
) -> None:
    server, mailbox = mail_server
    context = new_context(browser, server)
    page = context.new_page()
    sign_up(page, "fran")  # codes go to verified addresses only: verify first, then log out
    page.wait_for_url(f"{server}/profile")
    page.goto(link_in(mail_to(mailbox, "fran@example.com", 1), server))
    page.goto("/profile")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{server}/login")

    page.get_by_role("link", name="Email me a sign-in code").click()
    page.fill("#email", "fran@example.com")
    page.get_by_role("button", name="Email me a code").click()
    page.wait_for_selector("#code")
    code = code_in(mail_to(mailbox, "fran@example.com", 2))
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        page.fill("#code", wrong)
        with page.expect_response(f"{server}/signin-code/verify") as guess:
            page.get_by_role("button", name="Sign in").click()
        assert guess.value.status == 400
        assert page.text_content("[role=alert]") == "That code is not right."
    page.fill("#code", code)  # the right one, after five wrong: too late
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("text=Too many wrong codes: this one no longer works.")
    assert session_cookies(context) == []

    page.get_by_role("button", name="Request a new code").click()
    page.wait_for_selector("#code")
    fresh = code_in(mail_to(mailbox, "fran@example.com", 3))
    page.fill("#code", fresh)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/profile")
    assert page.text_content("#username") == "fran"
    assert len(session_cookies(context)) == 1
    context.close()
