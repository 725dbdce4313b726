"""PostgreSQL and Redis for tests: reachability, and isolated schemas / key prefixes.

``LUCIA_TEST_POSTGRES_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``)
and ``LUCIA_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) name the
servers. An unreachable server skips the test with the reason, or fails it
under ``LUCIA_REQUIRE_SERVICES=1``. Every test gets its own schema or key
prefix and leaves nothing behind.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis
from conftest import service_unavailable
from psycopg import sql

POSTGRES_DSN = os.environ.get("LUCIA_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LUCIA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@functools.cache
def _postgres_problem() -> str | None:
    try:
        psycopg.connect(POSTGRES_DSN, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        return " ".join(str(error).split())
    return None


@functools.cache
def _redis_problem() -> str | None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        return str(error)
    finally:
        client.close()
    return None


def postgres_dsn() -> str:
    """The test PostgreSQL DSN; skips (or fails in CI) when it is unreachable."""
    problem = _postgres_problem()
    if problem is not None:
        service_unavailable(f"PostgreSQL unreachable at {POSTGRES_DSN}: {problem}")
    return POSTGRES_DSN


def redis_url() -> str:
    """The test Redis URL; skips (or fails in CI) when it is unreachable."""
    problem = _redis_problem()
    if problem is not None:
        service_unavailable(f"Redis unreachable at {REDIS_URL}: {problem}")
    return REDIS_URL


def unique_name(stem: str) -> str:
    return f"{stem}_{secrets.token_hex(6)}"


@contextmanager
def postgres_schema() -> Iterator[tuple[str, str]]:
    """``(dsn, schema)`` for a fresh schema name, dropped (with its tables) afterwards."""
    dsn = postgres_dsn()
    schema = unique_name("lucia_test")
    try:
        yield dsn, schema
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def redis_prefix() -> Iterator[tuple[str, str]]:
    """``(url, prefix)`` for a fresh key prefix; every key under it is deleted afterwards."""
    url = redis_url()
    prefix = unique_name("lucia_test") + ":"
    try:
        yield url, prefix
    finally:
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=prefix + "*", count=10_000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
