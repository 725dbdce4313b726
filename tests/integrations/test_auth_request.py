"""What the integrations rely on from ``AuthRequest``: sign_in/sign_out and validate() following them."""

from __future__ import annotations

from typing import Any

import pytest
from webob import Request

from lucia_wsgi import Auth, AuthRequest, LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.testing import FaultyAdapter, InjectedFault

from .conftest import CHEAP_HASH, ORIGIN, Clock, auth_cookies, cookie_value

AGENT = "Mozilla/5.0 (X11; Linux x86_64) integration-test"


def auth_request(auth: Auth, *, cookie: str | None = None, agent: str | None = None) -> AuthRequest:
    headers = {"Host": "localhost", "Origin": ORIGIN}
    if cookie is not None:
        headers["Cookie"] = f"auth_session={cookie}"
    if agent is not None:
        headers["User-Agent"] = agent
    environ = Request.blank("/", method="POST", headers=headers, remote_addr="203.0.113.9").environ
    return AuthRequest(auth, environ)


def serialized(request: AuthRequest) -> list[str]:
    return auth_cookies([cookie.serialize() for cookie in request.queued_cookies])


def test_sign_in_queues_the_cookie_and_validate_answers_with_the_new_user(auth: Auth, alice: Any) -> None:
    request = auth_request(auth)
    session = request.sign_in(alice["user_id"])
    (value,) = serialized(request)
    assert cookie_value(value) == session.session_id
    assert auth.get_session(session.session_id).user_id == alice["user_id"]
    assert request.validate() is session
    assert request.validate_user().user == alice


def test_sign_in_after_an_anonymous_read_answers_with_the_new_user(auth: Auth, alice: Any) -> None:
    request = auth_request(auth)
    assert request.validate_user() == (None, None)
    session = request.sign_in(alice["user_id"])
    assert request.validate_user() == (session, alice)


def test_sign_in_records_device_details_when_configured(clock: Clock) -> None:
    auth = lucia(adapter=MemoryAdapter(), env="DEV", clock=clock, hash=CHEAP_HASH, device_details=True)
    user = auth.create_user("username", "bob", password="pw", attributes={"username": "bob"})
    auth_request(auth, agent=AGENT).sign_in(user["user_id"])
    (device,) = auth.get_user_sessions(user["user_id"])
    assert (device.user_agent, device.ip_address) == (AGENT, "203.0.113.9")


def test_sign_in_records_no_device_details_by_default(auth: Auth, alice: Any) -> None:
    auth_request(auth, agent=AGENT).sign_in(alice["user_id"])
    (device,) = auth.get_user_sessions(alice["user_id"])
    assert (device.user_agent, device.ip_address) == (None, None)


def test_sign_out_ends_the_cookie_session(auth: Auth, session_id: str) -> None:
    request = auth_request(auth, cookie=session_id)
    request.sign_out()
    (value,) = serialized(request)
    assert value.startswith("auth_session=;")
    with pytest.raises(LuciaError):
        auth.get_session(session_id)
    assert request.validate_user() == (None, None)


def test_sign_out_after_sign_in_in_one_request_is_anonymous(auth: Auth, alice: Any) -> None:
    request = auth_request(auth)
    request.sign_in(alice["user_id"])
    request.sign_out()
    (value,) = serialized(request)
    assert value.startswith("auth_session=;")
    assert request.validate() is None


def test_store_failure_in_sign_out_keeps_session_and_cookie(auth: Auth, session_id: str, store: FaultyAdapter
                                                              ) -> None:
    store.fail("delete_session")
    request = auth_request(auth, cookie=session_id)
    with pytest.raises(InjectedFault):
        request.sign_out()
    assert request.queued_cookies == []
    store.heal()
    assert auth.get_session(session_id).session_id == session_id
