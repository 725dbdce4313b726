"""SQL metacharacters, NUL and ``:`` in provider ids, user ids and attributes.

Every value is a bound parameter: a hostile identifier is stored and found
back byte for byte, matches nobody else, and never raises a store error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.auth import _provider_id

from .support import Tally, snapshot

EVIL = [
    pytest.param("' OR '1'='1", id="or-true"),
    pytest.param("alice' --", id="comment"),
    pytest.param("alice'; DROP TABLE \"user\"; --", id="drop-table"),
    pytest.param('alice" OR ""="', id="double-quote"),
    pytest.param("%", id="like-percent"),
    pytest.param("_____", id="like-underscores"),
    pytest.param("*", id="glob-star"),
    pytest.param("\\", id="backslash"),
    pytest.param("\x00", id="nul"),
    pytest.param("alice\x00", id="trailing-nul"),
    pytest.param("\x00alice", id="leading-nul"),
    pytest.param("alice:admin", id="colon"),
    pytest.param(":", id="only-colon"),
    pytest.param("username:alice", id="nested-provider-id"),
    pytest.param("", id="empty"),
    pytest.param(" alice", id="leading-space"),
    pytest.param("ALICE", id="other-case"),
    pytest.param("alice\n", id="newline"),
    pytest.param("ａｌｉｃｅ", id="fullwidth"),  # NFKC would make this "alice": no normalisation here
    pytest.param("alice" + "x" * 10_000, id="10k-chars"),
    pytest.param("$1", id="placeholder-dollar"),
    pytest.param("?", id="placeholder-qmark"),
    pytest.param("%s", id="placeholder-format"),
    pytest.param("1; SELECT pg_sleep(10)", id="stacked-sleep"),
]


@pytest.fixture
def auth(store: Any, make_auth: Callable[..., Auth]) -> Auth:
    auth = make_auth(store)
    auth.create_user("username", "alice", password="alice-password", attributes={"username": "Alice"})
    return auth


@pytest.mark.parametrize("evil", EVIL)
def test_hostile_identifier_matches_nobody(auth: Auth, evil: str, tally: Tally) -> None:
    tally.add("attacks")
    before = snapshot(auth.config.user_adapter)
    with pytest.raises(LuciaError) as caught:
        auth.get_user_by_provider_id("username", evil)
    assert caught.value.code == "AUTH_INVALID_PROVIDER_ID"
    with pytest.raises(LuciaError) as caught:
        auth.authenticate_user("username", evil, "alice-password")
    assert caught.value.code == "AUTH_INVALID_PROVIDER_ID"
    assert snapshot(auth.config.user_adapter) == before


@pytest.mark.parametrize("evil", EVIL)
def test_hostile_identifier_is_stored_and_found_byte_for_byte(auth: Auth, evil: str, tally: Tally) -> None:
    tally.add("attacks")
    if "\x00" in evil:  # no store may hold it (PostgreSQL text cannot): refused alike everywhere
        before = snapshot(auth.config.user_adapter)
        with pytest.raises(LuciaError, match="AUTH_INVALID_PROVIDER_ID"):
            auth.create_user("username", evil, password="evil-password")
        assert snapshot(auth.config.user_adapter) == before
        return
    user = auth.create_user("username", evil, password="evil-password", attributes={"username": evil})
    stored = auth.config.user_adapter.get_user(user["user_id"])
    assert stored["provider_id"] == "username:" + evil
    assert stored["username"] == evil
    assert auth.authenticate_user("username", evil, "evil-password") == user
    assert auth.get_user_by_provider_id("username", "alice") != user  # alice untouched, still herself
    assert auth.authenticate_user("username", "alice", "alice-password")["user_id"] != user["user_id"]


@pytest.mark.parametrize("evil", EVIL)
def test_hostile_user_id_changes_nothing(auth: Auth, evil: str, tally: Tally) -> None:
    tally.add("attacks")
    alice = auth.get_user_by_provider_id("username", "alice")
    auth.create_session(alice["user_id"])
    before = snapshot(auth.config.user_adapter)
    with pytest.raises(LuciaError) as caught:
        auth.get_user(evil)
    assert caught.value.code == "AUTH_INVALID_USER_ID"
    with pytest.raises(LuciaError) as caught:
        auth.update_user_attributes(evil, {"username": "pwned"})
    assert caught.value.code == "AUTH_INVALID_USER_ID"
    with pytest.raises(LuciaError) as caught:
        auth.create_session(evil)
    assert caught.value.code == "AUTH_INVALID_USER_ID"
    auth.invalidate_all_user_sessions(evil)
    auth.delete_dead_user_sessions(evil)
    auth.delete_user(evil)
    assert snapshot(auth.config.user_adapter) == before


HOSTILE_COLUMNS = [
    pytest.param('username" = \'x\' --', id="quote-comment"),
    pytest.param("username = 'x', hashed_password", id="second-assignment"),
    pytest.param("hashed_password; --", id="semicolon"),
    pytest.param("user\x00name", id="nul"),
    pytest.param("nonexistent", id="unknown-column"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("column", HOSTILE_COLUMNS)
def test_hostile_attribute_name_is_refused_by_sql_stores(
    tmp_path: Any, make_auth: Callable[..., Auth], column: str, tally: Tally,
) -> None:
    tally.add("attacks")
    adapter = SQLiteAdapter(tmp_path / "lucia.db")
    adapter.create_tables(user_attributes={"username": "TEXT"})
    auth = make_auth(adapter)
    user = auth.create_user("username", "alice", password="pw")
    before = snapshot(adapter)
    with pytest.raises(ValueError, match="column"):
        auth.update_user_attributes(user["user_id"], {column: "x"})
    with pytest.raises(ValueError, match="column"):
        auth.create_user("username", "bob", attributes={column: "x"})
    assert snapshot(adapter) == before


@pytest.mark.parametrize("reserved", ["id", "provider_id", "hashed_password"])
def test_attributes_cannot_overwrite_identity_columns(auth: Auth, reserved: str) -> None:
    alice = auth.get_user_by_provider_id("username", "alice")
    before = snapshot(auth.config.user_adapter)
    with pytest.raises(ValueError, match="cannot set"):
        auth.update_user_attributes(alice["user_id"], {reserved: "x"})
    with pytest.raises(ValueError, match="cannot set"):
        auth.create_user("username", "bob", attributes={reserved: "x"})
    assert snapshot(auth.config.user_adapter) == before


@pytest.mark.parametrize("provider", [
    pytest.param("user:name", id="colon-inside"),
    pytest.param("user\x00name", id="nul"),
    pytest.param(":", id="colon"),
    pytest.param("", id="empty"),
    pytest.param("username:", id="trailing-colon"),
])
def test_provider_with_a_colon_is_refused(auth: Auth, provider: str) -> None:
    with pytest.raises(ValueError, match="provider"):
        auth.create_user(provider, "alice")
    with pytest.raises(ValueError, match="provider"):
        auth.get_user_by_provider_id(provider, "alice")


@given(provider=st.text(min_size=1).filter(lambda p: ":" not in p and "\x00" not in p),
       identifier=st.text().filter(lambda i: "\x00" not in i))
def test_provider_id_splits_back_on_the_first_colon(provider: str, identifier: str) -> None:
    assert _provider_id(provider, identifier).partition(":") == (provider, ":", identifier)


def test_colon_in_identifier_does_not_reach_another_provider(auth: Auth) -> None:
    """``github`` + ``1:admin`` and ``github:1`` + ``admin`` cannot meet: providers have no colon."""
    user = auth.create_user("github", "1:admin")
    assert auth.get_user_by_provider_id("github", "1:admin") == user
    with pytest.raises(LuciaError):
        auth.get_user_by_provider_id("github", "1")
