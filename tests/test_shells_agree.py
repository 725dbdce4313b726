"""The WSGI and the ASGI middleware answer the same requests identically.

Each scenario is a few requests (and clock moves) run once per shell, each
time over the same store contents with the same session ids (deterministic
ids, a fixed clock): the answers must be equal in status, every header
(``Set-Cookie`` with each attribute, ``Vary``, ``Cache-Control``, in order)
and body, and the stores equal afterwards. ``tests/security/test_fuzz_asgi.py``
does the same with random requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from security.support import FAST_HASH, Clock, comparable, snapshot, tiny_page
from security.world import ACTIVE, BOB, DEAD, IDLE, NOW, SessionIds, fill
from shells import Answer, AsgiShell, Inner, Reply, Req, Shell, WsgiShell

import lucia_wsgi.auth_state
from lucia_wsgi import lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.config import DAY_MS

ORIGIN = ("Origin", "http://localhost")


def cookie(session_id: str) -> tuple[str, str]:
    return ("Cookie", f"auth_session={session_id}")


async def kitchen(r: Inner) -> Reply:
    """A page per rule: who is signed in, sign-in/out, the app's own headers and cookies."""
    text = [("Content-Type", "text/plain")]
    if r.path.startswith("/cache/"):
        await r.validate()
        return Reply(200, [*text, ("Cache-Control", r.path.removeprefix("/cache/").replace("+", " "))], b"cached")
    if r.path.startswith("/vary/"):
        await r.validate()
        return Reply(200, [*text, ("Vary", r.path.removeprefix("/vary/"))], b"varied")
    if r.path == "/sign-in":
        session = await r.sign_in("bob")
        return Reply(200, text, f"signed in {session.user_id}".encode())
    if r.path == "/sign-out":
        await r.sign_out()
        return Reply(200, text, b"signed out")
    if r.path == "/own-cookie":
        await r.validate()
        own = r.auth.create_session_cookies(None)
        return Reply(200, [*text, *(("Set-Cookie", c.serialize()) for c in own)], b"own")
    if r.path == "/set-session":
        r.set_session(await r.call("get_session", BOB.id))
        return Reply(200, text, b"set")
    if r.path == "/plain":
        return Reply(200, [*text, ("Cache-Control", "public, max-age=60")], b"plain")
    return await tiny_page(r)


@dataclass(frozen=True)
class Scenario:
    """Requests, each sent at its clock time (``None``: the clock stays where it is)."""

    steps: tuple[tuple[int | None, Req], ...]
    options: dict[str, Any] = field(default_factory=dict)


def get(path: str, *headers: tuple[str, str], **fields: Any) -> Req:
    return Req("GET", path, headers, **fields)


def post(path: str, *headers: tuple[str, str], body: bytes = b"", **fields: Any) -> Req:
    return Req("POST", path, (ORIGIN, *headers), body, **fields)


LOGIN = b"username=alice&password=alice-pw"
FORM = ("Content-Type", "application/x-www-form-urlencoded")


def once(req: Req, **options: Any) -> Scenario:
    return Scenario(((None, req),), options)


