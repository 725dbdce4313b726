"""The hardening options: bounded hashing, hashed session ids, bcrypt migration; session fixation."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter, SQLiteAdapter
from lucia_wsgi.config import DEFAULT_MAX_CONCURRENT_HASHES
from lucia_wsgi.passwords import verify_password
from lucia_wsgi.session import SessionRow, storage_digest

from .support import FAST_HASH, IDLE, T0, Clock, Tally, snapshot

# max_concurrent_hashes: a log-in flood cannot run more scrypts at once than configured.


class SlowHash:
    """A hash pair that takes a while and records how many run at once."""

    def __init__(self, seconds: float = 0.03) -> None:
        self.seconds = seconds
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()

    def _work(self) -> None:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1

    def generate(self, password: str) -> str:
        self._work()
        return FAST_HASH[0](password)

    def validate(self, password: str, hashed: str) -> bool:
        self._work()
        return FAST_HASH[1](password, hashed)


def flood(target: Callable[[int], Any], threads: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def run(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except LuciaError as error:
            errors.append(error)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


@pytest.mark.parametrize("limit", [1, 2, 4])
@pytest.mark.parametrize("operation", ["create_user", "authenticate_user", "authenticate_unknown"])
def test_concurrent_hashing_is_bounded(make_auth: Callable[..., Auth], operation: str, limit: int,
                                       tally: Tally) -> None:
    slow = SlowHash()
    auth = make_auth(MemoryAdapter(), hash=(slow.generate, slow.validate), max_concurrent_hashes=limit)
    store = auth.config.user_adapter
    for i in range(12):
        store.set_user(f"u{i}", {"provider_id": f"username:u{i}", "hashed_password": FAST_HASH[0]("pw")})
    targets: dict[str, Callable[[int], Any]] = {
        "create_user": lambda i: auth.create_user("username", f"new{i}", password="pw"),
        "authenticate_user": lambda i: auth.authenticate_user("username", f"u{i}", "pw"),
        "authenticate_unknown": lambda i: auth.authenticate_user("username", f"ghost{i}", "pw"),
    }
    errors = flood(targets[operation], 12)
    tally.add("concurrent", 12)
    assert slow.peak == limit
    assert all(e.code == "AUTH_INVALID_PROVIDER_ID" for e in errors)
    assert len(errors) == (12 if operation == "authenticate_unknown" else 0)


def test_default_hash_bound_is_small() -> None:
    assert DEFAULT_MAX_CONCURRENT_HASHES == 4  # 4 x ~32 MiB of scrypt memory at most


@pytest.mark.parametrize("bad", [0, -1, 1.5, "4", None])
def test_hash_bound_must_be_a_positive_int(make_auth: Callable[..., Auth], bad: Any) -> None:
    with pytest.raises(ValueError, match="max_concurrent_hashes"):
        make_auth(MemoryAdapter(), max_concurrent_hashes=bad)


# hash_session_ids: a leaked session table holds no usable cookie.


def sha256(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


@pytest.fixture
def hashed_auth(store: Any, make_auth: Callable[..., Auth]) -> Auth:
    auth = make_auth(store, hash_session_ids=True)
    auth.create_user("username", "alice", password="pw")
    return auth


def stored_ids(auth: Auth) -> set[str]:
    return {row[0] for row in snapshot(auth.config.session_adapter)[1]}


def test_hashed_store_holds_digests_not_ids(hashed_auth: Auth) -> None:
    user_id = hashed_auth.get_user_by_provider_id("username", "alice")["user_id"]
    session = hashed_auth.create_session(user_id)
    assert stored_ids(hashed_auth) == {sha256(session.session_id)}
    assert session.session_id not in str(snapshot(hashed_auth.config.session_adapter))
    assert hashed_auth.validate_session(session.session_id).session_id == session.session_id
    assert hashed_auth.get_session(session.session_id).session_id == session.session_id
    pair = hashed_auth.validate_session_user(session.session_id)
    assert pair.session is not None and pair.session.session_id == session.session_id
    assert pair.user["user_id"] == user_id


def test_leaked_digest_is_not_a_cookie(hashed_auth: Auth, tally: Tally) -> None:
    tally.add("attacks", 2)
    user_id = hashed_auth.get_user_by_provider_id("username", "alice")["user_id"]
    session = hashed_auth.create_session(user_id)
    (digest,) = stored_ids(hashed_auth)
    for stolen in (digest, digest[:40]):
        with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
            hashed_auth.validate_session(stolen)
    assert hashed_auth.validate_session(session.session_id).session_id == session.session_id


def test_hashed_ids_renew_and_invalidate(hashed_auth: Auth, clock: Clock) -> None:
    user_id = hashed_auth.get_user_by_provider_id("username", "alice")["user_id"]
    old = hashed_auth.create_session(user_id)
    clock.now = IDLE
    new = hashed_auth.validate_session(old.session_id)
    assert new.is_fresh and new.session_id != old.session_id
    assert sha256(new.session_id) in stored_ids(hashed_auth)
    assert hashed_auth.validate_session(old.session_id).user_id == user_id  # grace window
    hashed_auth.invalidate_session(new.session_id)
    assert sha256(new.session_id) not in stored_ids(hashed_auth)
    with pytest.raises(LuciaError):
        hashed_auth.validate_session(new.session_id)


def test_a_store_written_with_hashed_ids_gives_nothing_to_an_auth_without(make_auth: Callable[..., Auth]) -> None:
    store = MemoryAdapter()
    store.set_user("alice", {"provider_id": "username:alice"})
    session = make_auth(store, hash_session_ids=True).create_session("alice")
    with pytest.raises(LuciaError):
        make_auth(store).validate_session(session.session_id)
    digest = next(iter(store._sessions))
    with pytest.raises(LuciaError):  # the digest is no session id either
        make_auth(store).validate_session(digest)


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_switching_hash_session_ids_on_signs_nobody_out(make_auth: Callable[..., Auth], store_kind: str,
                                                         tmp_path: Path) -> None:
    store: Any = MemoryAdapter() if store_kind == "memory" else SQLiteAdapter(tmp_path / "auth.db")
    if store_kind == "sqlite":
        store.create_tables()
    store.set_user("alice", {"provider_id": "username:alice"})
    session = make_auth(store).create_session("alice")  # stored under its plain id
    hashed = make_auth(store, hash_session_ids=True)
    assert hashed.validate_session(session.session_id).session_id == session.session_id
    rows = store.get_sessions_by_user_id("alice")
    assert [row.id for row in rows] == [storage_digest(session.session_id)]  # moved to its digest on first use
    assert hashed.validate_session(session.session_id).user_id == "alice"
    hashed.invalidate_session(session.session_id)
    assert store.get_sessions_by_user_id("alice") == []


# bcrypt_migration: $2a/$2b hashes verify once and become s2 hashes.


@pytest.fixture
def bcrypt_store() -> MemoryAdapter:
    store = MemoryAdapter()
    hashed = bcrypt.hashpw(b"old-password", bcrypt.gensalt(rounds=4)).decode("ascii")
    store.set_user("alice", {"provider_id": "username:alice", "hashed_password": hashed.replace("$2b$", "$2a$", 1)})
    return store


def test_bcrypt_hash_is_outdated_without_migration(bcrypt_store: MemoryAdapter, make_auth: Callable[..., Auth]) -> None:
    auth = make_auth(bcrypt_store)
    before = snapshot(bcrypt_store)
    with pytest.raises(LuciaError, match="AUTH_OUTDATED_PASSWORD"):
        auth.authenticate_user("username", "alice", "old-password")
    assert snapshot(bcrypt_store) == before


def test_bcrypt_hash_is_migrated_to_s2_on_log_in(bcrypt_store: MemoryAdapter) -> None:
    auth = lucia(adapter=bcrypt_store, env="DEV", clock=Clock(T0), bcrypt_migration=True)  # real scrypt
    assert auth.authenticate_user("username", "alice", "old-password")["user_id"] == "alice"
    migrated = bcrypt_store.get_user("alice")["hashed_password"]
    assert migrated.startswith("s2:")
    assert verify_password("old-password", migrated)
    assert auth.authenticate_user("username", "alice", "old-password")["user_id"] == "alice"


def test_wrong_password_leaves_bcrypt_hash_alone(bcrypt_store: MemoryAdapter, make_auth: Callable[..., Auth],
                                                 tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(bcrypt_store, bcrypt_migration=True)
    before = snapshot(bcrypt_store)
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("username", "alice", "guess")
    assert snapshot(bcrypt_store) == before


# Session fixation: a session id planted before log-in never becomes the session after it.


@pytest.mark.parametrize("planted", [
    pytest.param("attacker-made", id="unknown-well-formed-id"),
    pytest.param("attacker-own", id="attackers-own-live-session"),
])
def test_planted_session_is_not_the_session_after_log_in(store: Any, make_auth: Callable[..., Auth], planted: str,
                                                         tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(store)
    victim = auth.create_user("username", "victim", password="victim-pw")
    attacker = auth.create_user("username", "mallory", password="mallory-pw")
    if planted == "attacker-own":
        planted_id = auth.create_session(attacker["user_id"]).session_id
    else:
        planted_id = "A" * 40
    cookie = auth.validate_request_headers({"REQUEST_METHOD": "GET", "HTTP_COOKIE": f"auth_session={planted_id}"})
    assert cookie == planted_id
    user = auth.authenticate_user("username", "victim", "victim-pw")
    session = auth.create_session(user["user_id"])
    assert session.session_id != planted_id
    assert session.user_id == victim["user_id"]
    if planted == "attacker-own":
        assert auth.validate_session(planted_id).user_id == attacker["user_id"]
    else:
        with pytest.raises(LuciaError):
            auth.validate_session(planted_id)
    rows = [SessionRow(*row) for row in snapshot(store)[1]]
    assert [row.id for row in rows if row.user_id == victim["user_id"]] == [session.session_id]
