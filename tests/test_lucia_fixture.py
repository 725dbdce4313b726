"""Sharing a database with a Lucia app: the original's own SQLite file, and its schema by hand."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from lucia_wsgi import Auth, LuciaError, Session, lucia
from lucia_wsgi.adapters import SQLiteAdapter

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "lucia-0.3.3.sqlite"
T0 = 1_700_000_000_000
DAY = 86_400_000
ALICE_SESSION = "PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW"
BOB_SESSION = "m4d3hs7fgoHr5RF7cMH3n8HfYLhWwjwjOXFhJ2fU"
GH_SESSION = "EB0I6zkqgRL4nE3WrVR5uVxPQ1pSMp8XbJNX7jWt"
UNI_SESSION = "xPjxFvaBBz9peM75TIwA3rUA9Lhk4DOCx1ivK9cb"
HUNTER2 = (
    "s2:yAGmDD7E3hmxMmoo:b5eb3b7bf6d3a75f478ae2e5340065883ddad05ec0c9e47f77882a54e2219bd9"
    "04260d18b75b5fe3d115eccbf05aeeea669e596fb7d9b85770216556d4352938"
)


def _ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


def _raw(path: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    if not FIXTURE.exists():
        pytest.fail(f"the shared fixture {FIXTURE} is missing")
    copy = tmp_path / "lucia.sqlite"
    shutil.copyfile(FIXTURE, copy)
    return copy


@pytest.fixture
def auth(db: Path) -> Iterator[Auth]:
    adapter = SQLiteAdapter(db)
    yield lucia(adapter=adapter, env="DEV", clock=lambda: T0)
    adapter.close()


# --- the original's database -----------------------------------------------------


def test_alice_validates_as_is(auth: Auth, db: Path) -> None:
    assert auth.validate_session(ALICE_SESSION) == Session(
        session_id=ALICE_SESSION, user_id="user-alice", active_period_expires=_ms(1700086400000),
        idle_period_expires=_ms(1701296000000), state="active", is_fresh=False)
    assert _raw(db, "SELECT expires, idle_expires FROM session WHERE id = ?", ALICE_SESSION) == [
        (1700086400000, 1701296000000)]


def test_uni_validates_as_is(auth: Auth) -> None:
    assert auth.validate_session_user(UNI_SESSION).user == {"user_id": "user-uni"}


def test_bob_is_renewed_with_exact_expiries(auth: Auth, db: Path) -> None:
    renewed = auth.validate_session(BOB_SESSION)
    assert renewed == Session(session_id=renewed.session_id, user_id="user-bob",
                              active_period_expires=_ms(T0 + DAY), idle_period_expires=_ms(T0 + 15 * DAY),
                              state="active", is_fresh=True)
    assert renewed.session_id != BOB_SESSION
    assert sorted(_raw(db, "SELECT id, expires, idle_expires FROM session WHERE user_id = 'user-bob'")) == sorted([
        (renewed.session_id, T0 + DAY, T0 + 15 * DAY),
        (BOB_SESSION, 1699913600000, 1701123200000),  # untouched, as the original leaves it
    ])


def test_gh_session_is_invalid_and_deleted(auth: Auth, db: Path) -> None:
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(GH_SESSION)
    assert _raw(db, "SELECT id FROM session WHERE id = ?", GH_SESSION) == []


@pytest.mark.parametrize(
    ("provider", "identifier", "password", "user_id"),
    [
        pytest.param("username", "alice", "hunter2", "user-alice", id="alice"),
        pytest.param("username", "bob", "correct horse battery staple", "user-bob", id="bob"),
        pytest.param("email", "ünï@example.com", "pässwörd", "user-uni", id="uni"),
    ],
)
def test_authenticate_user(auth: Auth, provider: str, identifier: str, password: str, user_id: str) -> None:
    assert auth.authenticate_user(provider, identifier, password) == {"user_id": user_id}


@pytest.mark.parametrize(
    ("provider", "identifier", "password", "code"),
    [
        pytest.param("github", "1234", "anything", "AUTH_INVALID_PASSWORD", id="gh-has-no-password"),
        pytest.param("username", "alice", "hunter3", "AUTH_INVALID_PASSWORD", id="alice-wrong-password"),
        pytest.param("username", "carol", "hunter2", "AUTH_INVALID_PROVIDER_ID", id="unknown-user"),
    ],
)
def test_authenticate_user_fails(auth: Auth, provider: str, identifier: str, password: str, code: str) -> None:
    with pytest.raises(LuciaError, match=code):
        auth.authenticate_user(provider, identifier, password)


def test_alice_cookie(auth: Auth) -> None:
    (cookie,) = auth.create_session_cookies(auth.validate_session(ALICE_SESSION))
    assert cookie.serialize() == (
        "auth_session=PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW; Path=/; "
        "Expires=Wed, 29 Nov 2023 22:13:20 GMT; HttpOnly; SameSite=Lax"
    )


def test_attribute_columns_are_found(db: Path) -> None:
    adapter = SQLiteAdapter(db)
    try:
        auth = lucia(adapter=adapter, env="DEV", clock=lambda: T0, transform_user_data=dict)
        assert auth.get_user("user-uni") == {"id": "user-uni", "username": "Uni"}
        session, user = auth.get_session_user(ALICE_SESSION)
        assert session is not None and session.session_id == ALICE_SESSION
        assert user == {"id": "user-alice", "username": "Alice"}
    finally:
        adapter.close()


# --- a Lucia app's schema, written by hand ------------------------------------------

LUCIA_SCHEMA = """
CREATE TABLE user (id TEXT PRIMARY KEY, provider_id TEXT NOT NULL UNIQUE, hashed_password TEXT NULL, username TEXT);
CREATE TABLE session (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES user(id), expires BIGINT NOT NULL,
                      idle_expires BIGINT NOT NULL);
