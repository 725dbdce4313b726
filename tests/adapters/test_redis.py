"""RedisSessionAdapter: absolute key expiry, the per-user index, atomic writes, purge."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from services import postgres_schema, redis_prefix

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.adapters import PostgresAdapter, RedisSessionAdapter, SQLiteAdapter
from lucia_wsgi.adapters.base import CodeRow, TokenRow
from lucia_wsgi.adapters.redis_accounts import EXPIRED_RETENTION
from lucia_wsgi.session import SUPERSEDED_RETENTION, SessionRow

from .contract import ACCOUNT_METHODS, AdapterContract

HOUR = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
pytestmark = pytest.mark.services


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def prefix() -> Iterator[tuple[str, str]]:
    with redis_prefix() as found:
        yield found


@pytest.fixture
def store(prefix: tuple[str, str]) -> Iterator[RedisSessionAdapter]:
    url, key_prefix = prefix
    adapter = RedisSessionAdapter(url, prefix=key_prefix)
    yield adapter
    adapter.close()


def live(sid: str, user_id: str = "u1", *, expires_in: int = HOUR, idle_in: int = 2 * HOUR) -> SessionRow:
    now = now_ms()
    return SessionRow(sid * 40, user_id, now + expires_in, now + idle_in)


def dead(sid: str, user_id: str = "u1") -> SessionRow:
    """A session that died a minute ago (its key expires on arrival)."""
    now = now_ms()
    return SessionRow(sid * 40, user_id, now - 2 * 60_000, now - 60_000)


# expiry


def test_a_session_key_expires_exactly_at_idle_expires(store: RedisSessionAdapter) -> None:
    row = live("a", idle_in=14 * 24 * HOUR)
    store.set_session(row)
    assert store.client.pexpiretime(store.session_key(row.id)) == row.idle_expires


def test_a_renewed_key_outlives_its_idle_expiry_by_the_retention(store: RedisSessionAdapter) -> None:
    old, new = live("o"), live("n", idle_in=3 * HOUR)
    store.set_session(old)
    assert store.renew_session(old, new.id, new, None) is True
    assert store.client.pexpiretime(store.session_key(old.id)) == old.idle_expires + SUPERSEDED_RETENTION
    assert store.client.pexpiretime(store.session_key(new.id)) == new.idle_expires
    assert store.get_session(old.id) == old._replace(successor=new.id)
    confirmed_until = now_ms() + 5_000
    store.confirm_session(new.id, old.id, confirmed_until)
    assert store.client.pexpiretime(store.session_key(old.id)) == confirmed_until + SUPERSEDED_RETENTION
    assert store.client.zscore(store.index_key("u1"), old.id) == confirmed_until + SUPERSEDED_RETENTION


def test_the_user_index_expires_with_its_longest_session(store: RedisSessionAdapter) -> None:
    short, long = live("s", idle_in=HOUR), live("l", idle_in=5 * HOUR)
    store.set_session(long)
    store.set_session(short)
    assert store.client.pexpiretime(store.index_key("u1")) == long.idle_expires


def test_an_expired_session_disappears_from_the_users_sessions(store: RedisSessionAdapter) -> None:
    keeper, brief = live("k"), live("b", expires_in=300, idle_in=600)
    store.set_session(keeper)
    store.set_session(brief)
    assert sorted(store.get_sessions_by_user_id("u1")) == sorted([keeper, brief])
    time.sleep(max(0, brief.idle_expires + 20 - now_ms()) / 1000)
    assert store.get_session(brief.id) is None
    assert store.get_sessions_by_user_id("u1") == [keeper]
    assert store.client.zrange(store.index_key("u1"), 0, -1) == [keeper.id.encode()]


def test_a_session_already_dead_is_never_stored(store: RedisSessionAdapter) -> None:
    store.set_session(dead("d"))
    assert store.get_session("d" * 40) is None
    assert store.get_sessions_by_user_id("u1") == []


def test_a_throttle_key_expires_when_its_bucket_is_full_again(store: RedisSessionAdapter) -> None:
    tat = now_ms() + 10 * 60_000
    assert store.set_throttle("login:k", None, tat) is True
    assert store.client.pexpiretime(store._throttle_prefix + "login:k") == tat
    assert store.set_throttle("login:k", tat, tat + 60_000) is True
    assert store.client.pexpiretime(store._throttle_prefix + "login:k") == tat + 60_000


def test_tokens_and_codes_outlive_their_expiry_by_a_day_so_using_them_says_expired(
    store: RedisSessionAdapter,
) -> None:
    expires = now_ms() + HOUR
    token, code = TokenRow("t" * 64, "reset", "u1", expires), CodeRow("sign-in", "u1", "d" * 64, expires)
    store.set_token(token)
    store.set_code(code)
    assert EXPIRED_RETENTION == 24 * HOUR
    assert store.client.pexpiretime(store._token_prefix + token.id) == expires + EXPIRED_RETENTION
    assert store.client.pexpiretime(store._code_key("sign-in", "u1")) == expires + EXPIRED_RETENTION
    for index in (store._tokens_prefix + "u1", store._codes_prefix + "u1"):
        assert store.client.pexpiretime(index) == expires + EXPIRED_RETENTION  # the index lives as long
    assert store.count_code_attempt(code) is True  # counting keeps the key's expiry
    assert store.client.pexpiretime(store._code_key("sign-in", "u1")) == expires + EXPIRED_RETENTION


def test_used_and_deleted_tokens_and_codes_leave_the_users_indexes(store: RedisSessionAdapter) -> None:
    expires = now_ms() + HOUR
    for char in "ab":
        store.set_token(TokenRow(char * 64, "reset", "u1", expires))
    store.set_code(CodeRow("sign-in", "u1", "d" * 64, expires))
    store.pop_token("a" * 64)
    assert store.client.smembers(store._tokens_prefix + "u1") == {b"b" * 64}
    assert store.delete_code(CodeRow("sign-in", "u1", "d" * 64, expires)) is True
    store.delete_tokens("u1")
    remaining = list(store.client.scan_iter(match=store.prefix + "*", count=1000))
    assert remaining == []


# reads and writes


def test_session_values_are_readable_json_without_nulls(store: RedisSessionAdapter) -> None:
    row = live("a")
    store.set_session(row)
    stored = store.client.get(store.session_key(row.id))
    assert json.loads(stored) == {"id": row.id, "user_id": "u1", "expires": row.expires,  # type: ignore[arg-type]
                                  "idle_expires": row.idle_expires}
    full = live("b")._replace(successor="s" * 40, user_agent="Mozilla ✓")
    store.set_session(full)
    stored = store.client.get(store.session_key(full.id))
    assert json.loads(stored)["user_agent"] == "Mozilla ✓"  # type: ignore[arg-type]


def test_records_of_the_earlier_four_field_format_still_renew(store: RedisSessionAdapter) -> None:
    old = live("o")
    store.client.set(store.session_key(old.id), json.dumps(old[:4] and {
        "id": old.id, "user_id": old.user_id, "expires": old.expires, "idle_expires": old.idle_expires}))
    assert store.get_session(old.id) == old
    new = live("n")
    assert store.renew_session(old, new.id, new, None) is True
    assert store.get_session(old.id) == old._replace(successor=new.id)


def test_a_duplicate_session_id_is_refused_and_the_first_kept(store: RedisSessionAdapter) -> None:
    first = live("a", "u1")
    store.set_session(first)
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_SESSION_ID"):
        store.set_session(live("a", "u2"))
    assert store.get_session(first.id) == first
    assert store.get_sessions_by_user_id("u2") == []


def test_a_repeated_write_after_a_dropped_reply_is_not_an_error(store: RedisSessionAdapter) -> None:
    # redis-py sends a command again when its connection drops; the first may have run.
    old, new = live("o"), live("n")
    store.set_session(old)
    store.set_session(old)  # the same row again: done already, not a duplicate
    assert store.renew_session(old, new.id, new, None) is True
    assert store.renew_session(old, new.id, new, None) is True  # the repeat finds its own work
    assert store.renew_session(old, "x" * 40, live("x"), None) is False  # a rival is refused
    assert sorted(row.id[0] for row in store.get_sessions_by_user_id("u1")) == ["n", "o"]


def test_delete_session_also_leaves_the_index(store: RedisSessionAdapter) -> None:
    first, second, other = live("a"), live("b"), live("c", "u2")
    for row in (first, second, other):
        store.set_session(row)
    store.delete_session(first.id, other.id, "z" * 40)
    assert store.get_sessions_by_user_id("u1") == [second]
    assert store.client.zcard(store.index_key("u1")) == 1
    assert store.client.exists(store.index_key("u2")) == 0


def test_delete_sessions_by_user_id_removes_every_key_of_that_user(store: RedisSessionAdapter) -> None:
    for row in (live("a"), live("b"), live("c", "u2")):
        store.set_session(row)
    store.delete_sessions_by_user_id("u1")
    remaining = sorted(key.decode() for key in store.client.scan_iter(match=store.prefix + "*", count=1000))
    assert remaining == sorted([store.session_key("c" * 40), store.index_key("u2")])


def test_prefixes_keep_two_stores_apart(store: RedisSessionAdapter, prefix: tuple[str, str]) -> None:
    url, key_prefix = prefix
    neighbour = RedisSessionAdapter(url, prefix=key_prefix + "other:")
    try:
        neighbour.set_session(live("a"))
        assert store.get_session("a" * 40) is None
        assert store.get_sessions_by_user_id("u1") == []
    finally:
        neighbour.close()


def test_needs_exactly_one_of_url_and_client() -> None:
    with pytest.raises(TypeError):
        RedisSessionAdapter()


# maintenance


def test_purge_in_batches_removes_dead_index_entries_and_keeps_live_ones(store: RedisSessionAdapter) -> None:
    alive = [live("a", "u1"), live("b", "u2")]
    for row in alive:
        store.set_session(row)
    # Dead entries in indexes of users who still have a live session: what
    # lingers until a purge, since such an index key does not expire yet.
    for index, user_id in enumerate(["u1", "u1", "u2", "u2", "u2"]):
        store.client.zadd(store.index_key(user_id), {f"{index}" * 40: now_ms() - 60_000})
    now = now_ms()
    assert store.count_dead_sessions(now) == 5
    batches = [store.delete_dead_sessions(now, limit=2) for _ in range(3)]
    assert batches == [2, 2, 1]
    assert store.delete_dead_sessions(now, limit=2) == 0
    assert store.count_dead_sessions(now) == 0
    assert sorted(store.get_sessions_by_user_id("u1") + store.get_sessions_by_user_id("u2")) == sorted(alive)


def test_purge_deletes_sessions_dead_by_the_callers_clock(store: RedisSessionAdapter) -> None:
    soon = live("s", idle_in=HOUR)
    store.set_session(soon)
    assert store.delete_dead_sessions(soon.idle_expires + 1) == 1
    assert store.get_session(soon.id) is None


# paired with a SQL user store


@pytest.fixture
def split_auth(store: RedisSessionAdapter, tmp_path: Path) -> Iterator[Auth]:
    users = SQLiteAdapter(tmp_path / "users.db")
    users.create_tables()
    yield lucia(adapter={"user": users, "session": store}, env="DEV", hash=CHEAP_HASH)
    users.close()


def test_split_stores_refuse_a_session_for_an_unknown_user(split_auth: Auth, store: RedisSessionAdapter) -> None:
    with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
        split_auth.create_session("nobody")
    assert store.get_sessions_by_user_id("nobody") == []


def test_split_stores_sign_in_validate_and_sign_out(split_auth: Auth, store: RedisSessionAdapter) -> None:
    auth = split_auth
    user = auth.create_user("username", "alice", password="pw")
    session = auth.create_session(user["user_id"])
    idle_ms = (session.idle_period_expires - EPOCH) // timedelta(milliseconds=1)
    assert store.client.pexpiretime(store.session_key(session.session_id)) == idle_ms
    assert auth.validate_session_user(session.session_id).user == user
    auth.invalidate_all_user_sessions(user["user_id"])
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(session.session_id)


# the shared contract, with users in PostgreSQL


class SplitStore:
    """Users from a SQL adapter, sessions (and throttles, tokens, codes) from Redis: the pairing
    as the contract sees it, and as ``Auth`` uses it."""

    def __init__(self, users: PostgresAdapter, sessions: RedisSessionAdapter) -> None:
        self.users, self.sessions = users, sessions

    def __getattr__(self, name: str) -> Any:
        owner = self.sessions if "session" in name or name in ACCOUNT_METHODS else self.users
        return getattr(owner, name)

    def close(self) -> None:
        self.users.close()
        self.sessions.close()


class TestRedisWithPostgresUsersContract(AdapterContract):
    stores_users = False
    purges_accounts = False  # Redis expires throttles, tokens and codes itself
    nul_error = psycopg.DataError  # the PostgreSQL user store's limit; Redis keeps NUL

    @pytest.fixture
    def split_names(self, prefix: tuple[str, str]) -> Iterator[tuple[str, str, str, str]]:
        with postgres_schema() as (dsn, schema):
            yield dsn, schema, *prefix

    def open(self, names: tuple[str, str, str, str]) -> SplitStore:
        dsn, schema, url, key_prefix = names
        return SplitStore(PostgresAdapter(dsn, schema=schema), RedisSessionAdapter(url, prefix=key_prefix))

    @pytest.fixture
    def adapter(self, split_names: tuple[str, str, str, str]) -> Iterator[SplitStore]:
        store = self.open(split_names)
        store.users.create_tables(user_attributes={"username": "TEXT"})
        yield store
        store.close()

    @pytest.fixture
    def second_adapter(self, adapter: SplitStore, split_names: tuple[str, str, str, str]) -> Iterator[SplitStore]:
        store = self.open(split_names)
        yield store
        store.close()


def test_redis_expires_keys_by_its_own_clock_not_an_injected_one(store: RedisSessionAdapter, tmp_path: Path) -> None:
    """The documented limit: an injected clock far behind real time makes sessions vanish at once."""
    users = SQLiteAdapter(tmp_path / "users.db")
    users.create_tables()
    try:
        month_ago = now_ms() - 30 * 24 * HOUR
        behind = lucia(adapter={"user": users, "session": store}, env="DEV", hash=CHEAP_HASH,
                       clock=lambda: month_ago)
        user = behind.create_user("username", "alice", password="pw")
        session = behind.create_session(user["user_id"])  # idle_expires 16 days ago, by the server's clock
        assert store.get_session(session.session_id) is None
        with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
            behind.validate_session(session.session_id)
        real = lucia(adapter={"user": users, "session": store}, env="DEV", hash=CHEAP_HASH)
        kept = real.create_session(user["user_id"])
        assert real.validate_session(kept.session_id).session_id == kept.session_id
    finally:
        users.close()
