"""The demo's ASGI shell: what ``test_demo_app.py`` and ``test_demo_flows.py`` (run on both shells) do not show.

That the pages never touch SQLite on the event loop, that both shells
answer alike byte for byte, that httpx (another ASGI client than the
WebTest bridge of ``demo_support.py``) drives a whole visit, lifespan and
WebSocket scopes, and ``python demo_app.py --asgi`` on uvicorn.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from demo_support import (
    CHEAP_HASH,
    DEMO_SHELLS,
    FORM,
    LOOP_THREAD,
    ORIGIN,
    Demo,
    build,
    code_in,
    link_in,
    log_in,
    sign_up,
)

import demo_app
import demo_visit
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.mail import MemorySender

DEMO = Path(__file__).resolve().parents[1] / "demo_app.py"


@pytest.fixture
def asgi_demo(tmp_path: Path) -> Iterator[Demo]:
    demo = build(tmp_path / "demo.db", shell="asgi")
    yield demo
    demo.close()


def test_the_shells_share_every_page() -> None:
    for route in demo_app.ROUTES.values():
        for page in route.values():
            name = page.__name__
            assert getattr(demo_app.WsgiDemo, name) is getattr(demo_app.AsgiDemo, name) is page
    assert demo_app.WsgiDemo.answer is demo_app.AsgiDemo.answer


def test_asgi_pages_never_touch_the_database_on_the_event_loop(
    asgi_demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every SQLite connection a request uses (lucia's store calls and the demo's own query) is
    a worker thread's: the loop only awaits them."""
    threads: list[str] = []
    connection = SQLiteAdapter.connection

    def recorded(adapter: SQLiteAdapter) -> Any:
        threads.append(threading.current_thread().name)
        return connection.fget(adapter)  # type: ignore[attr-defined]

    monkeypatch.setattr(SQLiteAdapter, "connection", property(recorded))
    demo = asgi_demo
    alice, other = demo.browser("198.51.100.1", "agent A"), demo.browser("198.51.100.2", "agent B")
    sign_up(alice, "alice", "alice@example.com", status=303)
    alice.get(link_in(demo.mails_to("alice@example.com")[-1]), status=200)
    log_in(other, "alice", status=303)
    log_in(other, "alice", "wrong password", status=400)
    profile = alice.get("/profile")
    other_device = profile.html.find(id="devices").find_all("li", recursive=False)[1]["id"].removeprefix("device-")
    alice.post("/devices/sign-out", {"device_id": other_device}, headers=ORIGIN, status=303)
    alice.post("/devices/sign-out-others", "", content_type=FORM, headers=ORIGIN, status=303)
    alice.post("/verify-email/resend", "", content_type=FORM, headers=ORIGIN, status=303)
    alice.post("/logout", "", content_type=FORM, headers=ORIGIN, status=303)
    alice.post("/signin-code", {"email": "alice@example.com"}, headers=ORIGIN, status=200)
    code = code_in(demo.mails_to("alice@example.com")[-1])
    alice.post("/signin-code/verify", {"email": "alice@example.com", "code": code}, headers=ORIGIN, status=303)
    alice.post("/forgot-password", {"account": "alice"}, headers=ORIGIN, status=200)
    reset = link_in(demo.mails_to("alice@example.com")[-1])
    token = re.search(r"token=([^&]+)", reset).group(1)  # type: ignore[union-attr]
    alice.post("/reset-password", {"token": token, "password": "a new password"}, headers=ORIGIN, status=303)
    assert alice.get("/profile").html.find(id="username").text == "alice"

    assert threads, "the tour used no connection: the recorder is not in place"
    assert LOOP_THREAD not in threads
    assert any(name.startswith("lucia_wsgi") for name in threads)  # auth.aio's workers


def test_run_now_refuses_a_page_that_suspends() -> None:
    async def suspends() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="suspends"):
        demo_visit.run_now(suspends())


