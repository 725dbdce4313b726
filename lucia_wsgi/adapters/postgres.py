"""PostgreSQL store on psycopg 3 with a connection pool, Lucia's schema.

Each call borrows a pooled connection for one statement (autocommit), so
every write is committed before the call returns and is seen by every other
process. The statements and their meaning are in
:mod:`~lucia_wsgi.adapters.postgres_sql` (shared with
:class:`~lucia_wsgi.adapters.AsyncPostgresAdapter`); the hot ones are
prepared server-side on first use.

A pooled connection the server dropped (a restart, a failover,
``pg_terminate_backend``) is found when a statement fails on it: the pool
then checks all its idle connections, replacing the dead ones, and the
statement runs once more when that is safe (reads, and writes whose
repetition changes nothing; never an INSERT).

Driver errors that mean a Lucia error are translated (unique and foreign-key
violations); anything else, a lost connection included, propagates as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .base import missing_driver, then_sync

try:
    import psycopg
    from psycopg import Connection, Cursor, errors, sql
    from psycopg.pq import TransactionStatus
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool
except ModuleNotFoundError as error:
    raise missing_driver(error, "PostgresAdapter", "postgres", ("psycopg", "psycopg_pool")) from error

from .postgres_sql import (
    Params,
    ParamSource,
    PostgresStore,
    Queries,
    closed_by_server,
    ddl,
)

__all__ = ["PostgresAdapter"]


class _DeadConnection(Exception):
    """A pooled connection the server had closed, found before use."""


def dead_connection(conn: Connection[Any] | None) -> bool:
    """Whether a failed statement failed because its connection is gone."""
    return conn is not None and (conn.broken or conn.closed)


class PostgresAdapter(PostgresStore):
    """Users and sessions in PostgreSQL, shared safely by any number of processes.

    >>> adapter = PostgresAdapter("postgresql://app@db/app", schema="auth")
    >>> adapter.create_tables(user_attributes={"username": "TEXT"})

    :param conninfo: a libpq DSN or URL; the adapter opens (and closes) a pool.
    :param pool: an existing :class:`psycopg_pool.ConnectionPool` instead
        (left open by :meth:`close`; it must use ``autocommit=True`` connections).
    :param schema: the schema holding ``"user"`` and ``"session"``; ``None``
        uses the connection's ``search_path``.
    :param prepare: prepare statements server-side (turn off behind a pooler
        that cannot keep them, such as PgBouncer in transaction mode before 1.21).
    """

    pool: ConnectionPool

    def __init__(
        self, conninfo: str | None = None, *, pool: ConnectionPool | None = None, schema: str | None = None,
        min_size: int = 1, max_size: int = 10, timeout: float = 30.0, prepare: bool = True,
    ) -> None:
        if (conninfo is None) == (pool is None):
            raise TypeError("pass exactly one of conninfo and pool")
        self._owns_pool = pool is None
        if pool is None:
            pool = ConnectionPool(conninfo or "", min_size=min_size, max_size=max_size, timeout=timeout,
                                  kwargs={"autocommit": True}, open=True, name="lucia_wsgi")
        self._set_up(pool, schema, prepare)

    def __repr__(self) -> str:
        return f"<PostgresAdapter schema={self.schema!r}>"

    def close(self) -> None:
        """Close the pool if this adapter opened it."""
        if self._owns_pool:
            self.pool.close()

    # running statements

    def _queries(self, conn: Connection[Any]) -> Queries:
        """The statements for this schema and ``session`` table, rendered on first use."""
        if self._q is None:
            table = sql.SQL("SELECT * FROM {} LIMIT 0").format(self._table("session"))
            description = self._execute(conn.cursor(), table, ()).description or []
            self._q = Queries(lambda text: text.as_string(conn), self._table,
                              frozenset(column.name for column in description))
        return self._q

    def _execute(self, cursor: Cursor[Any], query: str | sql.Composed, params: Params) -> Cursor[Any]:
        """Run a statement, surviving a ``SELECT *`` whose table changed shape under its prepared plan."""
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

    def _with_retry(self, work: Callable[[Connection[Any]], Any], retry: bool,
                    on_error: Callable[[Exception], Any] | None) -> Any:
        """``work`` on a pooled connection; once more on a fresh one if the first was dead.

        A statement that must not run twice (``retry=False``) runs only on a
        connection that :func:`closed_by_server` clears; the others may
        fail on a dead one and run again.
        """
        for attempt in (1, 2):
            conn: Connection[Any] | None = None
            try:
                with self.pool.connection() as conn:
                    if not retry and attempt == 1 and closed_by_server(conn):
                        conn.close()  # the pool drops a closed connection when it comes back
                        raise _DeadConnection
                    return work(conn)
            except _DeadConnection:
                self.pool.check()
            except psycopg.OperationalError as error:
                if attempt == 2 or not retry or not dead_connection(conn):
                    if on_error is None:
                        raise
                    return on_error(error)
                self.pool.check()  # every idle connection the server dropped goes too
            except psycopg.Error as error:
                if on_error is None:
                    raise
                return on_error(error)
        raise AssertionError("unreachable")

    def _run(self, key: str, params: ParamSource, result: str, *, retry: bool = True,
             on_error: Callable[[Exception], Any] | None = None) -> Any:
        def work(conn: Connection[Any]) -> Any:
            queries = self._q or self._queries(conn)
            values = params(queries) if callable(params) else params
            if result == "user":
                return self._execute(conn.cursor(row_factory=dict_row), queries.text[key], values).fetchone()
            cursor = self._execute(conn.cursor(), queries.text[key], values)
            if result == "rowcount":
                return cursor.rowcount
            if result == "all":
                return cursor.fetchall()
            row = cursor.fetchone()
            if result == "joint" and row is not None:
                return row, self._user_columns_of(cursor, conn)
            return row

        return self._with_retry(work, retry, on_error)

    def _run_user(self, statement: sql.Composed, params: Params, on_error: Callable[[Exception], Any]) -> Any:
        return self._with_retry(
            lambda conn: self._execute(conn.cursor(row_factory=dict_row), statement, params).fetchone(),
            False, on_error)

    def _then(self, value: Any, function: Callable[[Any], Any]) -> Any:
        return then_sync(value, function)

    def _user_columns_of(self, cursor: Cursor[Any], conn: Connection[Any]) -> list[str]:
        return self._joint_user_columns(cursor.pgresult, conn.info.encoding)

    # schema

    def create_tables(self, user_attributes: Mapping[str, str] | None = None) -> None:
        """Create the schema, tables and indexes if missing; attribute columns as ``{name: SQL type}``.

        Attribute columns missing from an existing ``user`` table, and our
        nullable ``session`` columns, are added. Safe to run again, and from
        several processes at once.
        """
        self._run_script(ddl(self._table, self.schema, self._attribute_types(user_attributes)))
        self._columns, self._q = None, None

    def _run_script(self, statements: Sequence[sql.Composed]) -> None:
        with self.pool.connection() as conn, conn.transaction():
            for statement in statements:
                conn.execute(statement)

    def has_tables(self) -> bool:
        """Whether the ``user`` and ``session`` tables exist (``create_tables`` ran)."""
        with self.pool.connection() as conn:
            names = [self._table(name).as_string(conn) for name in ("user", "session")]
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL", names).fetchone()
        return bool(row and row[0])

    def user_columns(self) -> frozenset[str]:
        """The ``user`` table's columns, read from the database once."""
        if self._columns is None:
            description = self._with_retry(
                lambda conn: self._execute(conn.cursor(), (self._q or self._queries(conn)).text["user_columns"],
                                           ()).description, True, None) or []
            self._columns = frozenset(column.name for column in description)
        return self._columns
