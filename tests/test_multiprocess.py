"""Two server processes sharing one store: PostgreSQL, and PostgreSQL users + Redis sessions.

Each scenario starts ``tests/multiprocess_app.py`` twice (two waitress
processes on two ports) over the same store and checks that what one process
does, the other sees: a sign-in, a sign-out, and a burst of concurrent
requests carrying one idle session, all of which must come back signed in
with exactly one renewal between them.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from multiprocess_app import open_stores
from services import postgres_schema, redis_prefix

from lucia_wsgi import SESSION_COOKIE_NAME
from lucia_wsgi.cookies import read_cookie
from lucia_wsgi.session import SessionRow

HERE = Path(__file__).resolve().parent
HOUR = 3_600_000
BURST = 24
pytestmark = pytest.mark.services


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    session_cookie: str | None  # the auth_session value set by the response, if any


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[str]
    log: IO[str]

    def request(self, method: str, path: str, *, session_id: str | None = None, body: object = None) -> Reply:
        headers = {"Origin": f"http://127.0.0.1:{self.port}"}
        if session_id is not None:
            headers["Cookie"] = f"{SESSION_COOKIE_NAME}={session_id}"
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = json.loads(response.read())
            cookies = [value for name, value in response.getheaders() if name.lower() == "set-cookie"]
        finally:
            conn.close()
        found = [read_cookie(cookie.split(";", 1)[0]) for cookie in cookies]
        return Reply(response.status, data, found[-1] if found else None)


def start_server(name: str, argv: list[str]) -> Server:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    # stderr goes to a file: a pipe nobody reads could fill up and stall the server.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, str(HERE / "multiprocess_app.py"), "--name", name, *argv],
                               stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready and process.stdout else ""
    if not line.strip().isdigit():
        process.kill()
        process.wait(timeout=10)
        log.seek(0)
        pytest.fail(f"server {name} did not start: {log.read()[-2000:]}")
    return Server(name, int(line), process, log)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.communicate()
    server.log.close()


@pytest.fixture(params=[pytest.param("postgresql", id="postgresql"),
                        pytest.param("postgresql+redis", id="postgresql-users+redis-sessions")])
def stores(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """The server arguments naming a fresh store."""
    with postgres_schema() as (dsn, schema):
        db = f"{dsn}?schema={schema}"
        if request.param == "postgresql":
            yield ["--db", db]
            return
        with redis_prefix() as (url, prefix):
            yield ["--db", db, "--session-url", f"{url}?prefix={prefix}"]


@pytest.fixture
def store_handles(stores: list[str]) -> Iterator[tuple[Any, Any]]:
    """The test's own (users, sessions) adapters on the servers' store; creates the tables."""
    session_url = stores[3] if len(stores) > 2 else None
    users, sessions = open_stores(stores[1], session_url)
    users.create_tables()
    yield users, sessions
    users.close()
    if sessions is not users:
        sessions.close()


@pytest.fixture
def servers(stores: list[str], store_handles: tuple[Any, Any]) -> Iterator[tuple[Server, Server]]:
    with ThreadPoolExecutor(2) as pool:  # start both at once
        futures = [pool.submit(start_server, name, stores) for name in ("A", "B")]
    started = [future.result() for future in futures if future.exception() is None]
    try:
        a, b = (future.result() for future in futures)  # re-raises a failed start
        yield a, b
    finally:
        for server in started:
            stop_server(server)


def test_a_sign_in_on_one_process_holds_on_the_other_and_a_sign_out_ends_it_on_both(
        servers: tuple[Server, Server]) -> None:
    a, b = servers
    signed_up = a.request("POST", "/signup", body={"username": "alice", "password": "pw"})
    assert signed_up.status == 200
    session_id = signed_up.session_cookie
    assert session_id
    user_id = signed_up.body["user_id"]

    on_b = b.request("GET", "/whoami", session_id=session_id)
    assert (on_b.status, on_b.body["user_id"], on_b.body["process"]) == (200, user_id, "B")
    assert on_b.body["pid"] != a.request("GET", "/whoami", session_id=session_id).body["pid"]
    assert b.request("GET", "/api/auth/user", session_id=session_id).body == {"user": {"user_id": user_id}}

    logged_out = b.request("POST", "/api/auth/logout", session_id=session_id)
    assert (logged_out.status, logged_out.session_cookie) == (200, "")

    on_a = a.request("GET", "/whoami", session_id=session_id)
    assert (on_a.body["user_id"], on_a.body["process"]) == (None, "A")
    assert on_a.session_cookie == ""  # A clears the dead cookie too


def test_concurrent_requests_with_one_idle_session_on_both_processes_all_stay_signed_in(
        servers: tuple[Server, Server], store_handles: tuple[Any, Any]) -> None:
    a, b = servers
    users, sessions = store_handles
    user_id = users.set_user(None, {"provider_id": "username:bob", "hashed_password": None})["id"]
    now = time.time_ns() // 1_000_000
    idle = SessionRow("i" * 40, user_id, now - 1_000, now + HOUR)  # active period over: renewal due
    sessions.set_session(idle)
    barrier = threading.Barrier(BURST)

    def hit(index: int) -> Reply:
        barrier.wait()
        return (a, b)[index % 2].request("GET", "/whoami", session_id=idle.id)

    with ThreadPoolExecutor(BURST) as pool:
        replies = list(pool.map(hit, range(BURST)))

    assert [reply.status for reply in replies] == [200] * BURST
    assert [reply.body["user_id"] for reply in replies] == [user_id] * BURST
    assert {reply.body["process"] for reply in replies} == {"A", "B"}
    renewed = {reply.session_cookie for reply in replies}
    assert len(renewed) == 1 and renewed.isdisjoint({"", idle.id, None})  # one successor for all, no sign-out
    (successor,) = renewed
    assert isinstance(successor, str)
    rows = sorted(sessions.get_sessions_by_user_id(user_id))
    assert [row.id for row in rows] == sorted([idle.id, successor])  # the renewed row and its successor
    renewed = [successor]
    for server in (a, b):
        assert server.request("GET", "/whoami", session_id=renewed[0]).body["user_id"] == user_id