SCENARIOS = [
    pytest.param(once(get("/")), id="anonymous"),
    pytest.param(once(get("/", cookie(ACTIVE.id))), id="active"),
    pytest.param(once(get("/", cookie(IDLE.id))), id="idle-renewed"),
    pytest.param(once(get("/", cookie(DEAD.id))), id="dead-blanked"),
    pytest.param(once(get("/", cookie("A" * 40))), id="unknown-blanked"),
    pytest.param(once(get("/", cookie("short"))), id="malformed-blanked"),
    pytest.param(once(get("/", ("Cookie", b"auth_session=\xff\xfe; theme=dark"))), id="non-utf8-cookie"),
    pytest.param(once(get("/", ("Cookie", "theme=dark"), cookie(ACTIVE.id))), id="repeated-cookie-headers"),
    pytest.param(once(post("/", cookie(IDLE.id))), id="same-site-post-renewed"),
    pytest.param(once(Req("POST", "/", (cookie(IDLE.id), ("Origin", "http://evil.com")))), id="cross-site-post"),
    pytest.param(once(Req("post", "/", (cookie(ACTIVE.id), ORIGIN))), id="lowercase-post"),
    pytest.param(once(get("/", cookie(IDLE.id), scheme="https"), env="PROD"), id="prod-secure-cookie"),
    pytest.param(once(get("/", cookie(IDLE.id)), renewal="extend"), id="extend-mode"),
    pytest.param(once(get("/", cookie(IDLE.id)), hash_session_ids=True), id="hashed-ids"),
    pytest.param(once(get("/", cookie(IDLE.id)), session_cookie=[{"path": "/"}, {"path": "/app", "domain": "a.b"}]),
                 id="two-cookie-options"),
    pytest.param(once(get("/", cookie(DEAD.id)), session_cookie=[{"same_site": "strict", "path": "/"},
                                                                 {"same_site": "none", "path": "/x"}], env="PROD"),
                 id="two-blank-cookies-prod"),
    pytest.param(once(get("/cache/public,+max-age=60", cookie(IDLE.id))), id="cache-public-made-private"),
    pytest.param(once(get("/cache/max-age=60,+s-maxage=600", cookie(IDLE.id))), id="cache-s-maxage-dropped"),
    pytest.param(once(get("/cache/no-store", cookie(IDLE.id))), id="cache-no-store-kept"),
    pytest.param(once(get("/cache/public,+max-age=60", cookie(ACTIVE.id))), id="cache-kept-without-cookie"),
    pytest.param(once(get("/vary/Accept-Encoding", cookie(ACTIVE.id))), id="vary-other"),
    pytest.param(once(get("/vary/*", cookie(ACTIVE.id))), id="vary-star"),
    pytest.param(once(get("/vary/accept,+cookie", cookie(ACTIVE.id))), id="vary-already"),
    pytest.param(once(get("/own-cookie", cookie(IDLE.id))), id="apps-own-cookie-wins"),
    pytest.param(once(get("/set-session", cookie(DEAD.id))), id="set-session-wins"),
    pytest.param(once(get("/plain", cookie(IDLE.id))), id="not-read-untouched"),
    pytest.param(once(post("/sign-in", ("User-Agent", "Firefox/124"), client=("203.0.113.9", 1)),
                      device_details=True), id="sign-in-device-details"),
    pytest.param(once(post("/sign-out", cookie(IDLE.id))), id="sign-out"),
    pytest.param(once(post("/login", cookie(ACTIVE.id), FORM, body=LOGIN)), id="log-in-form"),
    pytest.param(once(post("/login", FORM, body=b"username=alice&password=nope")), id="log-in-refused"),
    pytest.param(once(get("/api/auth/user", cookie(IDLE.id))), id="route-user-renews"),
    pytest.param(once(Req("HEAD", "/api/auth/user", (cookie(ACTIVE.id),))), id="route-user-head"),
    pytest.param(once(post("/api/auth/logout", cookie(IDLE.id))), id="route-logout"),
    pytest.param(once(Req("POST", "/api/auth/logout", (cookie(ACTIVE.id),))), id="route-logout-no-origin"),
    pytest.param(once(get("/api/auth/logout")), id="route-405"),
    pytest.param(once(get("/api/auth/user/")), id="route-404"),
    pytest.param(once(get("/api/auth/client.js")), id="route-client-js"),
    pytest.param(once(get("/api/auth/client.js", ("If-None-Match", "*"))), id="route-client-js-304"),
    pytest.param(once(get("/shop/api/auth/user", cookie(ACTIVE.id), root_path="/shop")), id="route-mounted"),
    pytest.param(once(post("/api/auth/logout", cookie(ACTIVE.id), ("X-Forwarded-Host", "app.example.com"),
                           ("Origin", "http://app.example.com")), trust_proxy=True), id="route-behind-proxy"),
    pytest.param(Scenario((
        (None, get("/", cookie(IDLE.id))),
        (None, get("/", cookie(IDLE.id))),
        (None, get("/", cookie("New" + "0" * 36 + "1"))),
        (NOW + 60_000, get("/", cookie(IDLE.id))),
    )), id="renewal-then-confirm-then-late-old-id"),
    pytest.param(Scenario((
        (None, get("/api/auth/user", cookie(ACTIVE.id))),
        (NOW + DAY_MS, get("/api/auth/user", cookie(ACTIVE.id))),
        (NOW + 20 * DAY_MS, get("/api/auth/user", cookie(ACTIVE.id))),
    )), id="a-session-ageing"),
]


def play(shell: Shell, scenario: Scenario, ids: SessionIds) -> tuple[list[Answer], Any]:
    ids.reset()
    store = MemoryAdapter()
    fill(store)
    clock = Clock(NOW)
    auth = lucia(adapter=store, hash=FAST_HASH, clock=clock, **{"env": "DEV", **scenario.options})
    client = shell.serve(kitchen, auth)
    answers = []
    for at, req in scenario.steps:
        if at is not None:
            clock.now = at
        answers.append(client.send(req))
    return answers, comparable(snapshot(store))


@pytest.fixture
def session_ids(monkeypatch: pytest.MonkeyPatch) -> SessionIds:
    ids = SessionIds()
    monkeypatch.setattr(lucia_wsgi.auth_state, "generate_random_string", ids)
    return ids


@pytest.fixture(scope="module")
def shells() -> Any:
    pair = (WsgiShell(), AsgiShell())
    yield pair
    pair[1].close()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_both_shells_answer_alike(shells: tuple[Shell, Shell], session_ids: SessionIds, scenario: Scenario) -> None:
    (wsgi, wsgi_store), (asgi, asgi_store) = (play(shell, scenario, session_ids) for shell in shells)
    assert [answer.status for answer in wsgi] == [answer.status for answer in asgi]
    for step, (w, a) in enumerate(zip(wsgi, asgi, strict=True)):
        assert a.headers == w.headers, f"step {step}: headers differ"
        assert a.body == w.body, f"step {step}: bodies differ"
    assert asgi_store == wsgi_store


def test_the_scenarios_exercise_what_they_say(shells: tuple[Shell, Shell], session_ids: SessionIds) -> None:
    """A few answers checked by hand, so the table cannot pass by both shells doing nothing."""
    by_id = {param.id: param.values[0] for param in SCENARIOS}
    (renewed,), _ = play(shells[0], by_id["idle-renewed"], session_ids)
    assert renewed.text == "user:alice" and renewed.auth_cookies[0].startswith("auth_session=New")
    assert renewed.getall("Cache-Control") == ["private"] and renewed.getall("Vary") == ["Cookie"]
    (secure,), _ = play(shells[0], by_id["prod-secure-cookie"], session_ids)
    assert "; Secure" in secure.auth_cookies[0]
    (signed_in,), store = play(shells[0], by_id["sign-in-device-details"], session_ids)
    assert signed_in.text == "signed in bob"
    assert [row[8:] for row in store[1] if row[1] == "bob" and row[0] != BOB.id] == [("Firefox/124", "203.0.113.9")]
    answers, _ = play(shells[0], by_id["renewal-then-confirm-then-late-old-id"], session_ids)
    assert [a.text for a in answers] == ["user:alice", "user:alice", "user:alice", "anonymous"]
    assert answers[3].set_cookies == []

