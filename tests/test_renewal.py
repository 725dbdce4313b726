"""Acceptance of issue 10: renewal that never logs anyone out, and devices (SPEC §4, §12).

Written from the issue and the spec, not from the implementation. Every
request goes through :class:`LuciaMiddleware` (``Request.blank``), with an
injected clock, on four stores: memory, an SQLite file, PostgreSQL, and
PostgreSQL users + Redis sessions. The clock starts at real time and only
moves forward, because Redis expires keys by its own clock.

The timeline of most tests: a device signs in, its active period (24 h)
passes, and the next request carrying the idle id (the "old" id) renews it
into a successor.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from security.support import FAST_HASH, postgres_store, sqlite_store
from services import redis_prefix
from webob import Request

from lucia_wsgi import Auth, LuciaError, LuciaMiddleware, lucia
from lucia_wsgi.adapters import MemoryAdapter, RedisSessionAdapter
from lucia_wsgi.config import system_clock
from lucia_wsgi.session import SessionRow, classify, storage_digest
from lucia_wsgi.testing import WRITE_METHODS, FaultyAdapter

SECOND, MINUTE, HOUR, DAY = 1_000, 60_000, 3_600_000, 86_400_000
ACTIVE, IDLE = DAY, 14 * DAY  # the default periods
GRACE = 5 * SECOND  # renewal_grace, as the issue counts it
ORIGIN = "http://localhost"  # Request.blank's own origin
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


# --- the clock and the stores --------------------------------------------------------


class Clock:
    """The injected clock (Unix ms): starts at real time, moves only forward."""

    def __init__(self) -> None:
        self.now = system_clock()

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> int:
        assert ms >= 0, "Redis keeps real time: the clock never goes back"
        self.now += ms
        return self.now


@dataclass
class World:
    """One store under test, the clock, and raw access to what the store holds."""

    kind: str
    users: Any
    sessions: Any
    clock: Clock = field(default_factory=Clock)

    @property
    def adapter(self) -> Any:
        return self.users if self.users is self.sessions else {"user": self.users, "session": self.sessions}

    def auth(self, adapter: Any = None, **options: Any) -> Auth:
        options = {"env": "DEV", "hash": FAST_HASH, "clock": self.clock, "renewal_grace": GRACE, **options}
        return lucia(adapter=self.adapter if adapter is None else adapter, **options)

    def rows(self, user_id: str) -> list[SessionRow]:
        return sorted(self.sessions.get_sessions_by_user_id(user_id))

    def live_ids(self, user_id: str) -> set[str]:
        """The stored ids of the user's sessions that are not dead at the clock's now."""
        now = self.clock.now
        return {row.id for row in self.rows(user_id) if classify(row.expires, row.idle_expires, now) != "dead"}

    def lucia_expiries(self, storage_id: str) -> tuple[int, int] | None:
        """``(expires, idle_expires)`` of a row as a Lucia app reads it: raw SQL, or the Redis record."""
        if self.kind == "memory":
            row = self.sessions.get_session(storage_id)
            return None if row is None else (row.expires, row.idle_expires)
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.users.path)) as conn:
                found = conn.execute('SELECT expires, idle_expires FROM "session" WHERE id = ?', (storage_id,))
                return found.fetchone()
        if self.kind == "postgres":
            query = sql.SQL("SELECT expires, idle_expires FROM {} WHERE id = %s").format(
                sql.Identifier(self.users.schema, "session"))
            with self.users.pool.connection() as conn:
                return conn.execute(query, (storage_id,)).fetchone()
        value = self.sessions.client.get(self.sessions.session_key(storage_id))
        if value is None:
            return None
        record = json.loads(value)
        return int(record["expires"]), int(record["idle_expires"])

    def dump(self) -> str:
        """Everything the session store holds, as text."""
        if self.kind == "memory":
            return repr(list(self.sessions._sessions.values()))
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.users.path)) as conn:
                return "\n".join(conn.iterdump())
        if self.kind == "postgres":
            query = sql.SQL("SELECT s::text FROM {} AS s").format(sql.Identifier(self.users.schema, "session"))
            with self.users.pool.connection() as conn:
                return "\n".join(row[0] for row in conn.execute(query))
        client, parts = self.sessions.client, []
        for key in client.scan_iter(match=self.sessions.prefix + "*", count=10_000):
            kind = client.type(key)
            value = client.get(key) if kind == b"string" else client.zrange(key, 0, -1, withscores=True)
            parts.append(f"{key!r} {value!r}")
        return "\n".join(parts)

    def key_expires_at(self, storage_id: str) -> int:
        """When Redis will drop the session's key (Unix ms, by the Redis server's clock)."""
        return system_clock() + int(self.sessions.client.pttl(self.sessions.session_key(storage_id)))


STORES = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.services),
    pytest.param("postgres+redis", marks=pytest.mark.services),
]


@pytest.fixture(params=STORES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "memory":
        store = MemoryAdapter()
        yield World("memory", store, store)
        return
    if request.param == "sqlite":
        with sqlite_store(tmp_path / "lucia.db") as lite:
            yield World("sqlite", lite, lite)
        return
    with postgres_store(max_size=10) as pg:
        if request.param == "postgres":
            yield World("postgres", pg, pg)
            return
        with redis_prefix() as (url, prefix):
            sessions = RedisSessionAdapter(url, prefix=prefix, max_connections=60)
            try:
                yield World("postgres+redis", pg, sessions)
            finally:
                sessions.close()


# --- the application and its requests ------------------------------------------------


class AppCrashed(Exception):
    """What the test app raises on ``/crash``, after ``validate()``."""


def make_app(auth: Auth) -> LuciaMiddleware:
    """``/`` answers ``{"user_id", "is_fresh"}`` from ``validate()``; ``/crash`` validates, then raises."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        session = environ["lucia.auth"].validate()
        if environ["PATH_INFO"] == "/crash":
            raise AppCrashed("the renewing response is never sent")
        body = json.dumps({"user_id": None if session is None else session.user_id,
                           "is_fresh": None if session is None else session.is_fresh}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return LuciaMiddleware(app, auth)


@dataclass(frozen=True)
class Reply:
    status: int
    user_id: str | None
    is_fresh: bool | None
    set_cookies: tuple[str, ...]

    @property
    def cookie(self) -> str | None:
        """The ``auth_session`` value the response sets (``""``: the blank cookie); ``None``: it sets none."""
        values = [header.split(";", 1)[0].split("=", 1)[1] for header in self.set_cookies
                  if header.startswith("auth_session=")]
        assert len(values) <= 1, self.set_cookies
        return values[0] if values else None

    @property
    def cookie_expires(self) -> datetime:
        (header,) = self.set_cookies
        attributes = dict(part.strip().partition("=")[::2] for part in header.split(";")[1:])
        return parsedate_to_datetime(attributes["Expires"])


def _send(app: LuciaMiddleware, request: Request) -> Reply:
    response = request.get_response(app)
    body = response.json if response.body else {}
    cookies = tuple(value for name, value in response.headerlist if name.lower() == "set-cookie")
    return Reply(response.status_int, body.get("user_id"), body.get("is_fresh"), cookies)


def get(app: LuciaMiddleware, session_id: str, path: str = "/") -> Reply:
    return _send(app, Request.blank(path, headers={"Cookie": f"auth_session={session_id}"}))


def log_out(app: LuciaMiddleware, session_id: str) -> Reply:
    return _send(app, Request.blank("/api/auth/logout", method="POST",
                                    headers={"Origin": ORIGIN, "Cookie": f"auth_session={session_id}"}))


def at_once(*calls: Callable[[], Reply]) -> list[Reply]:
    """Run the calls on as many threads, released together by a barrier; their replies in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Reply]) -> Reply:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


@dataclass(frozen=True)
class Device:
    user_id: str
    session_id: str  # the id it signed in with: the "old" id once renewed


def sign_in(auth: Auth, name: str = "alice") -> Device:
    user_id = auth.create_user("username", name)["user_id"]
    return Device(user_id, auth.create_session(user_id).session_id)


def handed(reply: Reply, *not_these: str) -> str:
    """The new session id the reply's cookie carries, asserting it is one (and none of ``not_these``)."""
    cookie = reply.cookie
    assert cookie is not None and len(cookie) == 40 and cookie not in not_these, reply.set_cookies
    return cookie


@pytest.fixture
def auth(world: World) -> Auth:
    return world.auth()


@pytest.fixture
def app(auth: Auth) -> LuciaMiddleware:
    return make_app(auth)


@pytest.fixture
def due(world: World, auth: Auth) -> Device:
    """A device whose active period has just run out: its next request renews it."""
    device = sign_in(auth)
    world.clock.advance(ACTIVE + 1)
    return device


def renew_and_confirm(world: World, app: LuciaMiddleware, device: Device) -> str:
    """Renew the device's idle id, then present the successor (the browser has it); the successor."""
    successor = handed(get(app, device.session_id), device.session_id)
    assert get(app, successor).user_id == device.user_id
    return successor


# --- rotate: lost replies, late requests, logout ---------------------------------------


def test_a_lost_renewal_reply_is_repaired_by_the_old_cookie_later(world: World, app: LuciaMiddleware,
                                                                  due: Device) -> None:
    renewed_at = world.clock.now
    lost = get(app, due.session_id)  # this reply never reaches the browser
    assert (lost.user_id, lost.is_fresh) == (due.user_id, True)
    successor = handed(lost, due.session_id)

    for later in (10 * MINUTE, 3 * HOUR):
        world.clock.now = renewed_at + later
        reply = get(app, due.session_id)
        assert reply.user_id == due.user_id, f"signed out {later} ms after the renewal"
        assert reply.cookie == successor, "handed the same successor, never a pile of unseen ones"
        assert world.live_ids(due.user_id) == {due.session_id, successor}, "at most 2 live rows"
    assert get(app, successor).user_id == due.user_id


def test_an_unseen_successor_that_went_idle_is_replaced_never_chained(world: World, app: LuciaMiddleware,
                                                                      due: Device) -> None:
    renewed_at = world.clock.now
    unseen = handed(get(app, due.session_id), due.session_id)
    world.clock.now = renewed_at + ACTIVE + HOUR  # the successor's own active period is over, unseen
    reply = get(app, due.session_id)  # the old id lives to its own idle expiry, days away

    assert reply.user_id == due.user_id
    replacement = handed(reply, due.session_id, unseen)
    assert world.live_ids(due.user_id) == {due.session_id, replacement}, "one old id and one successor"
    assert get(app, due.session_id).cookie == replacement
    assert get(app, replacement).user_id == due.user_id  # presented: it confirms the old id, not a chain
    world.clock.advance(GRACE + 1)
    assert world.live_ids(due.user_id) == {replacement}


def test_an_app_raising_after_validate_does_not_log_the_user_out(world: World, app: LuciaMiddleware,
                                                                 due: Device) -> None:
    with pytest.raises(AppCrashed):
        get(app, due.session_id, "/crash")
    world.clock.advance(MINUTE)  # far past renewal_grace

    reply = get(app, due.session_id)
    assert reply.user_id == due.user_id
    successor = handed(reply, due.session_id)
    assert len(world.live_ids(due.user_id)) <= 2
    assert get(app, successor).user_id == due.user_id


def test_a_stale_old_cookie_after_the_successor_is_used_gets_no_set_cookie(world: World, app: LuciaMiddleware,
                                                                           due: Device) -> None:
    successor = renew_and_confirm(world, app, due)
    used_at = world.clock.now
    for delay in (SECOND, GRACE):  # requests in flight: answered for renewal_grace, boundary included
        world.clock.now = used_at + delay
        in_flight = get(app, due.session_id)
        assert (in_flight.user_id, in_flight.cookie) == (due.user_id, successor), f"{delay} ms after"

    for delay in (GRACE + 1, 6 * SECOND, MINUTE, HOUR):
        world.clock.now = used_at + delay
        stale = get(app, due.session_id)
        assert (stale.status, stale.user_id, stale.set_cookies) == (200, None, ()), f"{delay} ms after"
        still = get(app, successor)
        assert still.user_id == due.user_id and still.cookie != ""
    assert world.live_ids(due.user_id) == {successor}


@pytest.mark.parametrize("case", ["never-known", "expired-on-its-own"])
def test_only_an_unknown_or_self_expired_id_gets_the_blank_cookie(world: World, auth: Auth, app: LuciaMiddleware,
                                                                  case: str) -> None:
    if case == "never-known":
        session_id = "N" * 40
    else:
        session_id = sign_in(auth).session_id
        world.clock.advance(ACTIVE + IDLE + 1)
    reply = get(app, session_id)
    assert (reply.user_id, reply.cookie) == (None, "")
    assert reply.cookie_expires == EPOCH


def test_logout_with_a_dead_old_id_ends_nothing(world: World, app: LuciaMiddleware, due: Device) -> None:
    successor = renew_and_confirm(world, app, due)
    world.clock.advance(GRACE + 1)
    before = world.rows(due.user_id)

    assert log_out(app, due.session_id).status == 200
    assert world.rows(due.user_id) == before, "a dead id has no authority over the store"
    assert get(app, successor).user_id == due.user_id


@pytest.mark.parametrize("presented", [
    pytest.param("old-id-unconfirmed", id="live-old-id"),
    pytest.param("old-id-in-grace", id="old-id-within-renewal-grace"),
    pytest.param("successor", id="successor"),
])
def test_logout_with_a_live_id_ends_the_old_id_and_its_successor(world: World, app: LuciaMiddleware, due: Device,
                                                                 presented: str) -> None:
    successor = handed(get(app, due.session_id), due.session_id)
    if presented == "old-id-in-grace":
        assert get(app, successor).user_id == due.user_id
        world.clock.advance(SECOND)

    assert log_out(app, successor if presented == "successor" else due.session_id).status == 200
    assert world.live_ids(due.user_id) == set()
    assert get(app, due.session_id).user_id is None
    assert get(app, successor).user_id is None


@pytest.mark.parametrize("ending", ["log-out", "invalidate_device"])
def test_ending_a_confirmed_successor_ends_its_old_id_in_its_grace_window(world: World, auth: Auth,
                                                                          app: LuciaMiddleware, due: Device,
                                                                          ending: str) -> None:
    successor = renew_and_confirm(world, app, due)  # the old id now answers for renewal_grace more
    world.clock.advance(SECOND)
    if ending == "log-out":
        assert log_out(app, successor).status == 200
    else:
        (device,) = auth.get_user_sessions(due.user_id)
        assert auth.invalidate_device(due.user_id, device.device_id) is True

    assert world.live_ids(due.user_id) == set(), "a Lucia app reading the old row would find it live"
    for read in (auth.get_session, auth.get_session_user, auth.validate_session):
        with pytest.raises(LuciaError):
            read(due.session_id)
    assert get(app, due.session_id).user_id is None
    assert get(app, successor).user_id is None


def test_a_log_out_with_a_confirmed_hashed_successor_ends_its_old_id_for_every_read(world: World) -> None:
    # With hashed ids the old row's link is sealed under the old id: nothing leads
    # from the successor to it, so it is ended by its successor's absence.
    auth = world.auth(hash_session_ids=True)
    app = make_app(auth)
    device = sign_in(auth)
    world.clock.advance(ACTIVE + 1)
    successor = renew_and_confirm(world, app, device)
    world.clock.advance(SECOND)

    assert log_out(app, successor).status == 200
    with pytest.raises(LuciaError):
        auth.get_session(device.session_id)
    assert world.live_ids(device.user_id) == set(), "the read cut the old row to dead"
    stale = get(app, device.session_id)
    assert (stale.user_id, stale.set_cookies) == (None, ())


# --- across hosts and stores ---------------------------------------------------------


def test_two_hosts_30_seconds_apart_renewing_at_once_hand_out_one_successor(world: World, auth: Auth) -> None:
    host_a = make_app(world.auth())
    host_b = make_app(world.auth(clock=lambda: world.clock.now + 30 * SECOND))
    devices = [sign_in(auth, f"user{i}") for i in range(8)]  # eight races, for real interleavings
    world.clock.advance(ACTIVE + 1)

    for device in devices:
        replies = at_once(partial(get, host_a, device.session_id), partial(get, host_b, device.session_id))
        assert [reply.user_id for reply in replies] == [device.user_id] * 2
        cookies = {reply.cookie for reply in replies}
        assert len(cookies) == 1, f"two successors, or a blank cookie: {cookies}"
        successor = handed(replies[0], device.session_id)
        assert world.live_ids(device.user_id) == {device.session_id, successor}


class ThirdPartySessions:
    """A session store with only the basic protocol (no renewal writes), over a real one.

    It records every id it is asked to delete.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.deleted: list[str] = []

    def get_session(self, session_id: str) -> SessionRow | None:
        return self.store.get_session(session_id)

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        return self.store.get_sessions_by_user_id(user_id)

    def set_session(self, row: SessionRow) -> None:
        self.store.set_session(row)

    def delete_session(self, *session_ids: str) -> None:
        self.deleted += session_ids
        self.store.delete_session(*session_ids)

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        self.deleted += [row.id for row in self.store.get_sessions_by_user_id(user_id)]
        self.store.delete_sessions_by_user_id(user_id)


def test_a_store_without_renewal_writes_keeps_two_tabs_signed_in(world: World) -> None:
    sessions = ThirdPartySessions(world.sessions)
    auth = world.auth(adapter={"user": world.users, "session": sessions})
    app = make_app(auth)
    device = sign_in(auth)
    world.clock.advance(ACTIVE + 1)

    tabs = at_once(*[partial(get, app, device.session_id)] * 2)
    assert [tab.user_id for tab in tabs] == [device.user_id] * 2
    first, second = (handed(tab, device.session_id) for tab in tabs)
    assert device.session_id not in sessions.deleted, "the old session went before its successor was presented"
    assert world.sessions.get_session(device.session_id) is not None

    assert get(app, first).user_id == device.user_id
    assert get(app, device.session_id).user_id == device.user_id  # the other tab, in flight
    assert get(app, second).user_id == device.user_id


def test_a_device_renewed_every_day_keeps_a_bounded_number_of_rows(world: World, app: LuciaMiddleware,
                                                                   due: Device) -> None:
    """Two live rows at most, plus the one last superseded (kept a while to recognise late requests)."""
    current = due.session_id
    for day in range(14):
        successor = handed(get(app, current), current)
        assert len(world.live_ids(due.user_id)) <= 2
        world.clock.advance(MINUTE)
        assert get(app, successor).user_id == due.user_id
        assert len(world.rows(due.user_id)) <= 3, f"day {day}: {len(world.rows(due.user_id))} rows"
        current = successor
        world.clock.advance(ACTIVE + 1)


@pytest.mark.parametrize("mode", ["rotate", "extend"])
def test_fifty_tabs_at_once_stay_signed_in_and_rows_stay_bounded(world: World, mode: str) -> None:
    auth = world.auth(renewal=mode)
    app = make_app(auth)
    device = sign_in(auth)
    world.clock.advance(ACTIVE + 1)

    replies = at_once(*[partial(get, app, device.session_id)] * 50)

    assert [reply.user_id for reply in replies] == [device.user_id] * 50
    cookies = {reply.cookie for reply in replies}
    stored = [row.id for row in world.rows(device.user_id)]
    if mode == "rotate":
        assert len(cookies) == 1, f"every tab gets the one successor: {cookies}"
        successor = handed(replies[0], device.session_id)
        assert sorted(stored) == sorted([device.session_id, successor])
    else:
        assert cookies <= {device.session_id, None} and device.session_id in cookies
        assert stored == [device.session_id], "extend leaves exactly one row, same id"


def test_extend_moves_the_expiry_past_the_original_idle_expiry(world: World) -> None:
    auth = world.auth(renewal="extend")
    app = make_app(auth)
    device = sign_in(auth)
    original_idle_expiry = world.clock.now + ACTIVE + IDLE
    world.clock.now = original_idle_expiry - HOUR  # idle, an hour before it would die

    reply = get(app, device.session_id)
    new_idle_expiry = world.clock.now + ACTIVE + IDLE
    assert (reply.user_id, reply.is_fresh, reply.cookie) == (device.user_id, True, device.session_id)
    assert reply.cookie_expires > at(original_idle_expiry)
    assert abs(reply.cookie_expires - at(new_idle_expiry)) < timedelta(seconds=1)
    assert world.lucia_expiries(device.session_id) == (world.clock.now + ACTIVE, new_idle_expiry)
    if world.kind == "postgres+redis":
        assert abs(world.key_expires_at(device.session_id) - new_idle_expiry) < 10 * SECOND

    world.clock.now = original_idle_expiry + HOUR
    later = get(app, device.session_id)
    assert later.user_id == device.user_id and later.cookie != ""


def test_an_unknown_renewal_mode_is_a_value_error_at_lucia() -> None:
    with pytest.raises(ValueError, match="renewal"):
        lucia(adapter=MemoryAdapter(), env="DEV", renewal="bogus")


# --- devices ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Devices:
    user_id: str
    signed_in: dict[str, int]  # name -> sign-in time
    ids: dict[str, str]  # name -> the id it signed in with
    laptop_successor: str  # the laptop was renewed; its successor is not presented yet


@pytest.fixture
def devices(world: World, auth: Auth, app: LuciaMiddleware) -> Devices:
    """alice on a laptop, then a phone an hour later, then a tablet; the laptop now renewed, unconfirmed."""
    laptop = sign_in(auth)
    signed_in, ids = {"laptop": world.clock.now}, {"laptop": laptop.session_id}
    for name in ("phone", "tablet"):
        world.clock.advance(HOUR)
        signed_in[name], ids[name] = world.clock.now, auth.create_session(laptop.user_id).session_id
    world.clock.now = signed_in["laptop"] + ACTIVE + 1  # the laptop is idle, the others active
    successor = handed(get(app, laptop.session_id), laptop.session_id)
    return Devices(laptop.user_id, signed_in, ids, successor)


def test_get_user_sessions_lists_each_device_once_newest_sign_in_first(world: World, auth: Auth,
                                                                       app: LuciaMiddleware,
                                                                       devices: Devices) -> None:
    for moment in ("renewed", "confirmed", "after-grace"):
        if moment == "confirmed":
            assert get(app, devices.laptop_successor).user_id == devices.user_id
        if moment == "after-grace":
            world.clock.advance(GRACE + 1)
        listed = auth.get_user_sessions(devices.user_id)
        assert [s.created_at for s in listed] == [at(devices.signed_in[name]) for name in
                                                  ("tablet", "phone", "laptop")], moment
        tablet, phone, laptop = listed
        assert (tablet.session_id, phone.session_id) == (devices.ids["tablet"], devices.ids["phone"])
        assert laptop.session_id in {devices.ids["laptop"], devices.laptop_successor}
        assert len({s.device_id for s in listed}) == 3


@pytest.mark.parametrize("keep", [
    pytest.param("phone", id="a-plain-session"),
    pytest.param("laptop", id="a-renewed-old-id"),
    pytest.param("laptop-successor", id="a-successor"),
])
def test_invalidate_all_user_sessions_with_keep_keeps_only_that_device(auth: Auth, app: LuciaMiddleware,
                                                                       devices: Devices, keep: str) -> None:
    ids = {**devices.ids, "laptop-successor": devices.laptop_successor}
    auth.invalidate_all_user_sessions(devices.user_id, keep=ids[keep])

    kept = {"laptop", "laptop-successor"} if keep.startswith("laptop") else {keep}
    for name in ("phone", "tablet", "laptop", "laptop-successor"):  # the old id before its successor
        expected = devices.user_id if name in kept else None
        assert get(app, ids[name]).user_id == expected, name
    assert len(auth.get_user_sessions(devices.user_id)) == 1


def test_invalidate_device_ends_that_device_only(auth: Auth, app: LuciaMiddleware, devices: Devices) -> None:
    listed = {s.created_at: s.device_id for s in auth.get_user_sessions(devices.user_id)}
    laptop = listed[at(devices.signed_in["laptop"])]
    phone = listed[at(devices.signed_in["phone"])]
    bob = auth.create_user("username", "bob")["user_id"]

    assert auth.invalidate_device(bob, phone) is False, "one user cannot end another's device"
    assert auth.invalidate_device(devices.user_id, "0" * 20) is False
    assert auth.invalidate_device(devices.user_id, laptop) is True

    assert get(app, devices.ids["laptop"]).user_id is None
    assert get(app, devices.laptop_successor).user_id is None
    assert get(app, devices.ids["phone"]).user_id == devices.user_id
    assert get(app, devices.ids["tablet"]).user_id == devices.user_id
    assert {s.device_id for s in auth.get_user_sessions(devices.user_id)} == {phone, listed[
        at(devices.signed_in["tablet"])]}


def test_last_seen_is_not_written_per_request(world: World, auth: Auth) -> None:
    device = sign_in(auth)
    signed_in = world.clock.now
    counted: Any
    if world.users is world.sessions:
        wrappers = [FaultyAdapter(world.users)]
        counted = wrappers[0]
    else:
        wrappers = [FaultyAdapter(world.users), FaultyAdapter(world.sessions)]
        counted = {"user": wrappers[0], "session": wrappers[1]}
    app = make_app(world.auth(adapter=counted))

    for _ in range(20):
        world.clock.advance(MINUTE)  # active requests, spread over twenty minutes
        reply = get(app, device.session_id)
        assert (reply.user_id, reply.set_cookies) == (device.user_id, ())

    assert sum(w.count(method) for w in wrappers for method in WRITE_METHODS) == 0
    assert sum(w.count() for w in wrappers) >= 20  # the requests did reach the store
    (listed,) = auth.get_user_sessions(device.user_id)
    assert listed.last_seen == at(signed_in)


def test_a_dead_old_id_is_dead_to_a_lucia_app_reading_the_row(world: World, app: LuciaMiddleware,
                                                              due: Device) -> None:
    original = world.lucia_expiries(due.session_id)
    assert original is not None
    successor = get(app, due.session_id).cookie
    assert successor is not None
    unconfirmed = world.lucia_expiries(due.session_id)
    assert unconfirmed is not None and unconfirmed[1] == original[1], "unconfirmed: it lives to its idle expiry"

    assert get(app, successor).user_id == due.user_id
    world.clock.advance(GRACE + 1)
    dead = world.lucia_expiries(due.session_id)
    assert dead is not None, "kept, so that a late request is recognised"
    expires, idle_expires = dead
    assert expires <= idle_expires < world.clock.now, "Lucia would still accept the row"


DEPLOYS = {
    "before": {},  # the defaults: 24 h active, 5 s grace
    "after": {"session_timeout": {"active_period": HOUR}, "renewal_grace": 30 * SECOND},
}


@pytest.mark.parametrize(("renewer", "follower", "later"), [
    pytest.param("before", "after", 3 * HOUR, id="24h-host-renews-1h-host-follows-3h-later"),
    pytest.param("after", "before", 10 * MINUTE, id="1h-host-renews-24h-host-follows"),
])
def test_a_rolling_deploy_reads_renewed_rows_whatever_its_periods(world: World, renewer: str, follower: str,
                                                                  later: int) -> None:
    hosts = {name: make_app(world.auth(**options)) for name, options in DEPLOYS.items()}
    renewing_auth = world.auth(**DEPLOYS[renewer])
    device = sign_in(renewing_auth)
    world.clock.advance(renewing_auth.config.active_period + 1)

    successor = handed(get(hosts[renewer], device.session_id), device.session_id)  # the reply is lost
    world.clock.advance(later)
    followed = get(hosts[follower], device.session_id)
    assert (followed.user_id, followed.cookie) == (device.user_id, successor)

    assert get(hosts[follower], successor).user_id == device.user_id
    confirmed_at = world.clock.now
    world.clock.advance(SECOND)
    for host in hosts.values():
        assert get(host, device.session_id).user_id == device.user_id  # in flight
    world.clock.now = confirmed_at + 30 * SECOND + 1  # past both graces
    for name, host in hosts.items():
        stale = get(host, device.session_id)
        assert (stale.user_id, stale.set_cookies) == (None, ()), name
        assert get(host, successor).user_id == device.user_id, name


def test_hashed_session_ids_renew_the_same_way_and_no_plain_id_is_stored(world: World) -> None:
    auth = world.auth(hash_session_ids=True)
    app = make_app(auth)
    device = sign_in(auth)
    old = device.session_id
    world.clock.advance(ACTIVE + 1)

    successor = handed(get(app, old), old)  # lost
    world.clock.advance(10 * MINUTE)
    assert (get(app, old).user_id, get(app, old).cookie) == (device.user_id, successor)
    assert world.live_ids(device.user_id) == {storage_digest(old), storage_digest(successor)}
    assert successor not in world.dump() and old not in world.dump()

    assert get(app, successor).user_id == device.user_id
    world.clock.advance(6 * SECOND)
    stale = get(app, old)
    assert (stale.user_id, stale.set_cookies) == (None, ())
    assert get(app, successor).user_id == device.user_id
    dead = world.lucia_expiries(storage_digest(old))
    assert dead is not None and dead[1] < world.clock.now
    assert successor not in world.dump()
