"""The floors: the least any app must do for a row's job, in plain Python and ``sqlite3``.

* :func:`make_read_floor`, the headline floor: a ``str.split`` cookie scan,
  the query lucia runs for ``validate_user()`` (the session row, all ten
  columns, JOINed with its user row), the idle-expiry check, a bare answer
  with the user id and ``Vary: Cookie`` (any page that reads the cookie owes
  caches that header).
* :func:`make_pk_floor`: the same with a lookup of the session row alone, by
  ``str.split`` or by ``http.cookies.SimpleCookie`` (the old floor).
* :func:`make_write_floor`: the read floor on a session due for renewal
  (idle, no successor), then the plain SQL its renewal mode needs
  (:data:`WRITES`), answered with the session cookie and ``Cache-Control:
  private`` (a response that sets a session cookie must not be cached for
  others). The statements are lucia's own (a test checks them against
  lucia's trace), less the dead-session sweep lucia's auto-cleanup runs
  first: that sweep is housekeeping a renewal does not need (``lucia-wsgi
  purge`` does the same off the request path), so it is not on the floor
  and its cost counts against lucia.

Connections are opened as the SQLite adapter opens its own (autocommit,
``foreign_keys``, WAL, ``synchronous = NORMAL``), one per thread, lazily, so
the floors also run under a forking server.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http.cookies import SimpleCookie
from os import PathLike
from typing import Any, NamedTuple

from lucia_wsgi.adapters.sqlite_threads import CloseWithThread

from .apps import COOKIE_NAME, Environ, StartResponse, respond, split_cookie

__all__ = ["COLUMNS", "SESSION_AND_USER", "SESSION_BY_ID", "ROTATE", "EXTEND", "VARY", "Periods", "WRITES", "connect",
           "now_ms", "make_read_floor", "make_pk_floor", "make_write_floor", "rotate", "extend"]

#: The session row's columns, in the order lucia reads them.
COLUMNS = ("id", "user_id", "expires", "idle_expires", "successor", "predecessor", "created_at", "last_seen",
            "user_agent", "ip_address")
#: What ``SQLiteAdapter.get_session_and_user_by_session_id`` runs (a test checks they agree).
SESSION_AND_USER = (f'SELECT {", ".join("s." + name for name in COLUMNS)}, u.* FROM "session" AS s '
                    'JOIN "user" AS u ON u.id = s.user_id WHERE s.id = ?')
SESSION_BY_ID = f'SELECT {", ".join(COLUMNS)} FROM "session" WHERE id = ?'
#: A rotating renewal's statements, in one transaction (``SQLiteAdapter.renew_session``'s).
ROTATE = (
    "BEGIN IMMEDIATE",
    'UPDATE "session" SET successor = ? WHERE id = ? AND expires = ? AND idle_expires = ? AND successor IS ?',
    f'INSERT INTO "session" ({", ".join(COLUMNS)}) VALUES ({", ".join("?" for _ in COLUMNS)})',
    "COMMIT",
)
#: An extending renewal's one statement (``SQLiteAdapter.extend_session``'s).
EXTEND = ('UPDATE "session" SET expires = ?, idle_expires = ?, last_seen = ? '
          "WHERE id = ? AND expires = ? AND idle_expires = ?")
VARY = ("Vary", "Cookie")
_PRIVATE = ("Cache-Control", "private")
# Positions in a SESSION_AND_USER row.
_ID, _USER_ID, _EXPIRES, _IDLE_EXPIRES, _SUCCESSOR, _CREATED_AT, _USER_AGENT, _IP_ADDRESS = 0, 1, 2, 3, 4, 6, 8, 9

App = Callable[[Environ, StartResponse], Iterable[bytes]]


def connect(path: str | PathLike[str]) -> sqlite3.Connection:
    """A connection set up as ``SQLiteAdapter._connect`` sets up its own, without ``sqlite3.Row``."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False, cached_statements=64)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def now_ms() -> int:
    """The clock lucia reads, in Unix milliseconds."""
    return time.time_ns() // 1_000_000


