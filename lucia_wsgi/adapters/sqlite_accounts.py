"""SQLite tables and methods for throttles, one-time tokens and codes (``SQLiteAdapter``'s part).

Ours alone: a Lucia app never reads them. ``create_tables()`` makes them, and
so does the first use in a database a Lucia app made (``CREATE TABLE IF NOT
EXISTS``, nothing of Lucia's touched).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..errors import LuciaError
from .base import CodeRow, TokenRow

__all__ = ["ACCOUNT_SCHEMA", "SQLiteAccounts"]

#: The tables of throttles, one-time tokens and codes (ours: a Lucia app never reads them).
ACCOUNT_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lucia_throttle (key TEXT PRIMARY KEY, tat INTEGER NOT NULL)",
    'CREATE TABLE IF NOT EXISTS lucia_token (id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL '
    'REFERENCES "user"(id) ON DELETE CASCADE, expires INTEGER NOT NULL, bound TEXT)',
    "CREATE INDEX IF NOT EXISTS lucia_token_user_id ON lucia_token(user_id)",
    'CREATE TABLE IF NOT EXISTS lucia_code (kind TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES "user"(id) '
    "ON DELETE CASCADE, digest TEXT NOT NULL, expires INTEGER NOT NULL, attempts INTEGER NOT NULL, "
    "PRIMARY KEY (kind, user_id))",
)


class SQLiteAccounts:
    """The :class:`~lucia_wsgi.adapters.base.AccountAdapter` methods, over ``connection`` and ``_transaction``."""

    if TYPE_CHECKING:  # SQLiteAdapter's
        @property
        def connection(self) -> sqlite3.Connection: ...

        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _account(self, statement: str, params: tuple[Any, ...] = (), *, fetch: bool = False) -> Any:
        """Run an account statement (its tables created first if this database lacks them)."""
        for attempt in (1, 2):
            try:
                cursor = self.connection.execute(statement, params)
                return cursor.fetchone() if fetch else cursor.rowcount
            except sqlite3.OperationalError as error:
                if attempt == 2 or "no such table: lucia_" not in str(error):
                    raise
                with self._transaction() as conn:
                    for schema in ACCOUNT_SCHEMA:
                        conn.execute(schema)
            except sqlite3.IntegrityError as error:
                raise LuciaError("AUTH_INVALID_USER_ID") if "FOREIGN KEY" in str(error) else error from None
        raise AssertionError("unreachable")

    def get_throttle(self, key: str) -> int | None:
        row = self._account("SELECT tat FROM lucia_throttle WHERE key = ?", (key,), fetch=True)
        return None if row is None else int(row[0])

    def set_throttle(self, key: str, expected: int | None, tat: int) -> bool:
        if expected is None:
            return bool(self._account("INSERT OR IGNORE INTO lucia_throttle (key, tat) VALUES (?, ?)", (key, tat)))
        return bool(self._account("UPDATE lucia_throttle SET tat = ? WHERE key = ? AND tat = ?", (tat, key, expected)))

    def set_token(self, row: TokenRow) -> None:
        self._account("INSERT INTO lucia_token (id, kind, user_id, expires, bound) VALUES (?, ?, ?, ?, ?)",
                      tuple(row))

    def pop_token(self, token_id: str) -> TokenRow | None:
        self._account("SELECT 1 FROM lucia_token LIMIT 0")  # the table exists
        with self._transaction() as conn:
            row = conn.execute("SELECT id, kind, user_id, expires, bound FROM lucia_token WHERE id = ?",
                               (token_id,)).fetchone()
            if row is not None:
                conn.execute("DELETE FROM lucia_token WHERE id = ?", (token_id,))
        return None if row is None else TokenRow(*row)

    def delete_tokens(self, user_id: str, kind: str | None = None) -> None:
        self._account("DELETE FROM lucia_token WHERE user_id = ? AND (? IS NULL OR kind = ?)", (user_id, kind, kind))

    def set_code(self, row: CodeRow) -> None:
        self._account("INSERT INTO lucia_code (kind, user_id, digest, expires, attempts) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT (kind, user_id) DO UPDATE SET digest = excluded.digest, "
                      "expires = excluded.expires, attempts = excluded.attempts", tuple(row))

    def get_code(self, kind: str, user_id: str) -> CodeRow | None:
        row = self._account("SELECT kind, user_id, digest, expires, attempts FROM lucia_code "
                            "WHERE kind = ? AND user_id = ?", (kind, user_id), fetch=True)
        return None if row is None else CodeRow(*row)

    def count_code_attempt(self, row: CodeRow) -> bool:
        return self._account("UPDATE lucia_code SET attempts = attempts + 1 WHERE kind = ? AND user_id = ? "
                             "AND digest = ? AND attempts = ?", (row.kind, row.user_id, row.digest,
                                                                 row.attempts)) == 1

    def delete_code(self, row: CodeRow) -> bool:
        return self._account("DELETE FROM lucia_code WHERE kind = ? AND user_id = ? AND digest = ?",
                             (row.kind, row.user_id, row.digest)) == 1

    def delete_codes(self, user_id: str, kind: str | None = None) -> None:
        self._account("DELETE FROM lucia_code WHERE user_id = ? AND (? IS NULL OR kind = ?)", (user_id, kind, kind))

    def delete_expired(self, now: int) -> int:
        """Delete full throttle buckets and tokens and codes expired at ``now``; returns how many."""
        return sum(self._account(f"DELETE FROM {table} WHERE {column} < ?", (now,)) for table, column in
                   (("lucia_throttle", "tat"), ("lucia_token", "expires"), ("lucia_code", "expires")))
