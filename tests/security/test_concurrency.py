"""Concurrent requests through the middleware: nobody logged out, nothing resurrected, no lock errors.

Every request goes through :class:`LuciaMiddleware` (``Request.blank(...).get_response``),
from real threads, against SQLite files and PostgreSQL.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from services import redis_prefix
from webob import Request

from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import RedisSessionAdapter
from lucia_wsgi.config import DAY_MS, DEFAULT_RENEWAL_GRACE, system_clock
from lucia_wsgi.session import SessionRow
from lucia_wsgi.testing import AdapterCall, FaultyAdapter

from .support import FAST_HASH, Clock, Tally, new_sqlite, postgres_store, set_cookies, sqlite_store, tiny_app

ORIGIN = "http://localhost"
# Real time: Redis expires keys at their idle expiry by the wall clock.
T0 = system_clock()
IDLE = T0 + DAY_MS + 1  # a session created at T0 is idle from here


def get(app: Any, path: str, cookie: str | None = None) -> Any:
    request = Request.blank(path)
    if cookie is not None:
        request.headers["Cookie"] = f"auth_session={cookie}"
    return request.get_response(app)


def post(app: Any, path: str, cookie: str | None = None, **form: str) -> Any:
    request = Request.blank(path, POST=form or {}, headers={"Origin": ORIGIN})
    if cookie is not None:
        request.headers["Cookie"] = f"auth_session={cookie}"
    return request.get_response(app)


def cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


def live_sessions(auth: Auth, user_id: str, now: int) -> list[SessionRow]:
    return [row for row in auth.config.session_adapter.get_sessions_by_user_id(user_id) if row.idle_expires >= now]


@pytest.fixture(params=["sqlite", "postgres", "postgres+redis"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A store many threads share: a SQLite file, a PostgreSQL schema behind a pool, or that plus Redis sessions."""
    if request.param == "sqlite":
        with sqlite_store(tmp_path / "lucia.db") as adapter:
            yield adapter
        return
    with postgres_store(max_size=10) as pg:
        if request.param == "postgres":
            yield pg
        else:
            with redis_prefix() as (url, prefix):
                sessions = RedisSessionAdapter(url, prefix=prefix, max_connections=60)
                yield {"user": pg, "session": sessions}
                sessions.close()


