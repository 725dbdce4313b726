"""What the tests of throttles, tokens and codes share: a store of each kind, a clock, counters.

``open_world(kind, tmp_path)`` gives a fresh store (memory, SQLite, PostgreSQL,
or PostgreSQL users with Redis sessions, where throttles, tokens and codes
then live), a clock starting at real time that only moves forward (Redis
expires keys by its own clock), a counting hash and a dump of everything the
store holds.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql
from services import postgres_schema, redis_prefix

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter, PostgresAdapter, RedisSessionAdapter, SQLiteAdapter

SECOND, MINUTE, HOUR = 1_000, 60_000, 3_600_000
MANY = {"capacity": 1_000, "refill_every": SECOND}  # an issue limit that never gets in the way


class Clock:
    """Unix ms, starting at real time, moved only forward by the test."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        assert ms >= 0, "the clock only moves forward (Redis expires keys by real time)"
        self.now += ms


@dataclass
class CountingHash:
    """A cheap ``(generate, validate)`` pair counting its calls: what scrypt would cost."""

    generated: int = 0
    validated: int = 0

    def generate(self, password: str) -> str:
        self.generated += 1
        return "sha256:" + hashlib.sha256(password.encode()).hexdigest()

    def validate(self, password: str, hashed: str) -> bool:
        self.validated += 1
        return hashed == "sha256:" + hashlib.sha256(password.encode()).hexdigest()


@dataclass
class World:
    """A fresh store of one kind, its clock and hash counter, and a way to read all it holds."""

    users: Any
    sessions: Any
    dump: Callable[[], str]
    #: How another process opens the same store (``onetime_workers.open_store``); None: it cannot.
    spec: tuple[str, ...] | None = None
    clock: Clock = field(default_factory=Clock)
    hashing: CountingHash = field(default_factory=CountingHash)

    def auth(self, wrap: Callable[[Any], Any] | None = None, **options: Any) -> Auth:
        """``lucia()`` on this store; ``wrap`` wraps the store holding throttles, tokens and codes."""
        wrap = wrap or (lambda store: store)
        adapter: Any = (wrap(self.users) if self.users is self.sessions
                        else {"user": self.users, "session": wrap(self.sessions)})
        options.setdefault("hash", (self.hashing.generate, self.hashing.validate))
        return lucia(adapter=adapter, env="DEV", clock=self.clock, **options)


def _memory_dump(store: MemoryAdapter) -> str:
    return repr(vars(store))


def _sqlite_dump(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return "\n".join(conn.iterdump())


def _postgres_dump(dsn: str, schema: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))]
        return "\n".join(repr(conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table)))
                              .fetchall()) for table in tables)


def _redis_dump(url: str, prefix: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        found = []
        for key in client.scan_iter(match=prefix + "*", count=1000):
            kind = client.type(key)
            value = (client.get(key) if kind == b"string" else client.smembers(key) if kind == b"set"
                     else client.zrange(key, 0, -1))
            found.append(f"{key!r} {value!r}")
        return "\n".join(found)
    finally:
        client.close()


@contextmanager
def open_world(kind: str, tmp_path: Path) -> Iterator[World]:
    if kind == "memory":
        store = MemoryAdapter()
        yield World(store, store, lambda: _memory_dump(store))
        return
    if kind == "sqlite":
        path = tmp_path / "auth.db"
        sqlite = SQLiteAdapter(path)
        sqlite.create_tables()
        try:
            yield World(sqlite, sqlite, lambda: _sqlite_dump(path), ("sqlite", str(path)))
        finally:
            sqlite.close()
        return
    with postgres_schema() as (dsn, schema):
        pg = PostgresAdapter(dsn, schema=schema, max_size=8)
        pg.create_tables()
        try:
            if kind == "postgresql":
                yield World(pg, pg, lambda: _postgres_dump(dsn, schema), ("postgresql", dsn, schema))
                return
            with redis_prefix() as (url, prefix):
                sessions = RedisSessionAdapter(url, prefix=prefix)
                try:
                    yield World(pg, sessions, lambda: _postgres_dump(dsn, schema) + _redis_dump(url, prefix))
                finally:
                    sessions.close()
        finally:
            pg.close()


STORES = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.services),
    pytest.param("postgresql+redis", id="postgresql-users+redis", marks=pytest.mark.services),
]


def attempt(auth: Auth, identifier: str, password: str) -> object:
    """One log-in: ``"ok"``, the error code, or ``(code, retry_after)`` when throttled."""
    try:
        auth.authenticate_user("username", identifier, password)
    except LuciaError as error:
        return error.code if error.retry_after is None else (error.code, error.retry_after)
    return "ok"


def outcome(call: Callable[[], Any]) -> object:
    """What a call gave: its result, or its error code (with retry_after when throttled)."""
    try:
        return call()
    except LuciaError as error:
        return error.code if error.retry_after is None else (error.code, error.retry_after)


THROTTLED_60 = ("AUTH_TOO_MANY_ATTEMPTS", 60)
