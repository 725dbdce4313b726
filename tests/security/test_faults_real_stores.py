"""Real store faults, not simulated: a locked SQLite file, a PostgreSQL lock wait that times out,
PostgreSQL and Redis connections killed by the server. A fault answers a clean 500, changes no
cookie and loses no session, and the next request after it works; a dead pooled connection fails
no request at all.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import webtest
from psycopg import sql
from services import postgres_schema, redis_prefix

from lucia_wsgi import Auth, LuciaMiddleware, lucia
from lucia_wsgi.adapters import PostgresAdapter, RedisSessionAdapter, SQLiteAdapter
from lucia_wsgi.session import SessionRow

from .support import FAST_HASH, IDLE, T0, Clock, Tally, set_cookies, tiny_app

ORIGIN = {"Origin": "http://localhost"}


def page(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not here"]


def setup_auth(adapter: Any, clock: Clock) -> tuple[Auth, webtest.TestApp, str]:
    auth = lucia(adapter=adapter, env="DEV", hash=FAST_HASH, clock=clock)
    user_id = auth.create_user("username", "alice", password="pw")["user_id"]
    session_id = auth.create_session(user_id).session_id
    return auth, webtest.TestApp(LuciaMiddleware(page, auth)), session_id


def assert_clean_500(response: Any) -> None:
    assert response.status_int == 500
    assert response.json == {"message": "unknown"}
    assert set_cookies(response) == []


@pytest.mark.parametrize("request_kind", ["renew", "logout"])
def test_locked_sqlite_file(tmp_path: Path, request_kind: str, tally: Tally) -> None:
    path = tmp_path / "lucia.db"
    creator = SQLiteAdapter(path)
    creator.create_tables()
    clock = Clock(T0)
    auth, app, session_id = setup_auth(SQLiteAdapter(path, timeout=0.05), clock)
    clock.now = IDLE
    cookie = {"Cookie": f"auth_session={session_id}"}
    with closing(sqlite3.connect(path, isolation_level=None)) as locker:
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        if request_kind == "renew":
            response = app.get("/api/auth/user", headers=cookie, expect_errors=True)
        else:
            response = app.post("/api/auth/logout", headers={**cookie, **ORIGIN}, expect_errors=True)
        assert_clean_500(response)
        locker.execute("ROLLBACK")
    tally.add("faults")
    assert auth.get_session(session_id).user_id  # still there, still idle
    if request_kind == "renew":
        healthy = app.get("/api/auth/user", headers=cookie)
        assert healthy.json["user"] is not None and len(set_cookies(healthy)) == 1
    else:
        assert app.post("/api/auth/logout", headers={**cookie, **ORIGIN}).json == {}
        assert app.get("/api/auth/user", headers=cookie).json == {"user": None}


@pytest.fixture
def pg_dsn() -> Iterator[tuple[str, str, str]]:
    """``(dsn with a 300 ms statement timeout and a unique application_name, plain dsn, schema)``."""
    with postgres_schema() as (dsn, schema):
        name = f"lucia_security_{secrets.token_hex(4)}"
        timed = psycopg.conninfo.make_conninfo(dsn, application_name=name, options="-c statement_timeout=300")
        yield timed, dsn, schema


def test_postgres_lock_wait_times_out(pg_dsn: tuple[str, str, str], tally: Tally) -> None:
    dsn, plain, schema = pg_dsn
    adapter = PostgresAdapter(dsn, schema=schema, max_size=2)
    adapter.create_tables()
    clock = Clock(T0)
    try:
        auth, app, session_id = setup_auth(adapter, clock)
        clock.now = IDLE
        cookie = {"Cookie": f"auth_session={session_id}"}
        with psycopg.connect(plain) as locker:
            locker.execute(sql.SQL("SELECT * FROM {} WHERE id = %s FOR UPDATE").format(
                sql.Identifier(schema, "session")), (session_id,))
            assert_clean_500(app.get("/api/auth/user", headers=cookie, expect_errors=True))
            locker.rollback()
        tally.add("faults")
        assert auth.get_session(session_id).state == "idle"
        healthy = app.get("/api/auth/user", headers=cookie)
        assert healthy.json["user"] is not None and len(set_cookies(healthy)) == 1
    finally:
        adapter.close()


def test_postgres_connections_killed_by_the_server_fail_no_request(pg_dsn: tuple[str, str, str],
                                                                   tally: Tally) -> None:
    dsn, plain, schema = pg_dsn
    adapter = PostgresAdapter(dsn, schema=schema, min_size=4, max_size=4)
    adapter.create_tables()
    try:
        auth, app, session_id = setup_auth(adapter, Clock(T0))
        cookie = {"Cookie": f"auth_session={session_id}"}
        with ThreadPoolExecutor(4) as pool:  # every pooled connection has served a request
            assert all(r.json["user"] for r in pool.map(lambda _: app.get("/api/auth/user", headers=cookie),
                                                        range(16)))
        adapter.pool.wait()
        name = psycopg.conninfo.conninfo_to_dict(dsn)["application_name"]
        with psycopg.connect(plain, autocommit=True) as admin:
            killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE application_name = %s", (name,)).fetchone()
        assert killed is not None and killed[0] == 4
        tally.add("faults", killed[0])
        answers = [app.get("/api/auth/user", headers=cookie, expect_errors=True) for _ in range(8)]
        assert [response.status_int for response in answers] == [200] * 8, "a dead pooled connection failed one"
        assert all(response.json["user"] is not None and set_cookies(response) == [] for response in answers)
        user_id = auth.get_session(session_id).user_id
        with psycopg.connect(plain, autocommit=True) as admin:  # again, and this time a write comes first
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                          (name,))
        time.sleep(0.05)
        adapter.set_session(SessionRow("w" * 40, user_id, T0 + 10**9, T0 + 2 * 10**9))  # an INSERT: never retried
        assert adapter.get_session("w" * 40) is not None
    finally:
        adapter.close()


def kill_postgres_backends(plain_dsn: str, application_name: str) -> int:
    with psycopg.connect(plain_dsn, autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE application_name = %s", (application_name,)).fetchone()
    assert killed is not None
    return int(killed[0])


def kill_redis_clients(url: str, client_name: str) -> int:
    """``CLIENT KILL`` of this test's connections only (``TYPE normal`` alone would end every
    client of the shared server, other test runs' too)."""
    admin = redis.Redis.from_url(url)
    try:
        ids = [client["id"] for client in admin.client_list(_type="normal") if client["name"] == client_name]
        return sum(int(admin.client_kill_filter(_id=client_id, _type="normal")) for client_id in ids)
    finally:
        admin.close()


