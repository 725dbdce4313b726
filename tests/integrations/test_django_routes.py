"""``include("lucia_wsgi.django.urls")`` answers as the WSGI routes do: status, headers, cookies, body.

Every case runs once through ``LuciaMiddleware`` (the reference) and once
through Django (WSGI handler under WebTest, the test client, the ASGI
handler), each on a fresh session; session ids, random, are masked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client

from lucia_wsgi import Auth, LuciaMiddleware
from lucia_wsgi.config import DAY_MS
from lucia_wsgi.testing import FaultyAdapter

from . import django_site
from .conftest import ORIGIN, T0, Clock
from .django_support import Answer, asgi_call, project

PREFIX = "/api/auth"
SESSION_ID = re.compile(r"(?<=auth_session=)[A-Za-z0-9]{40}")


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    session: str = "none"  # none | valid | idle | unknown
    headers: dict[str, str] = field(default_factory=dict)
    fail: str | None = None  # an adapter method that fails during the request
    etag: bool = False  # send If-None-Match with client.js's ETag


CASES = [
    pytest.param(Case("GET", "user"), id="user anonymous"),
    pytest.param(Case("GET", "user", "valid"), id="user signed in"),
    pytest.param(Case("GET", "user", "idle"), id="user idle renewed"),
    pytest.param(Case("GET", "user", "unknown"), id="user unknown cookie"),
    pytest.param(Case("HEAD", "user", "valid"), id="user HEAD"),
    pytest.param(Case("POST", "user", "valid", {"Origin": ORIGIN}), id="user POST 405"),
    pytest.param(Case("GET", "user", "valid", fail="get_session_and_user_by_session_id"), id="user store failure"),
    pytest.param(Case("POST", "logout", "valid", {"Origin": ORIGIN}), id="logout"),
    pytest.param(Case("POST", "logout", "idle", {"Origin": ORIGIN}), id="logout idle"),
    pytest.param(Case("POST", "logout", "none", {"Origin": ORIGIN}), id="logout anonymous"),
    pytest.param(Case("POST", "logout", "valid", {"Origin": "https://evil.example"}), id="logout cross-site"),
    pytest.param(Case("POST", "logout", "valid"), id="logout without Origin"),
    pytest.param(Case("POST", "logout", "valid", {"Origin": ORIGIN}, fail="delete_session"), id="logout store failure"),
    pytest.param(Case("GET", "logout", "valid"), id="logout GET 405"),
    pytest.param(Case("GET", "client.js"), id="client.js"),
    pytest.param(Case("HEAD", "client.js"), id="client.js HEAD"),
    pytest.param(Case("GET", "client.js", etag=True), id="client.js not modified"),
    pytest.param(Case("GET", "nope"), id="unknown path 404"),
    pytest.param(Case("GET", "user/"), id="trailing slash 404"),
    pytest.param(Case("GET", "user/extra"), id="below a route 404"),
    pytest.param(Case("GET", ""), id="the prefix itself 404"),
]

Transport = Callable[[str, str, dict[str, str]], Answer]


def through_webtest(app: Any) -> Transport:
    test_app = webtest.TestApp(validator(app))

    def call(method: str, path: str, headers: dict[str, str]) -> Answer:
        response = test_app.request(path, method=method, headers=headers, expect_errors=True)
        return Answer(response.status_int, list(response.headerlist), response.body)

    return call


def through_client(method: str, path: str, headers: dict[str, str]) -> Answer:
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    response = Client().generic(method, path, HTTP_HOST="localhost", **extra)
    cookies = [("Set-Cookie", morsel.output(header="")) for morsel in response.cookies.values()]
    return Answer(response.status_code, [*response.items(), *cookies], response.content)


def through_asgi(method: str, path: str, headers: dict[str, str]) -> Answer:
    return asgi_call(ASGIHandler(), method, path, headers=headers)


@pytest.fixture(params=["wsgi", "test client", "asgi"])
def django_transport(request: pytest.FixtureRequest, auth: Auth, monkeypatch: pytest.MonkeyPatch
                     ) -> Iterator[Transport]:
    monkeypatch.setattr(django_site, "auth", auth)
    with project():
        if request.param == "wsgi":
            yield through_webtest(WSGIHandler())
        elif request.param == "test client":
            yield through_client
        else:
            yield through_asgi


def normalized(answer: Answer) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((name.lower(), SESSION_ID.sub("<id>", value)) for name, value in answer.headers)
    return answer.status, headers, answer.body


def run(case: Case, transport: Transport, auth: Auth, alice: Any, clock: Clock, store: FaultyAdapter,
        etag: str | None) -> Answer:
    headers = dict(case.headers)
    clock.now = T0
    if case.session in ("valid", "idle"):
        headers["Cookie"] = "auth_session=" + auth.create_session(alice["user_id"]).session_id
    elif case.session == "unknown":
        headers["Cookie"] = "auth_session=" + "D" * 40
    if case.session == "idle":
        clock.now = T0 + DAY_MS + 1
    if etag is not None:
        headers["If-None-Match"] = etag
    store.heal()
    store.reset()
    if case.fail:
        store.fail(case.fail)
    try:
        return transport(case.method, f"{PREFIX}/{case.path}", headers)
    finally:
        store.heal()


@pytest.mark.parametrize("case", CASES)
def test_django_routes_answer_as_the_wsgi_routes(
    case: Case, django_transport: Transport, auth: Auth, alice: Any, clock: Clock, store: FaultyAdapter
) -> None:
    reference = through_webtest(LuciaMiddleware(lambda environ, start_response: [], auth))
    etag = None
    if case.etag:
        etag = dict(reference("GET", f"{PREFIX}/client.js", {}).headers)["ETag"]
    expected = run(case, reference, auth, alice, clock, store, etag)
    answer = run(case, django_transport, auth, alice, clock, store, etag)
    assert normalized(answer) == normalized(expected)
