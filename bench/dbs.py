"""SQLite benchmark databases of 10^3 to 10^6 sessions, built fast and cached.

Each database has ``n`` users (``user.username`` attribute) with one active
session each. Session ids are SHA-1 hex digests of the session number: 40
characters of ``[0-9a-f]``, well formed for Lucia and spread like random ids.
Built databases are cached in the temp directory, keyed by size and
:data:`SCHEMA_VERSION`; callers that write get their own copy (:func:`working_copy`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from lucia_wsgi.adapters.sqlite import SQLiteAdapter

__all__ = ["SCHEMA_VERSION", "FAR_FUTURE_MS", "session_id", "user_id", "cached_db", "working_copy", "add_idle_sessions"]

#: Bump when the layout below changes, so stale cached files are not reused.
SCHEMA_VERSION = 1
#: Active sessions expire in 2100: they stay active whatever the clock says.
FAR_FUTURE_MS = 4_102_444_800_000
_DAY_MS = 86_400_000


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


def _build(path: Path, n: int) -> None:
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    adapter.close()
    users = [(user_id(i), f"username:user{i}", None, f"user{i}") for i in range(n)]
    sessions = sorted((session_id(i), user_id(i), FAR_FUTURE_MS, FAR_FUTURE_MS + 14 * _DAY_MS) for i in range(n))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.executemany('INSERT INTO "user" (id, provider_id, hashed_password, username) VALUES (?, ?, ?, ?)', users)
        conn.executemany('INSERT INTO "session" (id, user_id, expires, idle_expires) VALUES (?, ?, ?, ?)', sessions)
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

    They went idle an hour ago and stay idle for a day, each on its own user
    (users ``first_user``, ``first_user + 1``, ... wrapping around), so the
    renewal's dead-session sweep reads one or two rows per user while pools
    fit the users. Each ``tag`` gives a different set of ids.
    """
    ids = [hashlib.sha1(f"{tag}-{i}".encode("ascii")).hexdigest() for i in range(count)]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        total = conn.execute('SELECT count(*) FROM "user"').fetchone()[0]
        rows = [(sid, user_id((first_user + i) % total), now_ms - 3_600_000, now_ms + _DAY_MS)
                for i, sid in enumerate(ids)]
        conn.execute("BEGIN")
        conn.executemany('INSERT INTO "session" (id, user_id, expires, idle_expires) VALUES (?, ?, ?, ?)', rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ids
