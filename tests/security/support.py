"""Helpers of the security suite: clock, cheap hash, store snapshots, tally."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from services import postgres_schema
from shells import Inner, Reply
from webob import Request, Response

from lucia_wsgi import LuciaError, LuciaMiddleware
from lucia_wsgi.adapters import MemoryAdapter, PostgresAdapter, SQLiteAdapter
from lucia_wsgi.config import DAY_MS
from lucia_wsgi.testing import FaultyAdapter

T0 = 1_700_000_000_000
IDLE = T0 + DAY_MS + 1  # a session created at T0 is idle from here
FIXTURE_DB = Path(__file__).resolve().parents[1] / "fixtures" / "lucia-0.3.3.sqlite"

TALLY_LABELS = {
    "attacks": "attacks tried",
    "faults": "fault points injected",
    "concurrent": "concurrent requests",
    "fuzz": "fuzz examples",
}
TALLY: Counter[str] = Counter()

Snapshot = tuple[tuple[tuple[Any, ...], ...], tuple[tuple[Any, ...], ...]]


def fast_generate(password: str) -> str:
    """A cheap stand-in for scrypt, for tests where hashing is not the subject."""
    return "sha256:" + hashlib.sha256(password.encode("utf-8")).hexdigest()


def fast_validate(password: str, hashed: str) -> bool:
    return hashed == fast_generate(password)


FAST_HASH = (fast_generate, fast_validate)


class Clock:
    """An injectable clock (Unix ms) the test moves by hand."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Tally:
    """Counts what the suite exercised, by kind (see ``TALLY_LABELS``)."""

    def add(self, kind: str, n: int = 1) -> None:
        if kind not in TALLY_LABELS:
            raise ValueError(f"unknown tally {kind!r}")
        TALLY[kind] += n


def new_sqlite(path: Path) -> SQLiteAdapter:
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    return adapter


@contextmanager
def sqlite_store(path: Path) -> Iterator[SQLiteAdapter]:
    """A SQLite store with a ``username`` column, closed afterwards."""
    adapter = new_sqlite(path)
    try:
        yield adapter
    finally:
        adapter.close()


@contextmanager
def postgres_store(max_size: int) -> Iterator[PostgresAdapter]:
    """A PostgreSQL store in a schema of its own (dropped afterwards), ``username`` column."""
    with postgres_schema() as (dsn, schema):
        adapter = PostgresAdapter(dsn, schema=schema, max_size=max_size)
        try:
            adapter.create_tables(user_attributes={"username": "TEXT"})
            yield adapter
        finally:
            adapter.close()


def unwrap(adapter: Any) -> Any:
    """The store under any wrappers (``FaultyAdapter``, ``BasicStore``)."""
    while isinstance(adapter, (FaultyAdapter, BasicStore)):
        adapter = adapter.adapter
    return adapter


class BasicStore:
    """Only the required adapter protocol of a store: what a third-party adapter may offer.

    Without ``renew_session`` ``Auth`` renews as Lucia 0.3 did (a new row, the old one left), and without the join
    it reads the session and the user separately.
    """

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter

    def get_user(self, user_id: str) -> Any:
        return self.adapter.get_user(user_id)

    def get_user_by_provider_id(self, provider_id: str) -> Any:
        return self.adapter.get_user_by_provider_id(provider_id)

    def set_user(self, user_id: str | None, values: Any) -> Any:
        return self.adapter.set_user(user_id, values)

    def update_user(self, user_id: str, values: Any) -> Any:
        return self.adapter.update_user(user_id, values)

    def delete_user(self, user_id: str) -> None:
        self.adapter.delete_user(user_id)

    def get_session(self, session_id: str) -> Any:
        return self.adapter.get_session(session_id)

    def get_sessions_by_user_id(self, user_id: str) -> Any:
        return self.adapter.get_sessions_by_user_id(user_id)

    def set_session(self, row: Any) -> None:
        self.adapter.set_session(row)

    def delete_session(self, *session_ids: str) -> None:
        self.adapter.delete_session(*session_ids)

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        self.adapter.delete_sessions_by_user_id(user_id)


