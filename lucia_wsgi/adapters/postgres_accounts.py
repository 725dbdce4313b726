"""PostgreSQL tables, statements and methods for throttles, one-time tokens and codes.

Ours alone: a Lucia app never reads them. ``create_tables()`` makes them, and
so does the first statement that finds one missing (in a database a Lucia
app made). Shared by ``PostgresAdapter`` and ``AsyncPostgresAdapter`` as the
rest of :mod:`~lucia_wsgi.adapters.postgres_sql` is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from psycopg import errors, sql

from ..errors import LuciaError
from .base import CodeRow, TokenRow

__all__ = ["ACCOUNT_STATEMENTS", "SCHEMA_LOCK", "PostgresAccounts", "account_ddl"]

#: Serialises concurrent create_tables() calls (CREATE ... IF NOT EXISTS races).
SCHEMA_LOCK = 0x6C75636961
Params = tuple[Any, ...]

#: The SQL of the throttle, token and code methods, by name; the ``{lucia_throttle}``-style fields
#: are filled in with the schema-qualified table names.
ACCOUNT_STATEMENTS = {
    "get_throttle": "SELECT tat FROM {lucia_throttle} WHERE key = %s",
    "insert_throttle": "INSERT INTO {lucia_throttle} (key, tat) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
    "update_throttle": "UPDATE {lucia_throttle} SET tat = %s WHERE key = %s AND tat = %s",
    "set_token": "INSERT INTO {lucia_token} (id, kind, user_id, expires, bound) VALUES (%s, %s, %s, %s, %s)",
    "pop_token": "DELETE FROM {lucia_token} WHERE id = %s RETURNING id, kind, user_id, expires, bound",
    "delete_tokens": "DELETE FROM {lucia_token} WHERE user_id = %s AND (%s::text IS NULL OR kind = %s)",
    "set_code": ("INSERT INTO {lucia_code} (kind, user_id, digest, expires, attempts) VALUES (%s, %s, %s, %s, %s) "
                 "ON CONFLICT (kind, user_id) DO UPDATE SET digest = EXCLUDED.digest, expires = EXCLUDED.expires, "
                 "attempts = EXCLUDED.attempts"),
    "get_code": "SELECT kind, user_id, digest, expires, attempts FROM {lucia_code} WHERE kind = %s AND user_id = %s",
    "count_code_attempt": ("UPDATE {lucia_code} SET attempts = attempts + 1 "
                           "WHERE kind = %s AND user_id = %s AND digest = %s AND attempts = %s"),
    "delete_code": "DELETE FROM {lucia_code} WHERE kind = %s AND user_id = %s AND digest = %s",
    "delete_codes": "DELETE FROM {lucia_code} WHERE user_id = %s AND (%s::text IS NULL OR kind = %s)",
    "delete_expired": ("WITH a AS (DELETE FROM {lucia_throttle} WHERE tat < %s RETURNING 1), "
                       "b AS (DELETE FROM {lucia_token} WHERE expires < %s RETURNING 1), "
                       "c AS (DELETE FROM {lucia_code} WHERE expires < %s RETURNING 1) "
                       "SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) + (SELECT count(*) FROM c)"),
}


def account_ddl(table: Callable[[str], sql.Identifier]) -> list[sql.Composed]:
    """Throttles, one-time tokens and codes: ours, a Lucia app never reads them."""
    user, throttle, token, code = (table(name) for name in ("user", "lucia_throttle", "lucia_token", "lucia_code"))
    return [
        sql.SQL("SELECT pg_advisory_xact_lock({})").format(sql.Literal(SCHEMA_LOCK)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, tat BIGINT NOT NULL)").format(throttle),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL "
                "REFERENCES {}(id) ON DELETE CASCADE, expires BIGINT NOT NULL, bound TEXT)").format(token, user),
        sql.SQL("CREATE INDEX IF NOT EXISTS lucia_token_user_id ON {} (user_id)").format(token),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (kind TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES {}(id) "
                "ON DELETE CASCADE, digest TEXT NOT NULL, expires BIGINT NOT NULL, attempts INTEGER NOT NULL, "
                "PRIMARY KEY (kind, user_id))").format(code, user),
    ]


def _account_error(error: Exception) -> Any:
    if isinstance(error, errors.ForeignKeyViolation):
        raise LuciaError("AUTH_INVALID_USER_ID") from None
    raise error


class PostgresAccounts(ABC):
    """The :class:`~lucia_wsgi.adapters.base.AccountAdapter` methods over ``_run``/``_then``."""

    @abstractmethod
    def _run(self, key: str, params: Any, result: str, *, retry: bool = True,
             on_error: Callable[[Exception], Any] | None = None) -> Any:
        """Run statement ``key``; give its ``result`` (``"one"``, ``"all"``, ``"rowcount"``,
        ``"user"``: one row as a dict, ``"joint"``: the row and the user column names).

        ``retry``: the statement may run again on a fresh connection when a
        pooled one turns out dead (reads, and writes whose repetition changes
        nothing; never an INSERT). ``on_error`` maps a driver error.
        """

    @abstractmethod
    def _then(self, value: Any, function: Callable[[Any], Any]) -> Any:
        """``function(value)``, or for an awaitable, a coroutine of it."""

    @abstractmethod
    def _run_script(self, statements: Sequence[sql.Composed]) -> Any:
        """Run ``statements`` in one transaction."""

    @abstractmethod
    def _table(self, name: str) -> sql.Identifier:
        """The quoted name of table ``name`` in the store's schema."""

    def _account(self, key: str, params: Params, result: str, *, retry: bool = False) -> Any:
        def missing(error: Exception) -> Any:
            if isinstance(error, errors.UndefinedTable):
                return self._then(self._run_script(account_ddl(self._table)),
                                  lambda _: self._run(key, params, result, retry=retry, on_error=_account_error))
            return _account_error(error)

        return self._run(key, params, result, retry=retry, on_error=missing)

    def get_throttle(self, key: str) -> Any:
        return self._then(self._account("get_throttle", (key,), "one", retry=True),
                          lambda row: None if row is None else int(row[0]))

    def set_throttle(self, key: str, expected: int | None, tat: int) -> Any:
        if expected is None:
            return self._then(self._account("insert_throttle", (key, tat), "rowcount"), _changed)
        return self._then(self._account("update_throttle", (tat, key, expected), "rowcount"), _changed)

    def set_token(self, row: TokenRow) -> Any:
        return self._then(self._account("set_token", tuple(row), "rowcount"), _nothing)

    def pop_token(self, token_id: str) -> Any:
        return self._then(self._account("pop_token", (token_id,), "one"),
                          lambda row: None if row is None else TokenRow(*row))

    def delete_tokens(self, user_id: str, kind: str | None = None) -> Any:
        return self._then(self._account("delete_tokens", (user_id, kind, kind), "rowcount", retry=True), _nothing)

    def set_code(self, row: CodeRow) -> Any:
        return self._then(self._account("set_code", tuple(row), "rowcount", retry=True), _nothing)

    def get_code(self, kind: str, user_id: str) -> Any:
        return self._then(self._account("get_code", (kind, user_id), "one", retry=True),
                          lambda row: None if row is None else CodeRow(*row))

    def count_code_attempt(self, row: CodeRow) -> Any:
        return self._then(self._account("count_code_attempt", (row.kind, row.user_id, row.digest, row.attempts),
                                        "rowcount"), _changed)

    def delete_code(self, row: CodeRow) -> Any:
        return self._then(self._account("delete_code", (row.kind, row.user_id, row.digest), "rowcount"), _changed)

    def delete_codes(self, user_id: str, kind: str | None = None) -> Any:
        return self._then(self._account("delete_codes", (user_id, kind, kind), "rowcount", retry=True), _nothing)

    def delete_expired(self, now: int) -> Any:
        """Delete full throttle buckets and tokens and codes expired at ``now``; returns how many."""
        return self._then(self._account("delete_expired", (now, now, now), "one", retry=True), _first_int)


def _changed(count: int) -> bool:
    return count == 1


def _nothing(_: object) -> None:
    return None


def _first_int(row: tuple[Any, ...] | None) -> int:
    assert row is not None
    return int(row[0])