ANONYMOUS_REQUESTS = [
    ("GET", "/login", None),
    ("GET", "/signup", None),
    ("HEAD", "/login", None),
    ("GET", "/profile", None),
    ("GET", "/", None),
    ("GET", "/nowhere", None),
    ("GET", "/logout", None),
    ("GET", "/static/style.css", None),
    ("GET", "/static/demo.js", None),
    ("GET", "/reset-password?token=abc", None),
    ("GET", "/verify-email?token=x&email=a%40example.com", None),
    ("GET", "/verify-email?bad", None),
    ("POST", "/login", b"username=nobody&password=wrong+password"),
    ("POST", "/login", b"username=nobody"),
    ("POST", "/signup", b"username=Bad&email=nope&password=short"),
    ("POST", "/forgot-password", b"account=somebody%40example.com"),
    ("POST", "/signin-code", b"email=somebody%40example.com"),
    ("POST", "/signin-code/verify", b"email=somebody%40example.com&code=12345678"),
    ("POST", "/devices/sign-out", b"device_id=" + b"a" * 20),
    ("POST", "/logout", b""),
]


def test_both_shells_answer_alike(tmp_path: Path) -> None:
    """The same requests, the same answers from both shells: status, headers in order, body."""
    demos = [build(tmp_path / f"{shell}.db", shell=shell) for shell in DEMO_SHELLS]
    try:
        answers = []
        for demo in demos:
            client = demo.browser("198.51.100.9")
            seen = []
            for method, path, body in ANONYMOUS_REQUESTS:
                if body is None:
                    response = client.request(path, method=method, expect_errors=True)
                else:
                    response = client.post(path, body, content_type=FORM, headers=ORIGIN, expect_errors=True)
                seen.append((method, path, response.status, list(response.headerlist), response.body))
            cross_site = client.post("/login", "username=a&password=b", content_type=FORM,
                                     headers={"Origin": "https://evil.example"}, expect_errors=True)
            seen.append(("POST", "cross-site", cross_site.status, list(cross_site.headerlist), cross_site.body))
            answers.append(seen)
        wsgi, asgi = answers
        assert [answer[:3] for answer in wsgi] == [answer[:3] for answer in asgi]
        assert wsgi == asgi
        assert {status for _, _, status, _, _ in wsgi} >= {"200 OK", "303 See Other", "400 Bad Request",
                                                          "403 Forbidden", "404 Not Found", "405 Method Not Allowed"}
    finally:
        for demo in demos:
            demo.close()


def test_head_has_the_get_headers_and_no_body(asgi_demo: Demo) -> None:
    client = asgi_demo.browser()
    get, head = client.get("/login"), client.head("/login")
    assert head.body == b"" and get.body
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.body))


def test_a_body_in_many_messages_is_read_whole(asgi_demo: Demo) -> None:
    """The bridge sends bodies in 1 KiB messages, as a server may: a 1.5 KiB form arrives in two."""
    client = asgi_demo.browser()
    password = "\u00e9" * 255  # PASSWORD_MAX characters, 6 bytes each in the form ("%C3%A9")
    assert len(urlencode({"username": "alice", "email": "alice@example.com", "password": password})) > 1024
    sign_up(client, "alice", "alice@example.com", password, status=303)
    client.reset()
    log_in(client, "alice", password, status=303)
    assert log_in(client, "alice", password[:-1], status=400).status_int == 400


def test_httpx_drives_a_whole_visit(tmp_path: Path) -> None:
    """httpx's ASGITransport, not the WebTest bridge: sign up, profile, a renewal, log out, log in."""
    from datetime import timedelta

    from demo_support import Clock

    clock = Clock()
    middleware = demo_app.make_asgi_app(tmp_path / "demo.db", mail=MemorySender(), hash=CHEAP_HASH, clock=clock)

    async def visit() -> None:
        transport = httpx.ASGITransport(app=middleware, client=("198.51.100.3", 50_000))
        origin = {"Origin": "http://demo.test"}
        async with httpx.AsyncClient(transport=transport, base_url="http://demo.test") as client:
            assert (await client.get("/signup")).status_code == 200
            signed_up = await client.post("/signup", data={"username": "alice", "email": "alice@example.com",
                                                           "password": "correct horse"}, headers=origin)
            assert signed_up.status_code == 303 and signed_up.headers["location"] == "http://demo.test/profile"
            first = client.cookies["auth_session"]
            profile = await client.get("/profile")
            assert profile.status_code == 200 and '<dd id=username>alice</dd>' in profile.text
            assert "198.51.100.3" in profile.text  # the device's address: the scope's client
            assert client.cookies["auth_session"] == first

            clock.advance(timedelta(hours=25))  # past the active period: the next request renews
            renewed = await client.get("/profile")
            assert renewed.status_code == 200 and '<dd id=username>alice</dd>' in renewed.text
            assert client.cookies["auth_session"] != first

            logged_out = await client.post("/logout", headers=origin)
            assert logged_out.status_code == 303 and logged_out.headers["location"] == "http://demo.test/login"
            assert "auth_session" not in client.cookies
            assert (await client.get("/profile")).headers["location"] == "http://demo.test/login"
            logged_in = await client.post("/login", data={"username": "alice", "password": "correct horse"},
                                          headers=origin)
            assert logged_in.status_code == 303
            assert (await client.get("/api/auth/user")).json()["user"]["username"] == "alice"

    try:
        asyncio.run(visit())
    finally:
        middleware.app.close()


