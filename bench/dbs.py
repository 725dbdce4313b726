"""SQLite benchmark databases of 10^3 to 10^6 sessions, built fast and cached.

Each database has ``n`` users (``user.username`` attribute) with one active
session each, in the tables ``SQLiteAdapter.create_tables()`` makes (Lucia's
four session columns and lucia_wsgi's nullable ones). Sessions are rows as
lucia_wsgi writes them at sign-in: ``created_at`` and ``last_seen`` set, no
links, no device details. Session ids are SHA-1 hex digests of the session
number: 40 characters of ``[0-9a-f]``, well formed for Lucia and spread like
random ids. Built databases are cached in the temp directory, keyed by size
and :data:`SCHEMA_VERSION`; callers that write get their own copy
(:func:`working_copy`). The PostgreSQL and Redis rows fill their stores with
the same rows (:func:`user_rows`, :func:`session_rows`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from lucia_wsgi.adapters.base import SESSION_COLUMNS
from lucia_wsgi.adapters.sqlite import SQLiteAdapter

__all__ = ["SCHEMA_VERSION", "FAR_FUTURE_MS", "SESSION_INSERT", "session_id", "user_id", "user_rows", "session_rows",
           "cached_db", "working_copy", "add_idle_sessions"]

#: Bump when the layout or the rows below change, so stale cached files (and
#: the PostgreSQL and Redis fills, which carry it in their markers) are not reused.
#: 2: the 10-column session row (links, created_at, last_seen, device details).
SCHEMA_VERSION = 2
#: Active sessions expire in 2100: they stay active whatever the clock says.
FAR_FUTURE_MS = 4_102_444_800_000
#: When the active sessions were signed in (fixed, so every build is the same).
SIGNED_IN_MS = 1_700_000_000_000
_DAY_MS = 86_400_000
#: The INSERT of :func:`session_rows` tuples (every column of lucia_wsgi's session row).
SESSION_INSERT = (f'INSERT INTO "session" ({", ".join(SESSION_COLUMNS)}) '
                  f'VALUES ({", ".join("?" for _ in SESSION_COLUMNS)})')


def session_id(i: int) -> str:
    """The id of session number ``i`` (and of idle pool entries, with a prefix)."""
    return hashlib.sha1(str(i).encode("ascii")).hexdigest()


def user_id(i: int) -> str:
    """The id of user number ``i``: 15 characters, like Lucia's generated ids."""
    return f"u{i:014d}"


def cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "lucia_wsgi_bench" / f"schema-v{SCHEMA_VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_rows(n: int) -> list[tuple[str, str, None, str]]:
    """Users ``0 .. n-1``: (id, provider_id, hashed_password, username)."""
    return [(user_id(i), f"username:user{i}", None, f"user{i}") for i in range(n)]


def _session(sid: str, uid: str, expires: int, idle_expires: int, signed_in: int) -> tuple[Any, ...]:
    """A session row as lucia_wsgi writes it at sign-in, in ``SessionRow`` order."""
    return (sid, uid, expires, idle_expires, None, None, signed_in, signed_in, None, None)


def session_rows(n: int) -> list[tuple[Any, ...]]:
    """One active session per user ``0 .. n-1``, in ``SessionRow`` order (10 columns)."""
    return [_session(session_id(i), user_id(i), FAR_FUTURE_MS, FAR_FUTURE_MS + 14 * _DAY_MS, SIGNED_IN_MS)
            for i in range(n)]


def _build(path: Path, n: int) -> None:
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"username": "TEXT"})  # and lucia_wsgi's nullable session columns
    adapter.close()
    users = user_rows(n)
    sessions = sorted(session_rows(n))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.executemany('INSERT INTO "user" (id, provider_id, hashed_password, username) VALUES (?, ?, ?, ?)', users)
        conn.executemany(SESSION_INSERT, sessions)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    finally:
        conn.close()


def cached_db(n: int) -> Path:
    """The path of the cached database with ``n`` sessions, built on first use.

    Build into a private file, then rename: concurrent runs never see a half-built one.
    """
    path = cache_dir() / f"sessions-{n}.db"
    if not path.exists():
        partial = Path(tempfile.mkdtemp(dir=cache_dir())) / path.name
        _build(partial, n)
        os.replace(partial, path)
        shutil.rmtree(partial.parent, ignore_errors=True)
    return path


def working_copy(n: int, directory: Path) -> Path:
    """A private copy of the ``n``-session database in ``directory``, safe to write to."""
    target = directory / f"sessions-{n}.db"
    shutil.copyfile(cached_db(n), target)
    return target


def add_idle_sessions(path: Path, count: int, now_ms: int, tag: str = "idle", first_user: int = 0) -> list[str]:
    """Insert ``count`` sessions due for renewal at ``now_ms`` (one per user); returns their ids.

    They were signed in 25 hours ago, went idle an hour ago (a day's active
    period) and stay idle for a day, each on its own user
    (users ``first_user``, ``first_user + 1``, ... wrapping around), so the
    renewal's dead-session sweep reads one or two rows per user while pools
    fit the users. Each ``tag`` gives a different set of ids.
    """
    ids = [hashlib.sha1(f"{tag}-{i}".encode("ascii")).hexdigest() for i in range(count)]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        total = conn.execute('SELECT count(*) FROM "user"').fetchone()[0]
        rows = [_session(sid, user_id((first_user + i) % total), now_ms - 3_600_000, now_ms + _DAY_MS,
                         now_ms - 3_600_000 - _DAY_MS) for i, sid in enumerate(ids)]
        conn.execute("BEGIN")
        conn.executemany(SESSION_INSERT, rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ids