def hammer(threads: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` on ``threads`` threads released together; their results in order."""
    barrier = threading.Barrier(threads)

    def run(i: int) -> Any:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(threads)))


def test_fifty_tabs_with_one_idle_session_all_stay_signed_in(shared_store: Any, tally: Tally) -> None:
    clock = Clock(T0)
    auth = lucia(adapter=shared_store, env="DEV", hash=FAST_HASH, clock=clock)
    app = tiny_app(auth)
    auth.create_user("username", "alice", password="pw")
    user_id = auth.get_user_by_provider_id("username", "alice")["user_id"]
    idle_id = auth.create_session(user_id).session_id
    clock.now = IDLE

    responses = hammer(50, lambda i: get(app, "/", idle_id))
    tally.add("concurrent", 50)

    assert [r.status_int for r in responses] == [200] * 50
    assert {r.text for r in responses} == {f"user:{user_id}"}
    handed = {cookie_value(c) for r in responses for c in set_cookies(r)}
    assert len(handed) == 1, "every tab is handed the one successor"
    assert all(set_cookies(r) for r in responses)
    (successor,) = handed
    assert successor != idle_id
    assert len(live_sessions(auth, user_id, clock.now)) == 2  # the old id and its successor, nothing more
    assert get(app, "/", successor).text == f"user:{user_id}"  # the browser has it: confirmed
    assert get(app, "/", idle_id).text == f"user:{user_id}"  # in flight: answered for the grace window
    clock.now = IDLE + DEFAULT_RENEWAL_GRACE + 1
    assert [row.id for row in live_sessions(auth, user_id, clock.now)] == [successor]
    late = get(app, "/", idle_id)
    assert late.text == "anonymous" and set_cookies(late) == []  # no blank cookie over the new one
    assert get(app, "/", successor).text == f"user:{user_id}"


def test_fifty_tabs_extending_one_idle_session_leave_one_row(shared_store: Any, tally: Tally) -> None:
    clock = Clock(T0)
    auth = lucia(adapter=shared_store, env="DEV", hash=FAST_HASH, clock=clock, renewal="extend")
    app = tiny_app(auth)
    user_id = auth.create_user("username", "alice", password="pw")["user_id"]
    session_id = auth.create_session(user_id).session_id
    clock.now = IDLE

    responses = hammer(50, lambda i: get(app, "/", session_id))
    tally.add("concurrent", 50)

    assert {r.text for r in responses} == {f"user:{user_id}"}
    assert {cookie_value(c) for r in responses for c in set_cookies(r)} == {session_id}
    rows = live_sessions(auth, user_id, clock.now)
    assert [row.id for row in rows] == [session_id]
    assert rows[0].expires == IDLE + DAY_MS


def test_logout_between_read_and_renewal_is_not_undone(shared_store: Any, tally: Tally) -> None:
    """Deterministic interleaving: the logout lands after validation read the idle row, before the swap."""
    clock = Clock(T0)
    plain = lucia(adapter=shared_store, env="DEV", hash=FAST_HASH, clock=clock)
    plain.create_user("username", "alice", password="pw")
    user_id = plain.get_user_by_provider_id("username", "alice")["user_id"]
    idle_id = plain.create_session(user_id).session_id
    clock.now = IDLE
    logout_app = tiny_app(plain)

    def log_out_first(call: AdapterCall) -> None:
        if call.method == "renew_session":
            assert post(logout_app, "/api/auth/logout", idle_id).status_int == 200

    if isinstance(shared_store, dict):
        hooked = FaultyAdapter(shared_store["session"], before_call=log_out_first)
        adapter: Any = {"user": shared_store["user"], "session": hooked}
    else:
        adapter = hooked = FaultyAdapter(shared_store, before_call=log_out_first)
    app = tiny_app(lucia(adapter=adapter, env="DEV", hash=FAST_HASH, clock=clock))
    response = get(app, "/", idle_id)
    tally.add("concurrent", 2)

    assert hooked.count("renew_session") == 1
    assert response.text == "anonymous"
    assert live_sessions(plain, user_id, clock.now) == []


def test_logout_racing_renewal_never_resurrects_the_session(shared_store: Any, tally: Tally) -> None:
    clock = Clock(T0)
    auth = lucia(adapter=shared_store, env="DEV", hash=FAST_HASH, clock=clock)
    app = tiny_app(auth)
    rounds = 40
    users = [auth.create_user("username", f"racer{i}", password="pw")["user_id"] for i in range(rounds)]
    idle_ids = [auth.create_session(user_id).session_id for user_id in users]
    clock.now = IDLE

    def race(i: int) -> Any:
        barrier = threading.Barrier(2)

        def renew() -> Any:
            barrier.wait()
            return get(app, "/", idle_ids[i])

        def logout() -> Any:
            barrier.wait()
            return post(app, "/api/auth/logout", idle_ids[i])

        with ThreadPoolExecutor(2) as pool:
            renewing, logging_out = pool.submit(renew), pool.submit(logout)
            return renewing.result(), logging_out.result()

    outcomes = [race(i) for i in range(rounds)]
    tally.add("concurrent", 2 * rounds)

    for user_id, idle_id, (renewal, logout) in zip(users, idle_ids, outcomes, strict=True):
        assert logout.status_int == 200 and renewal.status_int == 200
        assert get(app, "/", idle_id).text == "anonymous", "the logged-out id works again"
        live = {row.id for row in live_sessions(auth, user_id, clock.now)}
        fresh = {cookie_value(c) for c in set_cookies(renewal)} - {""}
        # Logout first: renewal finds nothing. Renewal first: the logout, sent
        # with the old cookie, ends the session it was renewed into as well,
        # except when the renewal lands between the logout's reads and delete;
        # then the one session the renewal handed out lives on, nothing else.
        assert live <= fresh
        assert renewal.text == (f"user:{user_id}" if fresh else "anonymous")


def test_eight_threads_of_mixed_requests_on_one_sqlite_file(tmp_path: Path, tally: Tally) -> None:
    """8 x 1,000 sign-ins, page views and logouts: no lock errors, and the rows are exactly the live sessions."""
    threads, per_thread = 8, 1_000
    path = tmp_path / "lucia.db"
    store = new_sqlite(path)
    auth = lucia(adapter=store, env="DEV", hash=FAST_HASH, clock=Clock(T0))
    app = tiny_app(auth)
    users = [auth.create_user("username", f"user{i}", password=f"pw{i}")["user_id"] for i in range(threads)]

    def client(i: int) -> tuple[set[str], list[str]]:
        rng = random.Random(i)
        live: list[str] = []
        ended: list[str] = []
        problems: list[str] = []
        for step in range(per_thread):
            roll = rng.random()
            if not live or roll < 0.25:
                response = post(app, "/login", username=f"user{i}", password=f"pw{i}")
                cookies = set_cookies(response)
                if response.status_int != 200 or len(cookies) != 1:
                    problems.append(f"sign-in {step}: {response.status} {cookies}")
                    continue
                live.append(cookie_value(cookies[0]))
            elif roll < 0.80:
                session_id = rng.choice(live)
                response = get(app, "/", session_id)
                if response.text != f"user:{users[i]}" or set_cookies(response):
                    problems.append(f"view {step}: {response.status} {response.text!r}")
            elif roll < 0.90 and ended:
                response = get(app, "/", rng.choice(ended))
                if response.text != "anonymous":
                    problems.append(f"ended session {step} still works: {response.text!r}")
            else:
                session_id = live.pop(rng.randrange(len(live)))
                response = post(app, "/api/auth/logout", session_id)
                if response.status_int != 200 or cookie_value(set_cookies(response)[0]) != "":
                    problems.append(f"logout {step}: {response.status}")
                ended.append(session_id)
        return set(live), problems

    results = hammer(threads, client)
    tally.add("concurrent", threads * per_thread)

    assert [problem for _, problems in results for problem in problems] == []
    expected = set().union(*(live for live, _ in results))
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute('SELECT id, user_id FROM "session"').fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert {session_id for session_id, _ in rows} == expected
    assert len(rows) == len(expected)
    owners = {session_id: users[i] for i, (live, _) in enumerate(results) for session_id in live}
    assert all(owners[session_id] == user_id for session_id, user_id in rows)


def test_fifty_concurrent_sign_ins_of_one_user(shared_store: Any, tally: Tally) -> None:
    auth = lucia(adapter=shared_store, env="DEV", hash=FAST_HASH, clock=Clock(T0))
    app = tiny_app(auth)
    user_id = auth.create_user("username", "alice", password="pw")["user_id"]
    responses = hammer(50, lambda i: post(app, "/login", username="alice", password="pw"))
    tally.add("concurrent", 50)
    ids = {cookie_value(c) for r in responses for c in set_cookies(r)}
    assert len(ids) == 50
    assert {row.id for row in live_sessions(auth, user_id, T0)} == ids