def test_lifespan_and_a_websocket_handshake(tmp_path: Path) -> None:
    middleware = demo_app.make_asgi_app(tmp_path / "demo.db", mail=MemorySender(), hash=CHEAP_HASH)

    async def talk(scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return incoming.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await middleware(scope, receive, send)
        return sent

    try:
        lifespan = asyncio.run(talk({"type": "lifespan", "asgi": {"version": "3.0"}},
                                    [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]))
        assert [message["type"] for message in lifespan] == ["lifespan.startup.complete",
                                                              "lifespan.shutdown.complete"]
        websocket = asyncio.run(talk({"type": "websocket", "path": "/profile", "headers": [], "scheme": "ws"},
                                     [{"type": "websocket.connect"}]))
        assert websocket == [{"type": "websocket.close"}]
    finally:
        middleware.app.close()


# the command line


def test_command_line_asgi_options() -> None:
    args = demo_app.parse_args([])
    assert (args.asgi, args.active_period) == (False, None)
    args = demo_app.parse_args(["--asgi", "--active-period", "30"])
    assert (args.asgi, args.active_period) == (True, 30)
    for bad in (["--active-period", "0"], ["--active-period", "soon"]):
        stderr = io.StringIO()
        with pytest.raises(SystemExit), redirect_stderr(stderr):
            demo_app.parse_args(bad)
        assert "--active-period" in stderr.getvalue()


def test_asgi_help_describes_the_shell() -> None:
    stdout = io.StringIO()
    with pytest.raises(SystemExit) as exit_, redirect_stdout(stdout):
        demo_app.parse_args(["--asgi", "--help"])
    assert exit_.value.code == 0
    text = " ".join(stdout.getvalue().split())
    assert "--asgi" in text and "uvicorn" in text and "LuciaASGIMiddleware" in text
    assert "--active-period SECONDS" in text


@contextmanager
def served(directory: Path, *options: str) -> Iterator[tuple[str, str]]:
    """``python demo_app.py --port 0 options...`` in a child process: its base URL and the line it printed."""
    process = subprocess.Popen(
        [sys.executable, str(DEMO), "--db", str(directory / "demo.db"), "--port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=directory,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().decode() if ready else ""
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert match is not None, f"demo_app.py did not start: {line!r}"
        yield match.group(1), line
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_asgi_command_serves_the_demo_on_uvicorn(tmp_path: Path) -> None:
    """The real command: uvicorn on a free port; the client address is the socket's peer,
    whatever X-Forwarded-For says (uvicorn's proxy headers are off: lucia's trust_proxy decides)."""
    with served(tmp_path, "--asgi") as (url, line):
        assert "ASGI on uvicorn" in line
        with httpx.Client(base_url=url) as client:
            headers = {"Origin": url, "X-Forwarded-For": "203.0.113.66", "User-Agent": "command-line test"}
            response = client.post("/signup", data={"username": "alice", "email": "alice@example.com",
                                                    "password": "correct horse"}, headers=headers)
            assert response.status_code == 303 and response.headers["location"] == f"{url}/profile"
            profile = client.get("/profile")
            assert profile.status_code == 200 and "<dd id=username>alice</dd>" in profile.text
            assert "<dd>127.0.0.1</dd>" in profile.text and "203.0.113.66" not in profile.text
            assert profile.headers["server"] == "uvicorn"
            assert client.post("/logout", headers={"Origin": url}).status_code == 303
            assert client.get("/profile").headers["location"] == f"{url}/login"


def test_the_readme_command_still_serves_wsgi(tmp_path: Path) -> None:
    with served(tmp_path) as (url, line):
        assert "ASGI" not in line
        with httpx.Client(base_url=url) as client:
            login = client.get("/login")
            assert login.status_code == 200 and login.headers["server"] == "waitress"