@dataclass
class SplitStores:
    """PostgreSQL users and Redis sessions whose connections all carry ``name``."""

    auth: Auth
    users: PostgresAdapter
    plain_dsn: str
    redis_url: str
    name: str


@pytest.fixture
def split_stores(pg_dsn: tuple[str, str, str]) -> Iterator[SplitStores]:
    dsn, plain, schema = pg_dsn
    name = psycopg.conninfo.conninfo_to_dict(dsn)["application_name"]
    users = PostgresAdapter(dsn, schema=schema, min_size=4, max_size=4)
    try:
        users.create_tables()
        with redis_prefix() as (url, prefix):
            sessions = RedisSessionAdapter(url, prefix=prefix, client_name=name, max_connections=8)
            try:
                auth = lucia(adapter={"user": users, "session": sessions}, env="DEV", hash=FAST_HASH)  # real clock
                yield SplitStores(auth, users, plain, url, name)
            finally:
                sessions.close()
    finally:
        users.close()


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


@pytest.mark.parametrize("killed", ["postgres", "redis", "both"])
def test_connections_killed_by_postgres_and_redis_fail_no_read_and_no_sign_in(
    split_stores: SplitStores, killed: str, tally: Tally,
) -> None:
    """PostgreSQL users and Redis sessions through the middleware: every server-side connection of
    one pool or both is killed, and the next 8 requests (reads and sign-ins) all succeed."""
    stores = split_stores
    auth = stores.auth
    user_id = auth.create_user("username", "alice", password="pw")["user_id"]
    app = webtest.TestApp(tiny_app(auth))
    credentials = {"username": "alice", "password": "pw"}

    def read(session_id: str) -> Any:
        return app.get("/", headers={"Cookie": f"auth_session={session_id}"}, expect_errors=True)

    (header,) = set_cookies(app.post("/login", credentials, headers=ORIGIN))
    session_id = cookie_value(header)
    with ThreadPoolExecutor(4) as pool:  # every pooled connection has served a request
        assert {r.text for r in pool.map(lambda _: read(session_id), range(16))} == {f"user:{user_id}"}
    stores.users.pool.wait()
    if killed in ("postgres", "both"):
        killed_backends = kill_postgres_backends(stores.plain_dsn, stores.name)
        assert killed_backends == 4
        tally.add("faults", killed_backends)
    if killed in ("redis", "both"):
        killed_clients = kill_redis_clients(stores.redis_url, stores.name)
        assert killed_clients >= 1
        tally.add("faults", killed_clients)
    time.sleep(0.05)
    answers, signed_in = [], []
    for i in range(8):
        if i % 2 == 0:
            answers.append(("read", read(session_id).status_int))
            continue
        response = app.post("/login", credentials, headers=ORIGIN, expect_errors=True)
        answers.append(("sign-in", response.status_int))
        signed_in += [cookie_value(header) for header in set_cookies(response)]
    assert answers == [("read", 200), ("sign-in", 200)] * 4, "a dead pooled connection failed one"
    assert len(set(signed_in)) == 4
    assert all(auth.validate_session(new_id).user_id == user_id for new_id in signed_in)  # the writes landed
    assert read(session_id).text == f"user:{user_id}"
