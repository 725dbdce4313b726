"""Passwords under attack: hashing denial of service, Unicode forms, user enumeration.

Hashing is the subject here, so the real scrypt runs where it matters (a
handful of times); elsewhere a counting stand-in shows what was hashed.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter, SQLiteAdapter
from lucia_wsgi.passwords import MAX_PASSWORD_BYTES, hash_password, verify_password
from lucia_wsgi.testing import FaultyAdapter

from .support import FAST_HASH, FIXTURE_DB, T0, Clock, Tally


class CountingHash:
    """A cheap ``(generate, validate)`` pair that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, password: str) -> str:
        self.calls += 1
        return FAST_HASH[0](password)

    def validate(self, password: str, hashed: str) -> bool:
        self.calls += 1
        return FAST_HASH[1](password, hashed)


ABSURD = [
    pytest.param("a" * (MAX_PASSWORD_BYTES + 1), id="4097-ascii-bytes"),
    pytest.param("€" * 1366, id="1366-euros-4098-bytes"),
    pytest.param("\ufdfa" * 200, id="nfkc-expansion-bomb"),  # 200 characters, 6,600 bytes once normalised
    pytest.param("a" * 10_000_000, id="10-MB"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param("pass\udfffword", id="lone-low-surrogate"),
]


@pytest.fixture
def counted(make_auth: Callable[..., Auth]) -> tuple[Auth, CountingHash, FaultyAdapter]:
    counter = CountingHash()
    store = FaultyAdapter(MemoryAdapter())
    auth = make_auth(store, hash=(counter.generate, counter.validate))
    auth.create_user("username", "alice", password="alice-password")
    counter.calls = 0
    store.reset()
    return auth, counter, store


@pytest.mark.parametrize("password", ABSURD)
@pytest.mark.parametrize("operation", ["create_user", "authenticate_user", "authenticate_unknown",
                                       "update_user_password"])
def test_absurd_password_is_rejected_before_any_hashing_or_query(
    counted: tuple[Auth, CountingHash, FaultyAdapter], operation: str, password: str, tally: Tally,
) -> None:
    tally.add("attacks")
    auth, counter, store = counted
    calls: dict[str, Callable[[], Any]] = {
        "create_user": lambda: auth.create_user("username", "bob", password=password),
        "authenticate_user": lambda: auth.authenticate_user("username", "alice", password),
        "authenticate_unknown": lambda: auth.authenticate_user("username", "nobody", password),
        "update_user_password": lambda: auth.update_user_password(
            auth.get_user_by_provider_id("username", "alice")["user_id"], password),
    }
    start = time.perf_counter()
    with pytest.raises(LuciaError) as caught:
        calls[operation]()
    assert time.perf_counter() - start < 0.5
    assert caught.value.code == "AUTH_INVALID_PASSWORD"
    assert counter.calls == 0
    assert [call.method for call in store.calls] in ([], ["get_user_by_provider_id"])  # the lookup of alice's id
    assert store.count("set_user") == store.count("update_user") == 0


@pytest.mark.parametrize("password", [
    pytest.param("a" * MAX_PASSWORD_BYTES, id="4096-ascii-bytes"),
    pytest.param("€" * 1365, id="1365-euros-4095-bytes"),
    pytest.param("\ufdfa" * 124, id="nfkc-expansion-4092-bytes"),
])
def test_longest_acceptable_passwords_work(counted: tuple[Auth, CountingHash, FaultyAdapter], password: str) -> None:
    auth, counter, _ = counted
    user = auth.create_user("username", "bob", password=password)
    assert auth.authenticate_user("username", "bob", password) == user
    assert counter.calls == 2  # one hash, one verification


NFKC_FORMS = [
    pytest.param("pässwörd", unicodedata.normalize("NFD", "pässwörd"), id="composed-vs-decomposed"),
    pytest.param("ﬁnance", "finance", id="ligature"),
    pytest.param("ｐａｓｓ１２３", "pass123", id="fullwidth"),
    pytest.param("Ⅻ-word", "XII-word", id="roman-numeral"),
]


@pytest.mark.parametrize(("stored", "typed"), NFKC_FORMS)
def test_nfkc_equivalent_password_verifies(stored: str, typed: str) -> None:
    hashed = hash_password(stored)
    assert verify_password(typed, hashed)


def test_nfkc_forms_verify_against_a_hash_lucia_wrote(tmp_path: Path) -> None:
    """user-uni's hash was written by Lucia 0.3.3 from ``pässwörd``; the decomposed form logs in."""
    path = tmp_path / "lucia.sqlite"
    shutil.copyfile(FIXTURE_DB, path)
    auth = lucia(adapter=SQLiteAdapter(path), env="DEV", clock=Clock(T0))
    decomposed = unicodedata.normalize("NFD", "pässwörd")
    assert decomposed != "pässwörd"
    assert auth.authenticate_user("email", "ünï@example.com", decomposed)["user_id"] == "user-uni"


def test_nfkc_lookalike_is_not_the_same_password() -> None:
    hashed = hash_password("password")
    assert not verify_password("pаssword", hashed)  # Cyrillic а is not NFKC-equal to a


# User enumeration: every failed log-in costs exactly one scrypt, whatever failed.

RIGHT = "right-password"


@pytest.fixture(scope="module")
def real_hash() -> str:
    return hash_password(RIGHT)


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    yield calls


ENUMERATION = [
    pytest.param("nobody", RIGHT, "AUTH_INVALID_PROVIDER_ID", id="unknown-user"),
    pytest.param("no-password", RIGHT, "AUTH_INVALID_PASSWORD", id="user-without-password"),
    pytest.param("empty-hash", RIGHT, "AUTH_INVALID_PASSWORD", id="empty-stored-hash"),
    pytest.param("garbage-hash", RIGHT, "AUTH_INVALID_PASSWORD", id="one-part-stored-hash"),
    pytest.param("four-part-hash", RIGHT, "AUTH_INVALID_PASSWORD", id="four-part-stored-hash"),
    pytest.param("short-s2-hash", RIGHT, "AUTH_INVALID_PASSWORD", id="truncated-s2-hash"),
    pytest.param("bcrypt-hash", RIGHT, "AUTH_OUTDATED_PASSWORD", id="bcrypt-hash-not-migrated"),
    pytest.param("alice", "wrong-password", "AUTH_INVALID_PASSWORD", id="wrong-password"),
    pytest.param("alice", RIGHT.upper(), "AUTH_INVALID_PASSWORD", id="wrong-case"),
    pytest.param("alice", "", "AUTH_INVALID_PASSWORD", id="empty-password"),
    pytest.param("alice", RIGHT, None, id="right-password"),
]


@pytest.mark.parametrize(("identifier", "password", "error"), ENUMERATION)
def test_every_log_in_costs_exactly_one_scrypt(
    real_hash: str, scrypt_calls: list[int], identifier: str, password: str, error: str | None, tally: Tally,
) -> None:
    tally.add("attacks")
    store = MemoryAdapter()
    rows = {
        "alice": real_hash,
        "no-password": None,
        "empty-hash": "",
        "garbage-hash": "garbage",
        "four-part-hash": real_hash + ":extra",
        "short-s2-hash": real_hash[:30],
        "bcrypt-hash": "$2b$04$" + "a" * 53,
    }
    for name, hashed in rows.items():
        store.set_user(name, {"provider_id": f"username:{name}", "hashed_password": hashed})
    auth = lucia(adapter=store, env="DEV", clock=Clock(T0))
    scrypt_calls.clear()
    if error is None:
        assert auth.authenticate_user("username", identifier, password)["user_id"] == identifier
    else:
        with pytest.raises(LuciaError) as caught:
            auth.authenticate_user("username", identifier, password)
        assert caught.value.code == error
    assert len(scrypt_calls) == 1


def test_legacy_two_part_hash_costs_one_scrypt(scrypt_calls: list[int], tmp_path: Path) -> None:
    path = tmp_path / "lucia.sqlite"
    shutil.copyfile(FIXTURE_DB, path)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE user SET hashed_password = 'saltsaltsaltsalt:00' WHERE id = 'user-bob'")
    auth = lucia(adapter=SQLiteAdapter(path), env="DEV", clock=Clock(T0))
    scrypt_calls.clear()
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "bob", "correct horse battery staple")
    assert len(scrypt_calls) == 1
