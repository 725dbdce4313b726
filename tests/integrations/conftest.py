"""Fixtures for the Flask and Django integration tests: a memory store, a movable clock, alice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
import webtest
from conftest import Clock

from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.testing import FaultyAdapter

# The clock starts in 2096: cookies then expire in the future, so WebTest's
# cookie jar (which checks Expires against the real time) keeps them.
T0 = 4_000_000_000_000
# Password hashing is not under test here: a cheap (generate, validate) pair.
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
ORIGIN = "http://localhost"



@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store() -> FaultyAdapter:
    """The memory store, wrapped so a test can make chosen calls fail."""
    return FaultyAdapter(MemoryAdapter())


@pytest.fixture
def auth(clock: Clock, store: FaultyAdapter) -> Auth:
    return lucia(adapter=store, env="DEV", clock=clock, hash=CHEAP_HASH,
                 transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]})


@pytest.fixture
def alice(auth: Auth) -> Any:
    return auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})


@pytest.fixture
def session_id(auth: Auth, alice: Any) -> str:
    return str(auth.create_session(alice["user_id"]).session_id)


def auth_cookies(headers: Iterable[str]) -> list[str]:
    """The ``auth_session`` Set-Cookie values among ``headers``."""
    return [value for value in headers if value.startswith("auth_session=")]


def set_cookies(response: webtest.TestResponse) -> list[str]:
    """The ``auth_session`` Set-Cookie values of a WebTest response."""
    return auth_cookies(response.headers.getall("Set-Cookie"))


def cookie(session_id: str) -> dict[str, str]:
    """The request header carrying ``session_id``."""
    return {"Cookie": f"auth_session={session_id}"}


def cookie_value(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].partition("=")[2]
