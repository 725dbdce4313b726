"""PostgreSQL and Redis rows: lucia_wsgi's adapters next to a raw driver lookup floor.

Both stores get ``n`` users/sessions laid out as in :mod:`bench.dbs`
(PostgreSQL in schema ``lucia_bench`` of ``$LUCIA_BENCH_POSTGRES``, Redis
under the key prefix ``lucia_bench:`` of ``$LUCIA_BENCH_REDIS``), kept
between runs and rebuilt when the size differs.

* PostgreSQL: ``validate_user()`` (one JOIN through the adapter's pool) vs a
  floor of a ``str.split`` cookie scan + the adapter's JOIN query over a plain
  psycopg connection (one per thread; psycopg prepares it after 5 uses).
* Redis (sessions only): ``validate()`` with the view reading
  ``session.user_id`` vs a floor of a ``str.split`` cookie scan + one redis-py
  ``GET`` of the session key + ``json.loads``. The user store (SQLite) is not
  on either path.

Each row runs with both headers of :mod:`bench.headers`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lucia_wsgi.adapters.sqlite import SQLiteAdapter

from . import dbs
from .apps import COOKIE_NAME, make_auth, make_lucia_app, respond, split_cookie
from .cases import expect_body, per_header, signed_in, skipped
from .harness import Case, Environ, Skip

__all__ = ["postgres_cases", "redis_cases", "POSTGRES_URL", "REDIS_URL"]

POSTGRES_URL = os.environ.get("LUCIA_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LUCIA_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SCHEMA = "lucia_bench"
PREFIX = "lucia_bench:"
_DAY_MS = 86_400_000
App = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


def _skip(floor_key: str, floor_label: str, key: str, label: str, reason: str, kind: str) -> list[Case | Skip]:
    return [*skipped(floor_key, floor_label, reason, kind, floor_key), *skipped(key, label, reason, kind, floor_key)]


def _rows(n: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    users = [(dbs.user_id(i), f"username:user{i}", None, f"user{i}") for i in range(n)]
    sessions = [(dbs.session_id(i), dbs.user_id(i), dbs.FAR_FUTURE_MS, dbs.FAR_FUTURE_MS + 14 * _DAY_MS)
                for i in range(n)]
    return users, sessions


def _fill_postgres(psycopg: Any, n: int) -> None:
    with psycopg.connect(POSTGRES_URL) as conn:  # one transaction, under a lock: concurrent runs wait
        conn.execute("SELECT pg_advisory_xact_lock(1819632481)")
        count = conn.execute(f'SELECT count(*) FROM {SCHEMA}."session"').fetchone()[0]
        if count == n:
            return
        conn.execute(f'TRUNCATE {SCHEMA}."session", {SCHEMA}."user"')
        users, sessions = _rows(n)
        with conn.cursor().copy(f'COPY {SCHEMA}."user" (id, provider_id, hashed_password, username) FROM STDIN') as cp:
            for row in users:
                cp.write_row(row)
        with conn.cursor().copy(f'COPY {SCHEMA}."session" (id, user_id, expires, idle_expires) FROM STDIN') as cp:
            for row in sessions:
                cp.write_row(row)
        conn.execute(f'ANALYZE {SCHEMA}."user"')
        conn.execute(f'ANALYZE {SCHEMA}."session"')


def _postgres_floor(psycopg: Any) -> App:
    local = threading.local()
    query = (f'SELECT s.id, s.user_id, s.expires, s.idle_expires, u.* FROM {SCHEMA}."session" AS s '
             f'JOIN {SCHEMA}."user" AS u ON u.id = s.user_id WHERE s.id = %s')

    def floor_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(POSTGRES_URL, autocommit=True)
        session_id = split_cookie(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(query, (session_id,)).fetchone() if session_id else None
        return respond(start_response, "anonymous" if row is None else row[1])

    return floor_app


def postgres_cases(n: int) -> list[Case | Skip]:
    """The psycopg floor and lucia_wsgi on ``PostgresAdapter`` (``n`` sessions)."""
    floor_key, key = "floor.postgres", "lucia.postgres"
    floor_label, label = "floor: str.split + psycopg session JOIN user", f"lucia validate_user, PostgreSQL ({n:,})"
    try:
        import psycopg

        from lucia_wsgi.adapters.postgres import PostgresAdapter
    except ImportError as error:
        return _skip(floor_key, floor_label, key, label, f"cannot import {error.name}", "module")
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL is down at {POSTGRES_URL}: {str(error).strip()[:80]}"
        return _skip(floor_key, floor_label, key, label, reason, "service")
    adapter = PostgresAdapter(POSTGRES_URL, schema=SCHEMA, max_size=4)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    _fill_postgres(psycopg, n)
    i = n // 2
    me, check = signed_in(COOKIE_NAME, dbs.session_id(i)), expect_body(dbs.user_id(i))
    return [
        *per_header(floor_key, floor_label, _postgres_floor(psycopg), me, check, floor_key),
        *per_header(key, label, make_lucia_app(make_auth(adapter)), me, check, floor_key,
                    note="PostgresAdapter, pool of up to 4 connections"),
    ]


def _fill_redis(client: Any, n: int) -> None:
    marker = PREFIX + "bench-size"
    if client.get(marker) == str(n).encode():
        return
    client.delete(marker)
    _, sessions = _rows(n)
    pipe = client.pipeline(transaction=False)
    for number, (sid, uid, expires, idle_expires) in enumerate(sessions, start=1):
        value = json.dumps({"id": sid, "user_id": uid, "expires": expires, "idle_expires": idle_expires},
                           separators=(",", ":"))
        pipe.set(f"{PREFIX}session:{sid}", value, pxat=idle_expires)
        pipe.zadd(f"{PREFIX}user_sessions:{uid}", {sid: idle_expires})
        if number % 5_000 == 0:
            pipe.execute()
    pipe.set(marker, str(n))
    pipe.execute()


def _redis_floor(client: Any) -> App:
    def floor_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        session_id = split_cookie(environ.get("HTTP_COOKIE", ""))
        value = client.get(PREFIX + "session:" + session_id) if session_id else None
        return respond(start_response, "anonymous" if value is None else json.loads(value)["user_id"])

    return floor_app


def _session_view(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    session = environ["lucia.auth"].validate()
    return respond(start_response, "anonymous" if session is None else session.user_id)


def redis_cases(n: int, user_db: Path) -> list[Case | Skip]:
    """The redis-py floor and lucia_wsgi on ``RedisSessionAdapter`` (``n`` sessions)."""
    floor_key, key = "floor.redis", "lucia.redis"
    floor_label, label = "floor: str.split + redis-py GET", f"lucia validate, Redis sessions ({n:,})"
    try:
        import redis

        from lucia_wsgi.adapters.redis import RedisSessionAdapter
    except ImportError as error:
        return _skip(floor_key, floor_label, key, label, f"cannot import {error.name}", "module")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.ConnectionError as error:
        reason = f"Redis is down at {REDIS_URL}: {error}"
        return _skip(floor_key, floor_label, key, label, reason, "service")
    _fill_redis(client, n)
    sessions = RedisSessionAdapter(client=redis.Redis.from_url(REDIS_URL), prefix=PREFIX)
    auth = make_auth({"user": SQLiteAdapter(user_db), "session": sessions})
    i = n // 2
    me, check = signed_in(COOKIE_NAME, dbs.session_id(i)), expect_body(dbs.user_id(i))
    return [
        *per_header(floor_key, floor_label, _redis_floor(client), me, check, floor_key),
        *per_header(key, label, make_lucia_app(auth, _session_view), me, check, floor_key,
                    note="RedisSessionAdapter; the view reads session.user_id"),
    ]
