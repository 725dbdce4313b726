"""SQLite store on the standard library's ``sqlite3``, Lucia's schema.

One connection per thread (``sqlite3`` connections must not be shared across
threads), WAL journaling so readers never wait for the writer, foreign keys
on, and a busy timeout so concurrent writers queue instead of failing with
``database is locked``. Multi-statement writes run in ``BEGIN IMMEDIATE``
transactions, taking the write lock up front so they cannot deadlock.
"""

from __future__ import annotations

import operator
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ..errors import LuciaError
from ..session import SUPERSEDED_RETENTION, SessionRow
from .base import SESSION_COLUMNS, UserRow, check_column_type, check_user_values, new_user_id
from .sqlite_accounts import ACCOUNT_SCHEMA, SQLiteAccounts
from .sqlite_threads import MEMDB_VFS, ThreadConnections, keep_alive

__all__ = ["SQLiteAdapter"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXTRA_SESSION_TYPES = {"successor": "TEXT", "predecessor": "TEXT", "created_at": "INTEGER",
                        "last_seen": "INTEGER", "user_agent": "TEXT", "ip_address": "TEXT"}


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the database to WAL, waiting up to ``timeout`` for the lock that needs.

    A database a Lucia app made is in rollback-journal mode until the first
    connection switches it. Connections opened at the same moment (a pool's
    threads, workers starting) then race for the exclusive lock, and SQLite
    answers some of them "database is locked" at once, without waiting out the
    busy timeout (it would deadlock otherwise): so they retry here.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.05)


def _schema(user_attributes: Mapping[str, str]) -> list[str]:
    columns = "".join(f", {_ident(name)} {check_column_type(kind)}" for name, kind in user_attributes.items())
    return [
        'CREATE TABLE IF NOT EXISTS "user" (id TEXT PRIMARY KEY, provider_id TEXT NOT NULL UNIQUE, '
        f"hashed_password TEXT{columns})",
        'CREATE TABLE IF NOT EXISTS "session" (id TEXT PRIMARY KEY, '
        'user_id TEXT NOT NULL REFERENCES "user"(id), expires INTEGER NOT NULL, idle_expires INTEGER NOT NULL)',
        'CREATE INDEX IF NOT EXISTS session_user_id ON "session"(user_id)',
    ]


class _SessionSQL:
    """The session statements for the columns a ``session`` table has.

    A table made by a Lucia app has only Lucia's four columns until
    ``create_tables()`` adds ours: reads then select NULL for them, writes
    leave them out, and renewal works as Lucia 0.3's (no links to store).
    """

    def __init__(self, columns: frozenset[str]) -> None:
        self.present = tuple(name for name in SESSION_COLUMNS if name in columns)
        self.links = {"successor", "predecessor"} <= columns
        self.last_seen = "last_seen" in columns
        select = ", ".join(name if name in columns else "NULL" for name in SESSION_COLUMNS)
        joint = ", ".join(f"s.{name}" if name in columns else "NULL" for name in SESSION_COLUMNS)
        self.get = f'SELECT {select} FROM "session" WHERE id = ?'
        self.of_user = f'SELECT {select} FROM "session" WHERE user_id = ?'
        self.joint = (f'SELECT {joint}, u.* FROM "session" AS s JOIN "user" AS u ON u.id = s.user_id '
                      "WHERE s.id = ?")
        self.insert = (f'INSERT INTO "session" ({", ".join(self.present)}) '
                       f'VALUES ({", ".join("?" for _ in self.present)})')
        self.indexes = tuple(SESSION_COLUMNS.index(name) for name in self.present)
        #: A row's values for the present columns, in order. (itemgetter gives a tuple from two
        #: indexes on; a table with fewer columns fails at its INSERT anyway.)
        indexes = self.indexes
        self.values: Callable[[SessionRow], tuple[Any, ...]] = (
            operator.itemgetter(*indexes) if len(indexes) > 1 else lambda row: tuple(row[i] for i in indexes))