"""


@pytest.fixture
def lucia_app_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(LUCIA_SCHEMA)
    conn.execute("INSERT INTO user VALUES ('user-h', 'username:hunter', ?, 'Hunter')", (HUNTER2,))
    conn.execute("INSERT INTO session VALUES (?, 'user-h', ?, ?)", ("s" * 40, T0 + DAY, T0 + 15 * DAY))
    conn.execute("INSERT INTO session VALUES (?, 'user-h', ?, ?)", ("i" * 40, T0 - 1, T0 + 14 * DAY))
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def app_auth(lucia_app_db: Path) -> Iterator[Auth]:
    adapter = SQLiteAdapter(lucia_app_db)
    yield lucia(adapter=adapter, env="DEV", clock=lambda: T0)
    adapter.close()


def test_authenticate_and_validate_on_a_lucia_schema(app_auth: Auth) -> None:
    assert app_auth.authenticate_user("username", "hunter", "hunter2") == {"user_id": "user-h"}
    session = app_auth.validate_session("s" * 40)
    assert (session.session_id, session.user_id, session.state, session.is_fresh) == ("s" * 40, "user-h",
                                                                                      "active", False)
    renewed, user = app_auth.validate_session_user("i" * 40)
    assert renewed is not None and renewed.is_fresh and user == {"user_id": "user-h"}


def test_rows_written_have_the_types_a_lucia_app_expects(app_auth: Auth, lucia_app_db: Path) -> None:
    user = app_auth.create_user("username", "carol", "s3cret", {"username": "Carol"})
    app_auth.create_session(user["user_id"])
    app_auth.validate_session("i" * 40)  # a renewal writes a new row and shortens the old one
    app_auth.create_user("github", "99")
    users = _raw(lucia_app_db, "SELECT typeof(id), typeof(provider_id), typeof(hashed_password), typeof(username), "
                               "provider_id, hashed_password FROM user WHERE id != 'user-h' ORDER BY provider_id")
    assert [row[:4] for row in users] == [("text", "text", "null", "null"), ("text", "text", "text", "text")]
    assert [row[4] for row in users] == ["github:99", "username:carol"]
    assert re.fullmatch(r"s2:[a-zA-Z0-9]{16}:[0-9a-f]{128}", users[1][5])
    sessions = _raw(lucia_app_db, "SELECT DISTINCT typeof(id), typeof(user_id), typeof(expires), "
                                  "typeof(idle_expires), length(id) FROM session")
    assert sessions == [("text", "text", "integer", "integer", 40)]


def test_our_writes_keep_the_lucia_schema(app_auth: Auth, lucia_app_db: Path) -> None:
    app_auth.create_session("user-h")
    schema = _raw(lucia_app_db, "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert [name for name, _ in schema] == ["session", "user"]
    assert _raw(lucia_app_db, "PRAGMA foreign_key_check") == []
