"""Attacks through both middlewares (``shell``, see shells.py) and the demo: bad cookies, cross-site requests, fixation.

Every answer is checked for what matters to the victim: who the request is
authenticated as, whether the store changed, and which cookies were set.
The demo's attacks run on both of its shells too (``demo_app.make_app`` and
``make_asgi_app``, see tests/demo_support.py).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import webtest
from demo_support import DEMO_SHELLS, ORIGIN, Demo, answer, build, code_in, link_in, sign_up
from shells import Answer, Client, Shell

import demo_app
from demo_app import LOGIN_FAILED
from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.session import SessionRow
from lucia_wsgi.testing import FaultyAdapter

from .support import FAST_HASH, T0, Clock, Tally, set_cookies, snapshot, tiny_page
from .test_attack_cookies import HEADERS, HUGE, OTHER, VALID

WHO = {VALID: "user:alice", OTHER: "user:mallory"}
BLANK = "auth_session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"


@pytest.fixture
def world(shell: Shell) -> tuple[Client, Auth, FaultyAdapter]:
    memory = MemoryAdapter()
    counting = FaultyAdapter(memory)
    auth = lucia(adapter=counting, env="DEV", hash=FAST_HASH, clock=Clock(T0))
    memory.set_user("alice", {"provider_id": "username:alice", "hashed_password": FAST_HASH[0]("alice-pw")})
    memory.set_user("mallory", {"provider_id": "username:mallory", "hashed_password": FAST_HASH[0]("mallory-pw")})
    memory.set_session(SessionRow(VALID, "alice", T0 + 60_000, T0 + 120_000))
    memory.set_session(SessionRow(OTHER, "mallory", T0 + 60_000, T0 + 120_000))
    return shell.serve(tiny_page, auth), auth, counting


def send(client: Client, method: str, path: str, body: bytes = b"", **headers: str) -> Answer:
    """``headers`` by their WSGI-ish names: ``x_forwarded_host="..."`` is ``X-Forwarded-Host``."""
    return client.request(method, path, {name.replace("_", "-"): value for name, value in headers.items()}, body)


@pytest.mark.parametrize(("header", "expected"), HEADERS)
def test_hostile_cookie_through_the_middleware(world: tuple[Client, Auth, FaultyAdapter], header: str, expected: str,
                                               tally: Tally) -> None:
    tally.add("attacks")
    app, _, counting = world
    counting.reset()
    response = send(app, "GET", "/", cookie=header)  # sent as its UTF-8 bytes, as a browser would
    assert response.status == 200
    assert response.text == WHO.get(expected, "anonymous")
    if expected in WHO or expected == "":
        assert response.set_cookies == []
    else:
        assert response.set_cookies == [BLANK], "a bad cookie is replaced by a blank one"
    well_formed = len(expected) == 40 and expected.isascii() and expected.isalnum()
    assert counting.count() == (1 if well_formed else 0)


@pytest.mark.parametrize(("header", "expected"), HUGE)
def test_huge_cookie_header_through_the_middleware(world: tuple[Client, Auth, FaultyAdapter], header: str,
                                                   expected: str, tally: Tally) -> None:
    tally.add("attacks")
    app, _, _ = world
    start = time.perf_counter()
    response = send(app, "GET", "/", cookie=header)
    assert time.perf_counter() - start < 1.0
    assert response.status == 200
    assert response.text == WHO.get(expected, "anonymous")


UNSAFE = ["POST", "PUT", "DELETE", "PATCH", "post"]
FOREIGN = [
    pytest.param(None, id="no-origin"),
    pytest.param("null", id="null"),
    pytest.param("http://evil.com", id="other-host"),
    pytest.param("https://localhost", id="other-scheme"),
    pytest.param("http://localhost:8080", id="other-port"),
    pytest.param("http://local host", id="unparsable"),
    pytest.param("http://localhost/", id="with-path"),
]


@pytest.mark.parametrize("origin", FOREIGN)
@pytest.mark.parametrize("method", UNSAFE)
@pytest.mark.parametrize("path", ["/", "/api/auth/logout", "/api/auth/user"])
def test_cross_site_request_changes_nothing(world: tuple[Client, Auth, FaultyAdapter], path: str, method: str,
                                            origin: str | None, tally: Tally) -> None:
    tally.add("attacks")
    app, auth, _ = world
    before = snapshot(auth.config.session_adapter)
    headers = {"cookie": f"auth_session={VALID}"} | ({} if origin is None else {"origin": origin})
    response = send(app, method, path, **headers)
    assert response.set_cookies == [], "a cross-site request changed the cookie"
    assert snapshot(auth.config.session_adapter) == before
    if path == "/":
        assert response.text == "anonymous"
    elif path == "/api/auth/logout" and method == "POST":
        assert response.status == 403
        assert response.json() == {"message": "AUTH_INVALID_REQUEST"}
    else:
        assert response.status == 405
        assert response.get("Allow") is not None


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_safe_methods_are_unaffected_by_a_foreign_origin(world: tuple[Client, Auth, FaultyAdapter],
                                                         method: str) -> None:
    app, _, _ = world
    response = send(app, method, "/", cookie=f"auth_session={VALID}", origin="http://evil.com")
    assert response.status == 200
    if method == "GET":
        assert response.text == "user:alice"


def test_logout_by_get_is_refused(world: tuple[Client, Auth, FaultyAdapter]) -> None:
    app, auth, _ = world
    response = send(app, "GET", "/api/auth/logout", cookie=f"auth_session={VALID}")
    assert response.status == 405
    assert response.get("Allow") == "POST"
    assert auth.validate_session(VALID).user_id == "alice"


def test_same_origin_logout_works(world: tuple[Client, Auth, FaultyAdapter]) -> None:
    app, _, _ = world
    response = send(app, "POST", "/api/auth/logout", cookie=f"auth_session={VALID}", origin="http://localhost")
    assert response.status == 200
    assert response.set_cookies == [BLANK]
    assert send(app, "GET", "/", cookie=f"auth_session={VALID}").text == "anonymous"


PROXY = [
    pytest.param(False, {"x_forwarded_host": "evil.com"}, "http://evil.com", 403, id="forged-forwarded-host"),
    pytest.param(False, {"x_forwarded_proto": "https"}, "https://localhost", 403, id="forged-forwarded-proto"),
    pytest.param(False, {"host": "localhost", "x_forwarded_host": "app.example.com"}, "http://app.example.com", 403,
                 id="forwarded-host-not-trusted"),
    pytest.param(True, {"x_forwarded_host": "app.example.com", "x_forwarded_proto": "https"},
                 "https://app.example.com", 200, id="trusted-proxy"),
    pytest.param(False, {"forwarded": "host=evil.com"}, "http://evil.com", 403, id="forged-rfc7239-forwarded"),
    pytest.param(True, {"forwarded": 'for=192.0.2.1;host="app.example.com:8443";proto=https'},
                 "https://app.example.com:8443", 200, id="trusted-proxy-rfc7239-forwarded"),
    pytest.param(True, {"forwarded": "host=evil.com, for=192.0.2.1;host=app.example.com",
                        "x_forwarded_host": "evil.com"}, "http://evil.com", 403,
                 id="trusted-proxy-rfc7239-last-element-wins-over-everything"),
]


@pytest.mark.parametrize(("trust_proxy", "headers", "origin", "status"), PROXY)
def test_forwarded_headers_count_only_behind_a_trusted_proxy(shell: Shell, trust_proxy: bool,
                                                             headers: dict[str, str], origin: str, status: int,
                                                             tally: Tally) -> None:
    tally.add("attacks")
    store = MemoryAdapter()
    store.set_user("alice", {"provider_id": "username:alice"})
    store.set_session(SessionRow(VALID, "alice", T0 + 60_000, T0 + 120_000))
    auth = lucia(adapter=store, env="DEV", hash=FAST_HASH, clock=Clock(T0), trust_proxy=trust_proxy)
    response = send(shell.serve(tiny_page, auth), "POST", "/api/auth/logout", cookie=f"auth_session={VALID}",
                    origin=origin, **headers)
    assert response.status == status
    assert (store.get_session(VALID) is None) is (status == 200)


@pytest.mark.parametrize(("origin", "status"), [
    pytest.param("https://app.example.com", 200, id="trusted-front-end"),
    pytest.param("https://evil.example.com", 403, id="untrusted-sibling"),
])
def test_trusted_origin_front_end_can_log_out(shell: Shell, origin: str, status: int) -> None:
    store = MemoryAdapter()
    store.set_user("alice", {"provider_id": "username:alice"})
    store.set_session(SessionRow(VALID, "alice", T0 + 60_000, T0 + 120_000))
    auth = lucia(adapter=store, env="DEV", hash=FAST_HASH, clock=Clock(T0),
                 trusted_origins=["https://app.example.com"])
    response = send(shell.serve(tiny_page, auth), "POST", "/api/auth/logout", cookie=f"auth_session={VALID}",
                    origin=origin)
    assert response.status == status


@pytest.mark.parametrize("planted", [pytest.param(OTHER, id="attackers-own-session"),
                                     pytest.param("A" * 40, id="made-up-id")])
def test_session_fixation_through_log_in(world: tuple[Client, Auth, FaultyAdapter], planted: str,
                                         tally: Tally) -> None:
    tally.add("attacks")
    app, _, _ = world
    response = send(app, "POST", "/login", b"username=alice&password=alice-pw", origin="http://localhost",
                    cookie=f"auth_session={planted}", content_type="application/x-www-form-urlencoded")
    (cookie,) = response.set_cookies
    new_id = cookie.split(";")[0].split("=", 1)[1]
    assert new_id not in (planted, VALID)
    assert send(app, "GET", "/", cookie=f"auth_session={new_id}").text == "user:alice"
    assert send(app, "GET", "/", cookie=f"auth_session={planted}").text == WHO.get(planted, "anonymous")


# The demo application.


@pytest.fixture(params=DEMO_SHELLS)
def demo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[webtest.TestApp, Any]]:
    """The demo on each of its shells (WSGI, and ASGI through ``AsgiForWebTest``), and its ``Auth``."""
    built = build(tmp_path / "demo.db", shell=request.param, hash=FAST_HASH)
    yield webtest.TestApp(built.middleware, extra_environ={"HTTP_HOST": "localhost"}), built.auth
    built.close()
    shutil.rmtree(tmp_path, ignore_errors=True)


SIGN_UP = b"username=alice&email=alice%40example.com&password=alice-password"


def demo_post(app: webtest.TestApp, path: str, body: bytes, **headers: str) -> Any:
    return app.post(path, body, headers={"Origin": "http://localhost", **headers},
                    content_type="application/x-www-form-urlencoded", expect_errors=True)


@pytest.mark.parametrize("body", [
    pytest.param(b"username=alice&password=%ED%A0%80", id="percent-encoded-surrogate"),
    pytest.param(b"username=alice&password=\xed\xa0\x80", id="raw-surrogate-bytes"),
    pytest.param(b"username=%ED%B0%80&password=password1", id="surrogate-username"),
    pytest.param(b"username=alice&password=%FF", id="invalid-utf8"),
    pytest.param(b"username=alice&password=\xff", id="raw-invalid-utf8"),
])
@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_demo_answers_unencodable_input_with_400(demo: tuple[webtest.TestApp, Any], path: str, body: bytes,
                                                 tally: Tally) -> None:
    tally.add("attacks")
    app, _ = demo
    if path == "/signup":  # the same fault in a sign-up form with all its fields
        body += b"&email=alice%40example.com"
    response = demo_post(app, path, body)
    assert response.status_int == 400
    assert set_cookies(response) == []


def _lenient_json(body: bytes) -> dict[str, str]:
    return dict(json.loads(body))


def _lenient_form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("ascii"), encoding="utf-8", errors="surrogateescape"))


SURROGATE_DECODERS = [
    pytest.param(_lenient_json, b'{"username": "%s", "password": "%s"}', "\\udcff", id="json-decoder"),
    pytest.param(_lenient_form, b"username=%s&password=%s", "%ED%B3%BF", id="surrogateescape-form-decoder"),
]


@pytest.mark.parametrize(("decoder", "template", "surrogate"), SURROGATE_DECODERS)
@pytest.mark.parametrize("field", ["username", "password"])
@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_demo_never_answers_500_when_a_decoder_yields_a_lone_surrogate(
    demo: tuple[webtest.TestApp, Any], monkeypatch: pytest.MonkeyPatch, decoder: Callable[[bytes], dict[str, str]],
    template: bytes, surrogate: str, field: str, path: str, tally: Tally,
) -> None:
    """The demo's own form reader refuses such input; a lenient decoder in its place must not
    turn a lone surrogate into a 500 (a store's ``UnicodeEncodeError``)."""
    tally.add("attacks")
    app, auth = demo
    assert demo_post(app, "/signup", SIGN_UP).status_int == 303
    app.reset()
    monkeypatch.setattr(demo_app, "read_form", lambda request, names: {"email": "bob@example.com",
                                                                      **decoder(request.body)})
    username, password = (surrogate, "alice-password") if field == "username" else ("alice", surrogate * 3)
    body = template % (username.encode(), password.encode())
    before = snapshot(auth.config.user_adapter)
    response = app.post(path, body, headers={"Origin": "http://localhost"}, expect_errors=True)
    assert response.status_int == 400
    assert set_cookies(response) == []
    assert snapshot(auth.config.user_adapter) == before


def test_demo_gives_one_log_in_message_whatever_failed(demo: tuple[webtest.TestApp, Any], tally: Tally) -> None:
    app, auth = demo
    assert demo_post(app, "/signup", SIGN_UP).status_int == 303
    store = auth.config.user_adapter
    store.set_user("nopass", {"provider_id": "username:nopass", "hashed_password": None, "username": "nopass"})
    store.set_user("old", {"provider_id": "username:old", "hashed_password": "$2a$10$" + "x" * 53, "username": "old"})
    store.set_user("broken", {"provider_id": "username:broken", "hashed_password": "s2:zz", "username": "broken"})
    failures = {
        "unknown user": b"username=nobody&password=alice-password",
        "wrong password": b"username=alice&password=wrong-password",
        "user without password": b"username=nopass&password=alice-password",
        "outdated bcrypt hash": b"username=old&password=alice-password",
        "malformed hash": b"username=broken&password=alice-password",
        "over-long password": b"username=alice&password=" + b"a" * 5000,
        "over-long password, unknown user": b"username=nobody&password=" + b"a" * 5000,
    }
    tally.add("attacks", len(failures))
    answers = {name: demo_post(app, "/login", body) for name, body in failures.items()}
    bodies = {response.text for response in answers.values()}
    assert {response.status_int for response in answers.values()} == {400}
    assert len(bodies) == 1, "the log-in page tells failures apart"
    assert LOGIN_FAILED in bodies.pop()
    assert all(set_cookies(response) == [] for response in answers.values())


def test_demo_cross_site_logout_is_refused(demo: tuple[webtest.TestApp, Any], tally: Tally) -> None:
    tally.add("attacks")
    app, auth = demo
    signed_up = demo_post(app, "/signup", SIGN_UP)
    session_id = set_cookies(signed_up)[0].split(";")[0].split("=", 1)[1]
    app.reset()
    cookie = {"Cookie": f"auth_session={session_id}"}
    response = app.post("/logout", headers={"Origin": "http://evil.com", **cookie}, expect_errors=True)
    assert response.status_int == 403
    assert set_cookies(response) == []
    assert auth.validate_session(session_id).user_id
    assert app.get("/logout", headers=cookie, expect_errors=True).status_int == 405


# Enumeration through the demo's "forgot password" and sign-in code forms.


@pytest.fixture(params=DEMO_SHELLS)
def flows(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Demo]:
    demo = build(tmp_path / "flows.db", shell=request.param)
    yield demo
    demo.close()


def forgot(browser: webtest.TestApp, account: str) -> tuple[str, list[tuple[str, str]], bytes]:
    return answer(browser.post("/forgot-password", {"account": account}, headers=ORIGIN, status=200))


def test_demo_reset_form_does_not_tell_whether_an_account_exists(flows: Demo, tally: Tally) -> None:
    """The same status, headers and body, byte for byte, before and after the account exists, and when
    its own limit of links has run out."""
    browser = flows.browser("198.51.100.40")
    before = {account: forgot(browser, account) for account in ("carol", "carol@example.com")}
    assert flows.mails() == []  # their jobs ran, and found no account
    sign_up(flows.browser(), "carol", "carol@example.com", status=303)
    after = {account: forgot(browser, account) for account in ("carol", "carol@example.com")}
    assert after == before
    assert before["carol"] == before["carol@example.com"] == forgot(browser, "nobody@example.com")
    other = flows.browser("198.51.100.41")
    assert forgot(other, "carol") == forgot(other, "carol") == before["carol"]  # the 4th link is not sent
    tally.add("attacks", 8)
    assert [mail.subject for mail in flows.mails_to("carol@example.com")] == [
        "Confirm your email address", *["Reset your password"] * 3]


def test_demo_reset_form_does_no_account_work_on_the_request(flows: Demo, monkeypatch: pytest.MonkeyPatch,
                                                             tally: Tally) -> None:
    """The request only queues the job: look-up, link and mail happen in the outbox, for everyone alike."""
    sign_up(flows.browser(), "carol", "carol@example.com", status=303)
    demo = flows.middleware.app
    looked_up: list[str] = []
    for owner, name in ((demo, "user_by_email"), (flows.auth, "get_user_by_provider_id")):
        original = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *args, original=original, **kwargs: (
            looked_up.append(threading.current_thread().name), original(*args, **kwargs))[1])
    flows.mails()
    held = threading.Event()
    demo.outbox.put(held.wait)
    try:
        browser = flows.browser()
        for account in ("carol", "carol@example.com", "nobody", "nobody@example.com"):
            forgot(browser, account)
        assert looked_up == []
        assert demo.adapter.connection.execute(
            "SELECT count(*) FROM lucia_token WHERE kind = 'reset-password'").fetchone()[0] == 0
    finally:
        held.set()
    assert len(flows.mails_to("carol@example.com")) == 1 + 2
    assert set(looked_up) == {"demo-outbox"} and len(looked_up) == 4
    tally.add("attacks", 4)


def test_demo_sign_in_code_forms_do_not_tell_whether_an_account_exists(flows: Demo, tally: Tally) -> None:
    """Asking for a code, and a wrong guess, answer byte for byte the same before the account exists."""
    browser = flows.browser("198.51.100.42")
    email = "dave@example.com"

    def ask() -> Any:
        return answer(browser.post("/signin-code", {"email": email}, headers=ORIGIN, status=200))

    def guess(code: str) -> Any:
        return answer(browser.post("/signin-code/verify", {"email": email, "code": code}, headers=ORIGIN,
                                   status=400))

    before = ask(), guess("00000000")
    assert flows.mails() == []
    dave = flows.browser()
    sign_up(dave, "dave", email, status=303)
    dave.get(link_in(flows.mails_to(email)[-1]), status=200)
    asked = ask()
    while code_in(flows.mails_to(email)[-1]) == "00000000":  # the guess must be wrong: 1 in 10**8
        ask()
    assert (asked, guess("00000000")) == before
    tally.add("attacks", 2)
