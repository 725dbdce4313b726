"""PostgreSQL and Redis rows: lucia_wsgi's adapters next to a raw driver lookup floor.

Both stores get ``n`` users/sessions laid out as in :mod:`bench.dbs`
(PostgreSQL in schema ``lucia_bench_v<layout>`` of ``$LUCIA_BENCH_POSTGRES``,
Redis under the key prefix ``lucia_bench_v<layout>:`` of
``$LUCIA_BENCH_REDIS``, ``<layout>`` being :data:`bench.dbs.SCHEMA_VERSION`,
so checkouts with other layouts never fill each other's), kept between runs
and made again when the size differs.

* PostgreSQL: ``validate_user()`` (one JOIN through the adapter's pool) vs a
  floor of a ``str.split`` cookie scan + the adapter's JOIN query
  (:func:`postgres_query`, all ten session columns; a test checks it is the
  adapter's) over a plain psycopg connection (one per thread, prepared as the
  adapter prepares it) + the idle-expiry check.
* Redis (sessions only): ``validate()`` with the view reading
  ``session.user_id`` vs a floor of a ``str.split`` cookie scan + one redis-py
  ``GET`` of the session key + ``json.loads`` + the idle-expiry check. The
  user store (SQLite) is not on either path.

Both floors answer with ``Vary: Cookie``, as the SQLite floor does. The fills
carry :data:`bench.dbs.SCHEMA_VERSION` in their markers, so a fill made for
an older row layout is made again.

Each row runs with both headers of :mod:`bench.headers`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from lucia_wsgi.adapters.base import SESSION_COLUMNS
from lucia_wsgi.adapters.sqlite import SQLiteAdapter
from lucia_wsgi.adapters.sqlite_threads import CloseWithThread
from lucia_wsgi.session import SessionRow

from . import dbs
from .apps import COOKIE_NAME, make_auth, make_lucia_app, respond, split_cookie
from .cases import expect_body, per_header, signed_in, skipped
from .floors import COLUMNS, VARY, now_ms
from .harness import Case, Environ, Skip

__all__ = ["postgres_cases", "postgres_floor", "postgres_query", "redis_cases", "POSTGRES_URL", "REDIS_URL"]

POSTGRES_URL = os.environ.get("LUCIA_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LUCIA_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SCHEMA = f"lucia_bench_v{dbs.SCHEMA_VERSION}"
PREFIX = f"lucia_bench_v{dbs.SCHEMA_VERSION}:"
App = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


def _skip(floor_key: str, floor_label: str, key: str, label: str, reason: str, kind: str) -> list[Case | Skip]:
    return [*skipped(floor_key, floor_label, reason, kind, floor_key), *skipped(key, label, reason, kind, floor_key)]


def _marker(n: int) -> str:
    return f"lucia_wsgi bench fill, layout v{dbs.SCHEMA_VERSION}, {n} sessions"


def _fill_postgres(psycopg: Any, n: int) -> None:
    session, user = f'"{SCHEMA}"."session"', f'"{SCHEMA}"."user"'
    with psycopg.connect(POSTGRES_URL) as conn:  # one transaction, under a lock: concurrent runs wait
        conn.execute("SELECT pg_advisory_xact_lock(1819632481)")
        marker = conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (session,)).fetchone()[0]
        if marker == _marker(n):
            return
        conn.execute(f"TRUNCATE {session}, {user} CASCADE")  # and any table a lucia_wsgi adds that names users
        with conn.cursor().copy(f"COPY {user} (id, provider_id, hashed_password, username) FROM STDIN") as cp:
            for row in dbs.user_rows(n):
                cp.write_row(row)
        with conn.cursor().copy(f"COPY {session} ({', '.join(SESSION_COLUMNS)}) FROM STDIN") as cp:
            for row in dbs.session_rows(n):
                cp.write_row(row)
        conn.execute(f"ANALYZE {user}")
        conn.execute(f"ANALYZE {session}")
        conn.execute(f"COMMENT ON TABLE {session} IS '{_marker(n)}'")


def postgres_query(schema: str) -> str:
    """What ``PostgresAdapter.get_session_and_user_by_session_id`` runs in ``schema`` (a test checks it)."""
    columns = ", ".join(f"s.{name}" for name in COLUMNS)
    return (f'SELECT {columns}, u.* FROM "{schema}"."session" AS s JOIN "{schema}"."user" AS u '
            "ON u.id = s.user_id WHERE s.id = %s")


def postgres_floor(psycopg: Any, url: str = POSTGRES_URL, schema: str = SCHEMA) -> App:
    """The PostgreSQL floor app on the tables in ``schema`` of ``url``."""
    local = threading.local()
    query = postgres_query(schema)

    def floor_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(url, autocommit=True)
            local.closer = CloseWithThread(conn)
        session_id = split_cookie(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(query, (session_id,), prepare=True).fetchone() if session_id else None
        if row is None or row[3] < now_ms():
            return respond(start_response, "anonymous", VARY)
        return respond(start_response, row[1], VARY)

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
        *per_header(floor_key, floor_label, postgres_floor(psycopg), me, check, floor_key),
        *per_header(key, label, make_lucia_app(make_auth(adapter)), me, check, floor_key,
                    note="PostgresAdapter, pool of up to 4 connections"),
    ]


def _fill_redis(client: Any, n: int) -> None:
    """The sessions as ``RedisSessionAdapter`` stores them (its record format, key expiry and user index)."""
    from lucia_wsgi.adapters.redis_store import encode

    marker = PREFIX + "bench-size"
    if client.get(marker) == _marker(n).encode():
        return
    client.delete(marker)
    pipe = client.pipeline(transaction=False)
    for number, values in enumerate(dbs.session_rows(n), start=1):
        row = SessionRow(*values)
        pipe.set(f"{PREFIX}session:{row.id}", encode(row), pxat=row.idle_expires)
        pipe.zadd(f"{PREFIX}user_sessions:{row.user_id}", {row.id: row.idle_expires})
        if number % 5_000 == 0:
            pipe.execute()
    pipe.set(marker, _marker(n))
    pipe.execute()


def _redis_floor(client: Any) -> App:
    def floor_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        session_id = split_cookie(environ.get("HTTP_COOKIE", ""))
        value = client.get(PREFIX + "session:" + session_id) if session_id else None
        row = None if value is None else json.loads(value)
        if row is None or row["idle_expires"] < now_ms():
            return respond(start_response, "anonymous", VARY)
        return respond(start_response, row["user_id"], VARY)

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