def snapshot(adapter: Any) -> Snapshot:
    """Every user and session row of an embedded store, sorted: equal snapshots, equal stores."""
    adapter = unwrap(adapter)
    if isinstance(adapter, MemoryAdapter):
        users = [tuple(sorted(row.items())) for row in adapter._users.values()]
        sessions = [tuple(row) for row in adapter._sessions.values()]
    elif isinstance(adapter, PostgresAdapter):
        with adapter.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            users = [tuple(sorted(row.items())) for row in cursor.execute(
                sql.SQL("SELECT * FROM {}").format(sql.Identifier(adapter.schema, "user")))]
            sessions = [tuple(row.values()) for row in cursor.execute(
                sql.SQL("SELECT id, user_id, expires, idle_expires FROM {}").format(
                    sql.Identifier(adapter.schema, "session")))]
    else:
        with closing(sqlite3.connect(adapter.path)) as conn:
            conn.row_factory = sqlite3.Row
            users = [tuple(sorted(dict(row).items())) for row in conn.execute('SELECT * FROM "user"')]
            sessions = [tuple(row) for row in conn.execute('SELECT id, user_id, expires, idle_expires FROM "session"')]
    return tuple(sorted(users)), tuple(sorted(sessions))


def comparable(rows: Any) -> Any:
    """A snapshot with sealed successor links masked (each is sealed with a random nonce)."""
    if isinstance(rows, str):
        return "s1.<sealed>" if rows.startswith("s1.") else rows
    if isinstance(rows, tuple):
        return tuple(comparable(item) for item in rows)
    return rows


def tiny_app(auth: Any) -> LuciaMiddleware:
    """A small application on the middleware: ``/`` says who is signed in, ``POST /login`` signs in."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        request = Request(environ)
        lucia_request = environ["lucia.auth"]
        path = environ.get("PATH_INFO", "")  # raw: WebOb's path_info raises on non-UTF-8 bytes
        if path == "/login" and request.method == "POST":
            try:
                user = auth.authenticate_user("username", request.POST.get("username", ""),
                                              request.POST.get("password", ""))
            except LuciaError:
                response = Response("invalid username or password", status=400)
            else:
                session = auth.create_session(user["user_id"])
                lucia_request.set_session(session)
                response = Response("signed in")
        elif path == "/":
            session, user = lucia_request.validate_user()
            response = Response("anonymous" if user is None else f"user:{user['user_id']}")
        else:
            response = Response("not here", status=404)
        return response(environ, start_response)  # type: ignore[no-any-return]

    return LuciaMiddleware(app, auth)


async def tiny_page(r: Inner) -> Reply:
    """``tiny_app``'s page for either shell (see shells.py): ``/`` says who is signed in, ``POST /login`` signs in."""
    if r.path == "/login" and r.method == "POST":
        form = r.form()
        try:
            user = await r.call("authenticate_user", "username", form.get("username", ""), form.get("password", ""))
        except LuciaError:
            return Reply(400, [("Content-Type", "text/plain")], b"invalid username or password")
        r.set_session(await r.call("create_session", user["user_id"]))
        return Reply(200, [("Content-Type", "text/plain")], b"signed in")
    if r.path == "/":
        _session, user = await r.validate_user()
        return Reply(200, [("Content-Type", "text/plain")],
                     b"anonymous" if user is None else f"user:{user['user_id']}".encode())
    return Reply(404, [("Content-Type", "text/plain")], b"not here")


def set_cookies(response: Any) -> list[str]:
    """Every ``Set-Cookie`` header of a WebOb/WebTest response."""
    return [value for name, value in response.headerlist if name.lower() == "set-cookie"]
