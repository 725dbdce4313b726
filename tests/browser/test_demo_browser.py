"""The demo in a real browser: Debian's Chromium driven by Playwright.

Starts ``demo_app.py`` on a free port with a fresh database, then walks the
whole flow a user would, and the Devices section with two browser contexts
signed in as one user. Never downloads a browser: without ``chromium`` on
``PATH`` (``conftest.require_tool``) or the ``playwright`` package the test is
skipped, or fails under ``LUCIA_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool, service_unavailable

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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The demo's base URL, served by waitress in a child process."""
    log = (tmp_path / "demo.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, str(DEMO), "--db", str(tmp_path / "demo.db"), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=log, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
        line = process.stdout.readline().decode() if ready else ""
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if match is None:
            process.kill()
            process.wait()
            pytest.fail(f"demo_app.py did not start: {line!r} {(tmp_path / 'demo.log').read_text()!r}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        process.stdout.close()
        log.close()


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


def test_sign_up_use_and_sign_out_in_chromium(server: str, browser: Any) -> None:
    context = browser.new_context(base_url=server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    # sign up: lands on the profile, signed in
    page.goto("/signup")
    fill_and_submit(page, "alice", "correct horse battery", "Create account")
    page.wait_for_url(f"{server}/profile")
    assert page.text_content("#username") == "alice"
    assert "UTC" in (page.text_content("#expires") or "")

    # a reload keeps the session
    page.reload()
    assert page.url == f"{server}/profile"
    assert page.text_content("#username") == "alice"

    # the cookie is out of JavaScript's reach and Lax
    (cookie,) = session_cookies(context)
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
    page.goto("/signup")
    fill_and_submit(page, "bob", "correct horse battery", "Create account")
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


def test_devices_sign_out_another_browser_in_chromium(server: str, browser: Any) -> None:
    from playwright.sync_api import expect  # after the browser fixture: the package is there

    context_a = browser.new_context(base_url=server)
    context_b = browser.new_context(base_url=server, user_agent=AGENT_B)
    for context in (context_a, context_b):
        context.set_default_timeout(TIMEOUT_MS)
    a, b = context_a.new_page(), context_b.new_page()

    # A signs up, B logs in as the same user
    a.goto("/signup")
    fill_and_submit(a, "carol", "correct horse battery", "Create account")
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