def make_read_floor(path: str | PathLike[str]) -> App:
    """The physical floor of ``validate_user()`` on an active session (see the module docstring)."""
    local = threading.local()

    def read_floor(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        conn = getattr(local, "conn", None) or _open(local, path)
        session_id = split_cookie(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(SESSION_AND_USER, (session_id,)).fetchone() if session_id else None
        if row is None or row[_IDLE_EXPIRES] < now_ms():
            return respond(start_response, "anonymous", VARY)
        return respond(start_response, row[_USER_ID], VARY)

    return read_floor


def _simple_cookie(header: str, name: str = COOKIE_NAME) -> str:
    morsel = SimpleCookie(header).get(name)
    return "" if morsel is None else morsel.value


def make_pk_floor(path: str | PathLike[str], parse: str = "simplecookie") -> App:
    """The old floor: parse the header, look the session row up by primary key (no user row), answer.

    ``parse`` is ``"simplecookie"`` (``http.cookies``) or ``"split"`` (``str.split``).
    """
    read = {"simplecookie": _simple_cookie, "split": split_cookie}[parse]
    local = threading.local()

    def pk_floor(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        conn = getattr(local, "conn", None) or _open(local, path)
        session_id = read(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(SESSION_BY_ID, (session_id,)).fetchone() if session_id else None
        return respond(start_response, "anonymous" if row is None else row[_USER_ID])

    return pk_floor


def _open(local: threading.local, path: str | PathLike[str]) -> sqlite3.Connection:
    """This thread's connection, closed when the thread (or the floor app) goes away."""
    conn = local.conn = connect(path)
    local.closer = CloseWithThread(conn)
    return conn


class Periods(NamedTuple):
    """A renewal's inputs from lucia's config, in milliseconds."""

    active: int
    idle: int


#: ``write(conn, row, now, periods)``: a renewal's SQL; the id the new cookie carries, or ``None`` if it lost a race.
Write = Callable[[sqlite3.Connection, Any, int, Periods], "str | None"]


def rotate(conn: sqlite3.Connection, row: Any, now: int, periods: Periods) -> str | None:
    """A rotating renewal, as ``SQLiteAdapter.renew_session`` does it: in one ``BEGIN IMMEDIATE``
    transaction, link the old row to its successor if it is unchanged (its expiries stay), and
    insert the successor (fresh periods, the old row as predecessor, the device facts kept)."""
    new_id = secrets.token_hex(20)
    expires = now + periods.active
    begin, link, insert, commit = ROTATE
    conn.execute(begin)
    if conn.execute(link, (new_id, row[_ID], row[_EXPIRES], row[_IDLE_EXPIRES], row[_SUCCESSOR])).rowcount != 1:
        conn.execute("ROLLBACK")
        return None
    conn.execute(insert, (new_id, row[_USER_ID], expires, expires + periods.idle, None, row[_ID], row[_CREATED_AT],
                          now, row[_USER_AGENT], row[_IP_ADDRESS]))
    conn.execute(commit)
    return new_id


def extend(conn: sqlite3.Connection, row: Any, now: int, periods: Periods) -> str | None:
    """An extending renewal: one conditional UPDATE of the row's expiries and ``last_seen`` (autocommit)."""
    expires = now + periods.active
    params = (expires, expires + periods.idle, now, row[_ID], row[_EXPIRES], row[_IDLE_EXPIRES])
    return row[_ID] if conn.execute(EXTEND, params).rowcount == 1 else None


#: Each renewal mode's write and what it runs, by name (a renewal row pairs with ``floor.write.NAME``).
WRITES: dict[str, tuple[Write, str]] = {
    "rotate": (rotate, "link old + INSERT successor (1 txn)"),
    "extend": (extend, "1 conditional UPDATE"),
}


def make_write_floor(path: str | PathLike[str], write: Write, periods: Periods) -> App:
    """The read floor, then ``write`` on a session due for renewal; that answer sets the session cookie.

    A session not due (active, or already renewed) is answered as the read
    floor answers it; one whose write lost a race, as anonymous. The cookie
    expires with the new idle period (an HTTP date, as a persistent session
    cookie needs) and has lucia's attributes.
    """
    local = threading.local()

    def write_floor(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        conn = getattr(local, "conn", None) or _open(local, path)
        session_id = split_cookie(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(SESSION_AND_USER, (session_id,)).fetchone() if session_id else None
        now = now_ms()
        if row is None or row[_IDLE_EXPIRES] < now:
            return respond(start_response, "anonymous", VARY)
        if now <= row[_EXPIRES] or row[_SUCCESSOR] is not None:
            return respond(start_response, row[_USER_ID], VARY)
        new_id = write(conn, row, now, periods)
        if new_id is None:
            return respond(start_response, "anonymous", VARY)
        expires = formatdate((now + periods.active + periods.idle) / 1000, usegmt=True)
        cookie = f"{COOKIE_NAME}={new_id}; Path=/; Expires={expires}; HttpOnly; SameSite=Lax"
        return respond(start_response, row[_USER_ID], VARY, _PRIVATE, ("Set-Cookie", cookie))

    return write_floor
