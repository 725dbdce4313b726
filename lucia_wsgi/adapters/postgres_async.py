"""PostgreSQL store on psycopg 3's ``AsyncConnectionPool``, for asyncio applications (ASGI).

The same tables, statements and rules as
:class:`~lucia_wsgi.adapters.PostgresAdapter` (every protocol method is in
:mod:`~lucia_wsgi.adapters.postgres_sql`); each method returns a coroutine,
which ``auth.aio`` awaits on the event loop. The pool opens on first use (or
``await adapter.open()``), inside the running event loop as psycopg requires.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .base import missing_driver, then_async

try:
    import psycopg
    from psycopg import AsyncConnection, AsyncCursor, errors, sql
    from psycopg.pq import TransactionStatus
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool
except ModuleNotFoundError as error:
    raise missing_driver(error, "AsyncPostgresAdapter", "postgres", ("psycopg", "psycopg_pool")) from error

from .postgres_sql import Params, ParamSource, PostgresStore, Queries, closed_by_server, ddl

__all__ = ["AsyncPostgresAdapter"]


async def _settled(value: Any) -> Any:
    """``value``, awaited if it is awaitable (what an error mapping gave: a value or more work)."""
    return await value if inspect.isawaitable(value) else value


class _DeadConnection(Exception):
    """A pooled connection the server had closed, found before use."""


class AsyncPostgresAdapter(PostgresStore):
    """Users and sessions in PostgreSQL for asyncio code (``auth.aio``, the ASGI middleware).

    >>> adapter = AsyncPostgresAdapter("postgresql://app@db/app", schema="auth")
    >>> await adapter.create_tables(user_attributes={"username": "TEXT"})

    The parameters are :class:`~lucia_wsgi.adapters.PostgresAdapter`'s, with
    an :class:`psycopg_pool.AsyncConnectionPool` for ``pool``. Call
    :meth:`aclose` (or use ``async with``) when done.
    """

    #: Its methods return coroutines without being ``async def`` (they are the shared
    #: statement code), so ``Auth`` is told to await them rather than run them in threads.
    asyncio_store = True

    pool: AsyncConnectionPool

    def __init__(
        self, conninfo: str | None = None, *, pool: AsyncConnectionPool | None = None, schema: str | None = None,
        min_size: int = 1, max_size: int = 10, timeout: float = 30.0, prepare: bool = True,
    ) -> None:
        if (conninfo is None) == (pool is None):
            raise TypeError("pass exactly one of conninfo and pool")
        self._owns_pool = pool is None
        if pool is None:
            pool = AsyncConnectionPool(conninfo or "", min_size=min_size, max_size=max_size, timeout=timeout,
                                       kwargs={"autocommit": True}, open=False, name="lucia_wsgi")
        self._set_up(pool, schema, prepare)
        self._opening: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"<AsyncPostgresAdapter schema={self.schema!r}>"

    async def open(self) -> None:
        """Open the pool (done on first use otherwise)."""
        if self._owns_pool and self.pool.closed:
            if self._opening is None:
                self._opening = asyncio.Lock()
            async with self._opening:
                if self.pool.closed:
                    await self.pool.open()

    async def aclose(self) -> None:
        """Close the pool if this adapter opened it."""
        if self._owns_pool and not self.pool.closed:
            await self.pool.close()

    async def __aenter__(self) -> AsyncPostgresAdapter:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # running statements

    async def _queries(self, conn: AsyncConnection[Any]) -> Queries:
        if self._q is None:
            table = sql.SQL("SELECT * FROM {} LIMIT 0").format(self._table("session"))
            description = (await self._execute(conn.cursor(), table, ())).description or []
            self._q = Queries(lambda text: text.as_string(conn), self._table,
                              frozenset(column.name for column in description))
        return self._q

    async def _execute(self, cursor: AsyncCursor[Any], query: str | sql.Composed, params: Params) -> AsyncCursor[Any]:
        """Run a statement, surviving a ``SELECT *`` whose table changed shape under its prepared plan."""
        try:
            return await cursor.execute(query, params, prepare=self._prepare)
        except errors.FeatureNotSupported:  # "cached plan must not change result type": see PostgresAdapter
            conn = cursor.connection
            if conn.info.transaction_status == TransactionStatus.INERROR:
                await conn.rollback()
            await conn.execute("DEALLOCATE ALL")
            return await cursor.execute(query, params, prepare=self._prepare)

    async def _with_retry(self, work: Callable[[AsyncConnection[Any]], Awaitable[Any]], retry: bool,
                          on_error: Callable[[Exception], Any] | None) -> Any:
        """``work`` on a pooled connection, as :meth:`PostgresAdapter._with_retry` does."""
        await self.open()
        for attempt in (1, 2):
            conn: AsyncConnection[Any] | None = None
            try:
                async with self.pool.connection() as conn:
                    if not retry and attempt == 1 and closed_by_server(conn):
                        await conn.close()
                        raise _DeadConnection
                    return await work(conn)
            except _DeadConnection:
                await self.pool.check()
            except psycopg.OperationalError as error:
                if attempt == 2 or not retry or conn is None or not (conn.broken or conn.closed):
                    if on_error is None:
                        raise
                    return await _settled(on_error(error))
                await self.pool.check()
            except psycopg.Error as error:
                if on_error is None:
                    raise
                return await _settled(on_error(error))
        raise AssertionError("unreachable")

    def _run(self, key: str, params: ParamSource, result: str, *, retry: bool = True,
             on_error: Callable[[Exception], Any] | None = None) -> Any:
        async def work(conn: AsyncConnection[Any]) -> Any:
            queries = self._q or await self._queries(conn)
            values = params(queries) if callable(params) else params
            if result == "user":
                return await (await self._execute(conn.cursor(row_factory=dict_row), queries.text[key],
                                                  values)).fetchone()
            cursor = await self._execute(conn.cursor(), queries.text[key], values)
            if result == "rowcount":
                return cursor.rowcount
            if result == "all":
                return await cursor.fetchall()
            row = await cursor.fetchone()
            if result == "joint" and row is not None:
                return row, self._joint_user_columns(cursor.pgresult, conn.info.encoding)
            return row

        return self._with_retry(work, retry, on_error)

    def _run_user(self, statement: sql.Composed, params: Params, on_error: Callable[[Exception], Any]) -> Any:
        async def work(conn: AsyncConnection[Any]) -> Any:
            return await (await self._execute(conn.cursor(row_factory=dict_row), statement, params)).fetchone()

        return self._with_retry(work, False, on_error)

    def _then(self, value: Any, function: Callable[[Any], Any]) -> Any:
        return then_async(value, function)

    # schema

    async def create_tables(self, user_attributes: Mapping[str, str] | None = None) -> None:
        """Create the schema, tables and indexes if missing (as
        :meth:`lucia_wsgi.adapters.PostgresAdapter.create_tables` does)."""
        await self._run_script(ddl(self._table, self.schema, self._attribute_types(user_attributes)))
        self._columns, self._q = None, None

    async def _run_script(self, statements: Sequence[sql.Composed]) -> None:
        await self.open()
        async with self.pool.connection() as conn, conn.transaction():
            for statement in statements:
                await conn.execute(statement)

    async def has_tables(self) -> bool:
        """Whether the ``user`` and ``session`` tables exist."""
        await self.open()
        async with self.pool.connection() as conn:
            names = [self._table(name).as_string(conn) for name in ("user", "session")]
            row = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
                                            names)).fetchone()
        return bool(row and row[0])

    async def user_columns(self) -> frozenset[str]:
        """The ``user`` table's columns, read from the database once."""
        if self._columns is None:
            async def describe(conn: AsyncConnection[Any]) -> Any:
                queries = self._q or await self._queries(conn)
                return (await self._execute(conn.cursor(), queries.text["user_columns"], ())).description

            self._columns = frozenset(column.name for column in (await self._with_retry(describe, True, None) or []))
        return self._columns
