"""PostgreSQL store on psycopg 3 with a connection pool, Lucia's schema.

Each call borrows a pooled connection for one statement (autocommit) or one
short transaction, so every write is committed before the call returns and is
seen by every other process. Statements are fixed text over quoted
identifiers, values are always bound parameters, and the hot ones are
prepared server-side on first use. Renewal is a single statement (an
``UPDATE ... RETURNING`` feeding an ``INSERT``), so two processes renewing one
session at once cannot both win, and no row is lost or duplicated.

Driver errors that mean a Lucia error are translated (unique and foreign-key
violations); anything else, a lost connection included, propagates as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import LuciaError
from ..session import SessionRow
from .base import UserRow, check_column_type, check_user_values, missing_driver, new_user_id

try:
    from psycopg import Connection, Cursor, errors, sql
    from psycopg.pq import TransactionStatus
    from psycopg.pq.abc import PGresult
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool
except ModuleNotFoundError as error:
    raise missing_driver(error, "PostgresAdapter", "postgres", ("psycopg", "psycopg_pool")) from error

__all__ = ["PostgresAdapter"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Serialises concurrent create_tables() calls (CREATE ... IF NOT EXISTS races).
_SCHEMA_LOCK = 0x6C75636961

_STATEMENTS = {
    "get_user": "SELECT * FROM {user} WHERE id = %s",
    "get_user_by_provider_id": "SELECT * FROM {user} WHERE provider_id = %s",
    "user_columns": "SELECT * FROM {user} LIMIT 0",
    "delete_user": "DELETE FROM {user} WHERE id = %s",
    "get_session": "SELECT id, user_id, expires, idle_expires FROM {session} WHERE id = %s",
    "get_session_and_user": (
        "SELECT s.id, s.user_id, s.expires, s.idle_expires, u.* FROM {session} AS s "
        "JOIN {user} AS u ON u.id = s.user_id WHERE s.id = %s"
    ),
    "get_sessions_by_user_id": "SELECT id, user_id, expires, idle_expires FROM {session} WHERE user_id = %s",
    "set_session": "INSERT INTO {session} (id, user_id, expires, idle_expires) VALUES (%s, %s, %s, %s)",
    "delete_session": "DELETE FROM {session} WHERE id = ANY(%s)",
    "delete_sessions_by_user_id": "DELETE FROM {session} WHERE user_id = %s",
    "replace_session": (
        "WITH old AS (UPDATE {session} SET expires = %s, idle_expires = %s "
        "WHERE id = %s AND expires = %s AND idle_expires = %s RETURNING id) "
        "INSERT INTO {session} (id, user_id, expires, idle_expires) SELECT %s, %s, %s, %s FROM old"
    ),
    "count_dead": "SELECT count(*) FROM {session} WHERE idle_expires < %s",
    "delete_dead": "DELETE FROM {session} WHERE idle_expires < %s",
    "delete_dead_batch": (
        "DELETE FROM {session} WHERE id IN "
        "(SELECT id FROM {session} WHERE idle_expires < %s LIMIT %s FOR UPDATE SKIP LOCKED)"
    ),
}


def _check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"invalid {what} {name!r}")
    return name


def _sql_type(kind: str) -> sql.SQL:
    return sql.SQL(check_column_type(kind))  # a checked type name, never user data


class PostgresAdapter:
    """Users and sessions in PostgreSQL, shared safely by any number of processes.

    >>> adapter = PostgresAdapter("postgresql://app@db/app", schema="auth")
    >>> adapter.create_tables(user_attributes={"username": "TEXT"})

    :param conninfo: a libpq DSN or URL; the adapter opens (and closes) a pool.
    :param pool: an existing :class:`psycopg_pool.ConnectionPool` instead
        (left open by :meth:`close`).
    :param schema: the schema holding ``"user"`` and ``"session"``; ``None``
        uses the connection's ``search_path``.
    :param prepare: prepare statements server-side (turn off behind a pooler
        that cannot keep them, such as PgBouncer in transaction mode before 1.21).
    """

    def __init__(
        self, conninfo: str | None = None, *, pool: ConnectionPool | None = None, schema: str | None = None,
        min_size: int = 1, max_size: int = 10, timeout: float = 30.0, prepare: bool = True,
    ) -> None:
        if (conninfo is None) == (pool is None):
            raise TypeError("pass exactly one of conninfo and pool")
        self.schema = None if schema is None else _check_name(schema, "schema name")
        self._owns_pool = pool is None
        if pool is None:
            pool = ConnectionPool(conninfo or "", min_size=min_size, max_size=max_size, timeout=timeout,
                                  kwargs={"autocommit": True}, open=True, name="lucia_wsgi")
        self.pool = pool
        self._prepare = bool(prepare)  # False: never prepare (psycopg reads None as "after 5 runs")
        self._queries: dict[str, str] | None = None
        self._columns: frozenset[str] | None = None
        self._joint_names: dict[tuple[bytes, ...], list[str]] = {}

    def __repr__(self) -> str:
        return f"<PostgresAdapter schema={self.schema!r}>"

    def close(self) -> None:
        """Close the pool if this adapter opened it."""
        if self._owns_pool:
            self.pool.close()

    # connections and statements

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name) if self.schema else sql.Identifier(name)

    def _render(self, conn: Connection[Any]) -> dict[str, str]:
        """The statements as text, rendered once (quoting identifiers needs a connection)."""
        if self._queries is None:
            tables = {"user": self._table("user"), "session": self._table("session")}
            self._queries = {key: sql.SQL(text).format(**tables).as_string(conn)
                             for key, text in _STATEMENTS.items()}
        return self._queries

    @contextmanager
    def _connection(self) -> Iterator[tuple[Connection[Any], dict[str, str]]]:
        with self.pool.connection() as conn:
            yield conn, self._queries or self._render(conn)

    def _user_columns_of(self, result: PGresult, conn: Connection[Any]) -> list[str]:
        """The names of a joint read's user columns (decoded once per shape of the table)."""
        raw = tuple(result.fname(i) or b"" for i in range(4, result.nfields))
        names = self._joint_names.get(raw)
        if names is None:
            encoding = conn.info.encoding
            names = self._joint_names[raw] = [name.decode(encoding) for name in raw]
        return names

    def _execute(self, cursor: Cursor[Any], query: str | sql.Composed, params: tuple[Any, ...] = ()) -> Cursor[Any]:
        """Run a statement whose result has the ``user`` table's columns (``SELECT *``,
        ``RETURNING *``), surviving a table that changed shape under its prepared plan."""
        try:
            return cursor.execute(query, params, prepare=self._prepare)
        except errors.FeatureNotSupported:
            # "cached plan must not change result type": a column was added or
            # dropped (say, by `lucia-wsgi init --attr` while the app runs).
            # Drop this connection's prepared statements (psycopg forgets its
            # own on DEALLOCATE ALL) and run it again; a second failure is real.
            # The failed statement changed nothing: the check precedes execution.
            conn = cursor.connection
            if conn.info.transaction_status == TransactionStatus.INERROR:
                conn.rollback()
            conn.execute("DEALLOCATE ALL")
            return cursor.execute(query, params, prepare=self._prepare)

    def _one(self, key: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._connection() as (conn, q):
            return conn.execute(q[key], params, prepare=self._prepare).fetchone()

    def _user(self, key: str, params: tuple[Any, ...]) -> UserRow | None:
        with self._connection() as (conn, q):
            return self._execute(conn.cursor(row_factory=dict_row), q[key], params).fetchone()

    def _rowcount(self, key: str, params: tuple[Any, ...]) -> int:
        with self._connection() as (conn, q):
            return conn.execute(q[key], params, prepare=self._prepare).rowcount

    def create_tables(self, user_attributes: Mapping[str, str] | None = None) -> None:
        """Create the schema, tables and indexes if missing; attribute columns as ``{name: SQL type}``.

        Attribute columns missing from an existing ``user`` table are added.
        Safe to run again, and from several processes at once.
        """
        attributes = [(_check_name(name, "column name"), _sql_type(kind))
                      for name, kind in dict(user_attributes or {}).items()]
        user, session = self._table("user"), self._table("session")
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            if self.schema:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, "
                                 "provider_id TEXT NOT NULL UNIQUE, hashed_password TEXT)").format(user))
            for name, kind in attributes:
                conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    user, sql.Identifier(name), kind))
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, "
                                 "user_id TEXT NOT NULL REFERENCES {}(id), "
                                 "expires BIGINT NOT NULL, idle_expires BIGINT NOT NULL)").format(session, user))
            conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS session_user_id ON {} (user_id)").format(session))
            conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS session_idle_expires ON {} (idle_expires)")
                         .format(session))
        self._columns = None

    def has_tables(self) -> bool:
        """Whether the ``user`` and ``session`` tables exist (``create_tables`` ran)."""
        with self.pool.connection() as conn:
            names = [self._table(name).as_string(conn) for name in ("user", "session")]
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL", names).fetchone()
        return bool(row and row[0])

    def user_columns(self) -> frozenset[str]:
        """The ``user`` table's columns, read from the database once."""
        if self._columns is None:
            with self._connection() as (conn, q):
                description = self._execute(conn.cursor(), q["user_columns"]).description or []
            self._columns = frozenset(column.name for column in description)
        return self._columns

    def _check(self, values: Mapping[str, Any]) -> None:
        try:
            check_user_values(values, self.user_columns())
        except ValueError:
            self._columns = None  # another process may have added the column since: look again
            check_user_values(values, self.user_columns())

    # users

    def get_user(self, user_id: str) -> UserRow | None:
        return self._user("get_user", (user_id,))

    def get_user_by_provider_id(self, provider_id: str) -> UserRow | None:
        return self._user("get_user_by_provider_id", (provider_id,))

    def set_user(self, user_id: str | None, values: Mapping[str, Any]) -> UserRow:
        self._check(values)
        row = {"id": user_id or new_user_id(), **values}
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
            self._table("user"), sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() * len(row)))
        try:
            with self.pool.connection() as conn:
                stored = self._execute(conn.cursor(row_factory=dict_row), statement, tuple(row.values())).fetchone()
        except errors.UniqueViolation as error:
            raise _user_error(error) from None
        assert stored is not None
        return stored

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> UserRow:
        self._check(values)
        if not values:
            stored = self.get_user(user_id)
        else:
            statement = sql.SQL("UPDATE {} SET {} WHERE id = %s RETURNING *").format(
                self._table("user"),
                sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in values))
            try:
                with self.pool.connection() as conn:
                    stored = self._execute(conn.cursor(row_factory=dict_row), statement,
                                           (*values.values(), user_id)).fetchone()
            except errors.UniqueViolation as error:
                raise _user_error(error) from None
        if stored is None:
            raise LuciaError("AUTH_INVALID_USER_ID")
        return stored

    def delete_user(self, user_id: str) -> None:
        with self._connection() as (conn, q), conn.transaction():
            conn.execute(q["delete_sessions_by_user_id"], (user_id,), prepare=self._prepare)
            conn.execute(q["delete_user"], (user_id,), prepare=self._prepare)

    # sessions

    def get_session(self, session_id: str) -> SessionRow | None:
        row = self._one("get_session", (session_id,))
        return None if row is None else SessionRow(*row)

    def get_session_and_user_by_session_id(self, session_id: str) -> tuple[SessionRow, UserRow] | None:
        # The hot path of every authenticated request: no helper layers.
        with self.pool.connection() as conn:
            query = (self._queries or self._render(conn))["get_session_and_user"]
            cursor = self._execute(conn.cursor(), query, (session_id,))
            row = cursor.fetchone()
            if row is None:
                return None
            names = self._user_columns_of(cursor.pgresult, conn)  # type: ignore[arg-type]
        return SessionRow(row[0], row[1], row[2], row[3]), dict(zip(names, row[4:], strict=True))

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        with self._connection() as (conn, q):
            rows = conn.execute(q["get_sessions_by_user_id"], (user_id,), prepare=self._prepare).fetchall()
        return [SessionRow(*row) for row in rows]

    def set_session(self, row: SessionRow) -> None:
        try:
            self._rowcount("set_session", tuple(row))
        except (errors.UniqueViolation, errors.ForeignKeyViolation) as error:
            raise _session_error(error) from None

    def delete_session(self, *session_ids: str) -> None:
        if session_ids:
            self._rowcount("delete_session", (list(session_ids),))

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        self._rowcount("delete_sessions_by_user_id", (user_id,))

    def replace_session(self, expected: SessionRow, new: SessionRow, shortened: SessionRow) -> bool:
        params = (shortened.expires, shortened.idle_expires, expected.id, expected.expires, expected.idle_expires,
                  *new)
        try:
            return self._rowcount("replace_session", params) == 1
        except (errors.UniqueViolation, errors.ForeignKeyViolation) as error:
            raise _session_error(error) from None

    # maintenance

    def count_dead_sessions(self, now: int) -> int:
        row = self._one("count_dead", (now,))
        assert row is not None
        return int(row[0])

    def delete_dead_sessions(self, now: int, limit: int | None = None) -> int:
        """Delete sessions dead at ``now`` (ms), at most ``limit``; returns how many went."""
        if limit is None:
            return self._rowcount("delete_dead", (now,))
        return self._rowcount("delete_dead_batch", (now, limit))


def _user_error(error: errors.UniqueViolation) -> LuciaError:
    diag = error.diag
    if "provider_id" in (diag.constraint_name or "") or "(provider_id)" in (diag.message_detail or ""):
        return LuciaError("AUTH_DUPLICATE_PROVIDER_ID")
    return LuciaError("AUTH_DUPLICATE_USER_DATA")


def _session_error(error: errors.UniqueViolation | errors.ForeignKeyViolation) -> LuciaError:
    if isinstance(error, errors.ForeignKeyViolation):
        return LuciaError("AUTH_INVALID_USER_ID")
    return LuciaError("AUTH_DUPLICATE_SESSION_ID")
