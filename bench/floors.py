"""The floors: the least any app must do for a row's job, in plain Python and ``sqlite3``.

* :func:`make_read_floor`, the headline floor: a ``str.split`` cookie scan,
  the query lucia runs for ``validate_user()`` (the session row JOINed with
  its user row), the idle-expiry check, a bare answer with the user id and
  ``Vary: Cookie`` (any page that reads the cookie owes caches that header).
* :func:`make_pk_floor`: the same with a lookup of the session row alone, by
  ``str.split`` or by ``http.cookies.SimpleCookie`` (the old floor).
* :func:`make_write_floor`: the read floor plus a renewal's writes, the
  plain SQL a renewal mode needs (:data:`WRITES`), answered with the new cookie.

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

from .apps import COOKIE_NAME, Environ, StartResponse, respond, split_cookie

__all__ = ["SESSION_AND_USER", "SESSION_BY_ID", "Periods", "WRITES", "connect", "make_read_floor", "make_pk_floor",
           "make_write_floor", "rotate", "extend"]

#: What ``SQLiteAdapter.get_session_and_user_by_session_id`` runs (a test checks they agree).
SESSION_AND_USER = (
    'SELECT s.id AS "s.id", s.user_id AS "s.user_id", s.expires AS "s.expires", '
    's.idle_expires AS "s.idle_expires", u.* FROM "session" AS s '
    'JOIN "user" AS u ON u.id = s.user_id WHERE s.id = ?'
)
SESSION_BY_ID = 'SELECT id, user_id, expires, idle_expires FROM "session" WHERE id = ?'
_UPDATE_IF_UNCHANGED = ('UPDATE "session" SET expires = ?, idle_expires = ? '
                        "WHERE id = ? AND expires = ? AND idle_expires = ?")
_INSERT = 'INSERT INTO "session" (id, user_id, expires, idle_expires) VALUES (?, ?, ?, ?)'
_VARY = ("Vary", "Cookie")

App = Callable[[Environ, StartResponse], Iterable[bytes]]


def connect(path: str | PathLike[str]) -> sqlite3.Connection:
    """A connection set up as ``SQLiteAdapter._connect`` sets up its own, without ``sqlite3.Row``."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False, cached_statements=64)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_read_floor(path: str | PathLike[str]) -> App:
    """The physical floor of ``validate_user()`` on an active session (see the module docstring)."""
    local = threading.local()

    def read_floor(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        conn = getattr(local, "conn", None) or _open(local, path)
        session_id = split_cookie(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(SESSION_AND_USER, (session_id,)).fetchone() if session_id else None
        if row is None or row[3] <= _now_ms():
            return respond(start_response, "anonymous", _VARY)
        return respond(start_response, row[1], _VARY)

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
        return respond(start_response, "anonymous" if row is None else row[1])

    return pk_floor


def _open(local: threading.local, path: str | PathLike[str]) -> sqlite3.Connection:
    conn = local.conn = connect(path)
    return conn


class Periods(NamedTuple):
    """A renewal's inputs from lucia's config, in milliseconds."""

    active: int
    idle: int
    grace: int


#: ``write(conn, row, now, periods)``: a renewal's SQL; the id the new cookie carries, or ``None`` if it lost a race.
Write = Callable[[sqlite3.Connection, Any, int, Periods], "str | None"]


def rotate(conn: sqlite3.Connection, row: Any, now: int, periods: Periods) -> str | None:
    """Today's renewal, as ``SQLiteAdapter.replace_session`` does it: in one ``BEGIN IMMEDIATE``
    transaction, cut the old row to the grace window if it is unchanged, and insert its successor."""
    new_id = secrets.token_hex(20)
    until = now + periods.grace
    conn.execute("BEGIN IMMEDIATE")
    if conn.execute(_UPDATE_IF_UNCHANGED, (until, until, row[0], row[2], row[3])).rowcount != 1:
        conn.execute("ROLLBACK")
        return None
    conn.execute(_INSERT, (new_id, row[1], now + periods.active, now + periods.active + periods.idle))
    conn.execute("COMMIT")
    return new_id


def extend(conn: sqlite3.Connection, row: Any, now: int, periods: Periods) -> str | None:
    """An extending renewal: one conditional UPDATE of the row's expiries (its own transaction)."""
    expires = now + periods.active
    changed = conn.execute(_UPDATE_IF_UNCHANGED, (expires, expires + periods.idle, row[0], row[2], row[3])).rowcount
    return row[0] if changed == 1 else None


#: Each renewal mode's write and what it runs, by name (a renewal row pairs with ``floor.write.NAME``).
WRITES: dict[str, tuple[Write, str]] = {
    "rotate": (rotate, "UPDATE old + INSERT successor (1 txn)"),
    "extend": (extend, "1 conditional UPDATE"),
}


def make_write_floor(path: str | PathLike[str], write: Write, periods: Periods) -> App:
    """The read floor on a session due for renewal, then ``write``; the answer sets the session cookie.

    The cookie expires with the new idle period (an HTTP date, as a
    persistent session cookie needs) and has lucia's attributes.
    """
    local = threading.local()

    def write_floor(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        conn = getattr(local, "conn", None) or _open(local, path)
        session_id = split_cookie(environ.get("HTTP_COOKIE", ""))
        row = conn.execute(SESSION_AND_USER, (session_id,)).fetchone() if session_id else None
        now = _now_ms()
        new_id = None if row is None or row[3] <= now else write(conn, row, now, periods)
        if row is None or new_id is None:
            return respond(start_response, "anonymous", _VARY)
        expires = formatdate((now + periods.active + periods.idle) / 1000, usegmt=True)
        cookie = f"{COOKIE_NAME}={new_id}; Path=/; Expires={expires}; HttpOnly; SameSite=Lax"
        return respond(start_response, row[1], _VARY, ("Set-Cookie", cookie))

    return write_floor