def _ident(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid column name {name!r}")
    return f'"{name}"'


class SQLiteAdapter(SQLiteAccounts):
    """Users and sessions in one SQLite file, or in memory with ``":memory:"``.

    >>> adapter = SQLiteAdapter("app.db")
    >>> adapter.create_tables(user_attributes={"username": "TEXT"})

    A relative path is made absolute at construction, so every thread opens
    the same file even if the process changes directory later. A path starting
    with ``file:`` is an SQLite URI (``file:/srv/app.db?mode=ro``), passed on
    as it is: make its path absolute yourself.

    ``":memory:"`` is one in-memory database that every thread's connection
    shares (plain ``:memory:`` would give each thread its own, empty one). It
    is SQLite's ``memdb`` VFS under a name unique to this adapter
    (``file:/lucia_wsgi_memory_<random>?vfs=memdb``), kept alive by a
    connection the adapter holds until it is garbage-collected, and it belongs
    to this process only. ``memdb`` uses SQLite's ordinary locks, so
    concurrent writers wait up to ``timeout`` as with a file. (The older
    ``cache=shared`` mode was tried and refused: its table locks fail at once
    with ``database table is locked`` under concurrent writers, whatever the
    timeout.) An SQLite without ``memdb`` (before 3.36) makes ``":memory:"`` a
    ``ValueError`` pointing to :class:`~lucia_wsgi.adapters.MemoryAdapter`.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        path = os.fspath(path)
        self._memory = path == ":memory:"
        if self._memory:
            path = f"file:/lucia_wsgi_memory_{secrets.token_hex(8)}?vfs={MEMDB_VFS}"
        self._uri = path.startswith("file:")
        self.path = path if self._uri or path == "" else os.path.abspath(path)
        self._timeout = timeout
        self._threads = ThreadConnections(self._connect)
        self._columns: frozenset[str] | None = None
        self._session_sql: _SessionSQL | None = None
        self._joint_names: dict[int, tuple[str, ...]] = {}
        if self._memory:
            try:
                keeper = self._connect()
            except sqlite3.OperationalError as error:
                raise ValueError(
                    f"SQLiteAdapter(':memory:') needs SQLite's memdb VFS (SQLite 3.36+) to share one in-memory "
                    f"database between threads; this SQLite {sqlite3.sqlite_version} says {error}. "
                    "Use MemoryAdapter() (lucia_wsgi.adapters) or an SQLite file instead"
                ) from None
            # The database lives while a connection to it is open: this one.
            keep_alive(self, keeper)

    # connections

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                               check_same_thread=False, cached_statements=64, uri=self._uri)
        conn.execute("PRAGMA foreign_keys = ON")
        if not self._memory:
            _use_wal(conn, self._timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @property
    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use, and again in a forked child."""
        return self._threads.get()

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end).

        In a forked child, the connection inherited from the parent is
        detached, not closed.
        """
        self._threads.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # Also when COMMIT fails (SQLITE_BUSY, disk full, a deferred
            # foreign key): SQLite keeps the transaction open then, and this
            # thread's connection would hold the write lock for good. Some
            # errors have already rolled back, hence the check.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def create_tables(self, user_attributes: Mapping[str, str] | None = None) -> None:
        """Create Lucia's tables if missing; attribute columns as ``{name: SQL type}``.

        Attribute columns missing from an existing ``user`` table are added.
        """
        attributes = dict(user_attributes or {})
        statements = _schema(attributes)  # checks names and types before the file is touched
        with self._transaction() as conn:
            for statement in statements:
                conn.execute(statement)
            existing = {row[1] for row in conn.execute('PRAGMA table_info("user")')}
            for name, kind in attributes.items():
                if name not in existing:
                    conn.execute(f'ALTER TABLE "user" ADD COLUMN {_ident(name)} {check_column_type(kind)}')
            existing = {row[1] for row in conn.execute('PRAGMA table_info("session")')}
            for name, kind in _EXTRA_SESSION_TYPES.items():
                if name not in existing:  # nullable: a Lucia app's INSERTs and reads are unaffected
                    conn.execute(f'ALTER TABLE "session" ADD COLUMN {name} {kind}')
            conn.execute('CREATE INDEX IF NOT EXISTS session_idle_expires ON "session"(idle_expires)')
            for statement in ACCOUNT_SCHEMA:
                conn.execute(statement)
        self._columns = None
        self._session_sql = None
        self._joint_names = {}

    def has_tables(self) -> bool:
        """Whether the ``user`` and ``session`` tables exist (``create_tables`` ran)."""
        row = self.connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('user', 'session')").fetchone()
        return bool(row[0] == 2)

    @property
    def _sql(self) -> _SessionSQL:
        """The session statements for this table's columns (read from the database once)."""
        if self._session_sql is None:
            rows = self.connection.execute('PRAGMA table_info("session")').fetchall()
            self._session_sql = _SessionSQL(frozenset(row[1] for row in rows))
        return self._session_sql

    def user_columns(self) -> frozenset[str]:
        """The ``user`` table's columns, read from the database once."""
        if self._columns is None:
            rows = self.connection.execute('PRAGMA table_info("user")').fetchall()
            self._columns = frozenset(row[1] for row in rows)
        return self._columns

    def _check(self, values: Mapping[str, Any]) -> None:
        if not set(values) <= self.user_columns():
            self._columns = None  # a column another process added since we looked?
        check_user_values(values, self.user_columns())

    # users

    def get_user(self, user_id: str) -> UserRow | None:
        return _user(self.connection.execute('SELECT * FROM "user" WHERE id = ?', (user_id,)))

    def get_user_by_provider_id(self, provider_id: str) -> UserRow | None:
        return _user(self.connection.execute('SELECT * FROM "user" WHERE provider_id = ?', (provider_id,)))

    def set_user(self, user_id: str | None, values: Mapping[str, Any]) -> UserRow:
        self._check(values)
        row = {"id": user_id or new_user_id(), **values}
        names = ", ".join(_ident(name) for name in row)
        marks = ", ".join("?" for _ in row)
        try:
            with self._transaction() as conn:
                conn.execute(f'INSERT INTO "user" ({names}) VALUES ({marks})', tuple(row.values()))
                stored = _user(conn.execute('SELECT * FROM "user" WHERE id = ?', (row["id"],)))
        except sqlite3.IntegrityError as error:
            raise _user_error(error) from None
        assert stored is not None
        return stored

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> UserRow:
        self._check(values)
        try:
            with self._transaction() as conn:
                if values:
                    assignments = ", ".join(f"{_ident(name)} = ?" for name in values)
                    conn.execute(f'UPDATE "user" SET {assignments} WHERE id = ?', (*values.values(), user_id))
                stored = _user(conn.execute('SELECT * FROM "user" WHERE id = ?', (user_id,)))
                if stored is None:
                    raise LuciaError("AUTH_INVALID_USER_ID")
        except sqlite3.IntegrityError as error:
            raise _user_error(error) from None
        return stored

    def delete_user(self, user_id: str) -> None:
        with self._transaction() as conn:
            conn.execute('DELETE FROM "session" WHERE user_id = ?', (user_id,))
            conn.execute('DELETE FROM "user" WHERE id = ?', (user_id,))

    # sessions

    def get_session(self, session_id: str) -> SessionRow | None:
        row = self.connection.execute(self._sql.get, (session_id,)).fetchone()
        return None if row is None else SessionRow(*row)

    def get_session_and_user_by_session_id(self, session_id: str) -> tuple[SessionRow, UserRow] | None:
        # The hot path of every signed-in request: one query, the user's column
        # names read once per width of the row (a column added changes it).
        cursor = self._threads.get().execute((self._session_sql or self._sql).joint, (session_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        names = self._joint_names.get(len(row))
        if names is None:
            names = self._joint_names[len(row)] = tuple(column[0] for column in cursor.description[_WIDTH:])
        # tuple.__new__: SessionRow._make without its Python-level length check (the query
        # selects exactly its columns).
        return tuple.__new__(SessionRow, row[:_WIDTH]), dict(zip(names, row[_WIDTH:], strict=True))

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        rows = self.connection.execute(self._sql.of_user, (user_id,)).fetchall()
        return [SessionRow(*row) for row in rows]

    def set_session(self, row: SessionRow) -> None:
        sql = self._sql
        try:
            self.connection.execute(sql.insert, sql.values(row))
        except sqlite3.IntegrityError as error:
            raise _session_error(error) from None

    def delete_session(self, *session_ids: str) -> None:
        if not session_ids:
            return
        with self._transaction() as conn:
            conn.executemany('DELETE FROM "session" WHERE id = ?', [(sid,) for sid in session_ids])

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        self.connection.execute('DELETE FROM "session" WHERE user_id = ?', (user_id,))

    def renew_session(self, expected: SessionRow, successor: str, new: SessionRow, replaced: str | None) -> bool:
        sql = self._sql
        try:
            with self._transaction() as conn:
                if sql.links:
                    changed = conn.execute(
                        'UPDATE "session" SET successor = ? WHERE id = ? AND expires = ? AND idle_expires = ? '
                        "AND successor IS ?",
                        (successor, expected.id, expected.expires, expected.idle_expires, expected.successor),
                    ).rowcount
                else:  # a Lucia table without our columns: Lucia 0.3's renewal, checked the same way
                    changed = len(conn.execute(
                        'SELECT 1 FROM "session" WHERE id = ? AND expires = ? AND idle_expires = ?',
                        (expected.id, expected.expires, expected.idle_expires)).fetchall())
                if changed != 1:
                    return False
                conn.execute(sql.insert, sql.values(new))
                if replaced is not None:
                    conn.execute('DELETE FROM "session" WHERE id = ?', (replaced,))
        except sqlite3.IntegrityError as error:
            raise _session_error(error) from None
        return True

    def confirm_session(self, session_id: str, predecessor_id: str, until: int) -> None:
        with self._transaction() as conn:
            if self._sql.links:
                conn.execute('UPDATE "session" SET predecessor = NULL WHERE id = ?', (session_id,))
            conn.execute(_CUT, (until, until, predecessor_id))

    def cut_sessions(self, session_ids: Sequence[str], until: int) -> None:
        if session_ids:
            with self._transaction() as conn:
                conn.executemany(_CUT, [(until, until, session_id) for session_id in session_ids])

    def extend_session(self, expected: SessionRow, extended: SessionRow) -> bool:
        last_seen = ", last_seen = ?" if self._sql.last_seen else ""
        params = (extended.expires, extended.idle_expires, *((extended.last_seen,) if last_seen else ()),
                  expected.id, expected.expires, expected.idle_expires)
        changed = self.connection.execute(
            f'UPDATE "session" SET expires = ?, idle_expires = ?{last_seen} '
            "WHERE id = ? AND expires = ? AND idle_expires = ?", params).rowcount
        return bool(changed == 1)

    def rekey_session(self, old_id: str, new_id: str) -> bool:
        try:
            changed = self.connection.execute('UPDATE "session" SET id = ? WHERE id = ?', (new_id, old_id)).rowcount
        except sqlite3.IntegrityError:
            return False  # the new id is taken: moved already
        return bool(changed == 1)

    # maintenance

    def count_dead_sessions(self, now: int) -> int:
        condition, params = self._removable(now)
        row = self.connection.execute(f'SELECT count(*) FROM "session" WHERE {condition}', params).fetchone()
        return int(row[0])

    def delete_dead_sessions(self, now: int, limit: int | None = None) -> int:
        """Delete sessions a cleanup may remove at ``now`` (ms), at most ``limit``; returns how many went."""
        condition, params = self._removable(now)
        if limit is None:
            return self.connection.execute(f'DELETE FROM "session" WHERE {condition}', params).rowcount
        return self.connection.execute(
            f'DELETE FROM "session" WHERE id IN (SELECT id FROM "session" WHERE {condition} LIMIT ?)',
            (*params, limit),
        ).rowcount

    def _removable(self, now: int) -> tuple[str, tuple[int, ...]]:
        """:func:`lucia_wsgi.session.is_removable` as SQL: dead, and past retention if superseded."""
        if not self._sql.links:
            return "idle_expires < ?", (now,)
        return "idle_expires < ? AND (successor IS NULL OR idle_expires < ?)", (now, now - SUPERSEDED_RETENTION)


_WIDTH = len(SESSION_COLUMNS)


def _user(cursor: sqlite3.Cursor) -> UserRow | None:
    """The one row of a ``SELECT * FROM "user"`` as a dict, or None."""
    row = cursor.fetchone()
    return None if row is None else dict(zip((column[0] for column in cursor.description), row, strict=True))
_CUT = 'UPDATE "session" SET expires = min(expires, ?), idle_expires = min(idle_expires, ?) WHERE id = ?'


# SQLite names the failed constraint in the message ("UNIQUE constraint
# failed: user.provider_id"); match it whole, so a NOT NULL failure on the
# same column is not mistaken for a duplicate.
_UNIQUE = "UNIQUE constraint failed: "


def _user_error(error: sqlite3.IntegrityError) -> LuciaError | sqlite3.IntegrityError:
    message = str(error)
    if message == _UNIQUE + "user.provider_id":
        return LuciaError("AUTH_DUPLICATE_PROVIDER_ID")
    if message.startswith(_UNIQUE + "user."):  # the id, or a unique attribute column (as on PostgreSQL)
        return LuciaError("AUTH_DUPLICATE_USER_DATA")
    return error


def _session_error(error: sqlite3.IntegrityError) -> LuciaError | sqlite3.IntegrityError:
    message = str(error)
    if message == "FOREIGN KEY constraint failed":
        return LuciaError("AUTH_INVALID_USER_ID")
    if message == _UNIQUE + "session.id":
        return LuciaError("AUTH_DUPLICATE_SESSION_ID")
    return error
