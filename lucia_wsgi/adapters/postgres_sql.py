"""What the PostgreSQL stores share: the statements, their results, error mapping.

``PostgresAdapter`` (psycopg's ``ConnectionPool``) and ``AsyncPostgresAdapter``
(``AsyncConnectionPool``) differ only in how they run one statement; every
protocol method is written here once, as "run this statement, then turn its
result into that": ``PostgresStore._then`` applies the second step to a
value (sync) or to an awaitable (async).

Every operation is one statement: multi-row writes are data-modifying CTEs,
so each is atomic on its own and no transaction spans two round trips.
Statements are fixed text over quoted identifiers, values are always bound
parameters. A table made by a Lucia app that lacks our nullable ``session``
columns is read and written without them (renewal then works as Lucia 0.3's).
"""

from __future__ import annotations

import re
import select
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import LuciaError
from ..session import SUPERSEDED_RETENTION, SessionRow
from .base import SESSION_COLUMNS, UserRow, check_column_type, check_user_values, new_user_id
from .postgres_accounts import ACCOUNT_STATEMENTS, SCHEMA_LOCK, PostgresAccounts, account_ddl

from psycopg import errors, sql  # isort: skip  (the adapters import this module after checking the driver)

__all__ = ["PostgresStore", "Queries", "account_ddl", "ddl", "user_error", "session_error"]

Params = tuple[Any, ...]
#: Parameters, or a function of the rendered statements giving them (for the
#: statements whose parameters depend on the ``session`` table's columns).
ParamSource = Params | Callable[["Queries"], Params]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXTRA_SESSION_TYPES = {"successor": "TEXT", "predecessor": "TEXT", "created_at": "BIGINT",
                        "last_seen": "BIGINT", "user_agent": "TEXT", "ip_address": "TEXT"}
#: How many columns of a joint read are the session's (the user's follow).
SESSION_WIDTH = len(SESSION_COLUMNS)


def closed_by_server(conn: Any) -> bool:
    """Whether an idle pooled connection was closed by the server (a restart, ``pg_terminate_backend``).

    An idle autocommit connection has nothing to read; one the server closed
    has its farewell or end-of-file waiting. One non-blocking ``select``, no
    round trip: checked before a statement that must not run twice.
    """
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError):  # no socket any more
        return True
    return bool(readable)


def check_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"invalid {what} {name!r}")
    return name


class Queries:
    """The statement texts, rendered once for one schema and one ``session`` table shape."""

    def __init__(self, render: Callable[[sql.Composable], str], table: Callable[[str], sql.Identifier],
                 session_columns: frozenset[str]) -> None:
        tables = {name: table(name) for name in ("user", "session", "lucia_throttle", "lucia_token", "lucia_code")}
        self.links = {"successor", "predecessor"} <= session_columns
        self.last_seen = "last_seen" in session_columns
        present = [name for name in SESSION_COLUMNS if name in session_columns]
        self.insert_indexes = tuple(SESSION_COLUMNS.index(name) for name in present)
        select = ", ".join(name if name in session_columns else "NULL" for name in SESSION_COLUMNS)
        joint = ", ".join(f"s.{name}" if name in session_columns else "NULL" for name in SESSION_COLUMNS)
        columns, marks = ", ".join(present), ", ".join("%s" for _ in present)
        old_guard = ("UPDATE {session} SET successor = %s WHERE id = %s AND expires = %s AND idle_expires = %s "
                     "AND successor IS NOT DISTINCT FROM %s RETURNING id" if self.links else
                     "SELECT id FROM {session} WHERE id = %s AND expires = %s AND idle_expires = %s FOR UPDATE")
        removable = ("idle_expires < %s AND (successor IS NULL OR idle_expires < %s)" if self.links
                     else "idle_expires < %s")
        texts = {
            "get_user": "SELECT * FROM {user} WHERE id = %s",
            "get_user_by_provider_id": "SELECT * FROM {user} WHERE provider_id = %s",
            "user_columns": "SELECT * FROM {user} LIMIT 0",
            "delete_user": ("WITH s AS (DELETE FROM {session} WHERE user_id = %s) "
                            "DELETE FROM {user} WHERE id = %s"),
            "get_session": f"SELECT {select} FROM {{session}} WHERE id = %s",
            "joint": (f"SELECT {joint}, u.* FROM {{session}} AS s JOIN {{user}} AS u ON u.id = s.user_id "
                      "WHERE s.id = %s"),
            "get_sessions_by_user_id": f"SELECT {select} FROM {{session}} WHERE user_id = %s",
            "set_session": f"INSERT INTO {{session}} ({columns}) VALUES ({marks})",
            "delete_session": "DELETE FROM {session} WHERE id = ANY(%s)",
            "delete_sessions_by_user_id": "DELETE FROM {session} WHERE user_id = %s",
            "renew_session": (f"WITH old AS ({old_guard}), "
                              "gone AS (DELETE FROM {session} WHERE id = %s AND EXISTS (SELECT 1 FROM old)) "
                              f"INSERT INTO {{session}} ({columns}) SELECT {marks} FROM old"),
            "confirm_session": (("WITH c AS (UPDATE {session} SET predecessor = NULL WHERE id = %s) " if self.links
                                 else "WITH c AS (SELECT %s) ")
                                + "UPDATE {session} SET expires = LEAST(expires, %s), "
                                  "idle_expires = LEAST(idle_expires, %s) WHERE id = %s"),
            "cut_sessions": ("UPDATE {session} SET expires = LEAST(expires, %s), "
                             "idle_expires = LEAST(idle_expires, %s) WHERE id = ANY(%s)"),
            "extend_session": ("UPDATE {session} SET expires = %s, idle_expires = %s"
                               + (", last_seen = %s" if self.last_seen else "")
                               + " WHERE id = %s AND expires = %s AND idle_expires = %s"),
            "rekey_session": "UPDATE {session} SET id = %s WHERE id = %s",
            "count_dead": f"SELECT count(*) FROM {{session}} WHERE {removable}",
            "delete_dead": f"DELETE FROM {{session}} WHERE {removable}",
            "delete_dead_batch": (f"DELETE FROM {{session}} WHERE id IN (SELECT id FROM {{session}} "
                                  f"WHERE {removable} LIMIT %s FOR UPDATE SKIP LOCKED)"),
            **ACCOUNT_STATEMENTS,
        }
        self.text = {key: render(sql.SQL(text).format(**tables)) for key, text in texts.items()}

    def session_values(self, row: SessionRow) -> Params:
        return tuple(row[i] for i in self.insert_indexes)

    def removable_params(self, now: int) -> Params:
        return (now, now - SUPERSEDED_RETENTION) if self.links else (now,)

    def renew_params(self, expected: SessionRow, successor: str, new: SessionRow, replaced: str | None) -> Params:
        guard = ((successor, expected.id, expected.expires, expected.idle_expires, expected.successor)
                 if self.links else (expected.id, expected.expires, expected.idle_expires))
        return (*guard, replaced, *self.session_values(new))

    def extend_params(self, expected: SessionRow, extended: SessionRow) -> Params:
        last_seen = (extended.last_seen,) if self.last_seen else ()
        return (extended.expires, extended.idle_expires, *last_seen, expected.id, expected.expires,
                expected.idle_expires)


def ddl(table: Callable[[str], sql.Identifier], schema: str | None,
        user_attributes: Sequence[tuple[str, sql.SQL]]) -> list[sql.Composed]:
    """The statements of ``create_tables``, in order (run in one transaction)."""
    user, session = table("user"), table("session")
    statements = [sql.SQL("SELECT pg_advisory_xact_lock({})").format(sql.Literal(SCHEMA_LOCK))]
    if schema:
        statements.append(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    statements.append(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, "
                              "provider_id TEXT NOT NULL UNIQUE, hashed_password TEXT)").format(user))
    statements += [sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(user, sql.Identifier(name), kind)
                   for name, kind in user_attributes]
    statements.append(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, "
                              "user_id TEXT NOT NULL REFERENCES {}(id), "
                              "expires BIGINT NOT NULL, idle_expires BIGINT NOT NULL)").format(session, user))
    # Nullable, so a Lucia app's INSERTs and reads are unaffected.
    statements += [sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
        session, sql.Identifier(name), sql.SQL(kind)) for name, kind in _EXTRA_SESSION_TYPES.items()]
    statements.append(sql.SQL("CREATE INDEX IF NOT EXISTS session_user_id ON {} (user_id)").format(session))
    statements.append(sql.SQL("CREATE INDEX IF NOT EXISTS session_idle_expires ON {} (idle_expires)")
                      .format(session))
    return statements + account_ddl(table)[1:]


# What a driver error means, raised as the Lucia error (or returned as the
# result it stands for); anything else is raised as it is.


def user_error(error: Exception) -> Any:
    """Raise a user write's driver error as Lucia's code: a taken provider id or unique attribute."""
    if not isinstance(error, errors.UniqueViolation):
        raise error
    diag = error.diag
    if "provider_id" in (diag.constraint_name or "") or "(provider_id)" in (diag.message_detail or ""):
        raise LuciaError("AUTH_DUPLICATE_PROVIDER_ID") from None
    raise LuciaError("AUTH_DUPLICATE_USER_DATA") from None


def session_error(error: Exception) -> Any:
    """Raise a session write's driver error as Lucia's code: an unknown user or a taken session id."""
    if isinstance(error, errors.ForeignKeyViolation):
        raise LuciaError("AUTH_INVALID_USER_ID") from None
    if isinstance(error, errors.UniqueViolation):
        raise LuciaError("AUTH_DUPLICATE_SESSION_ID") from None
    raise error


def _already_moved(error: Exception) -> Any:
    if isinstance(error, errors.UniqueViolation):
        return 0  # the digest row exists: another request moved the session first
    raise error


def _session_or_none(row: tuple[Any, ...] | None) -> SessionRow | None:
    return None if row is None else SessionRow(*row)


def _sessions(rows: list[tuple[Any, ...]]) -> list[SessionRow]:
    return [SessionRow(*row) for row in rows]


def _joint(found: tuple[tuple[Any, ...], list[str]] | None) -> tuple[SessionRow, UserRow] | None:
    if found is None:
        return None
    row, names = found
    return SessionRow(*row[:SESSION_WIDTH]), dict(zip(names, row[SESSION_WIDTH:], strict=True))


def _changed(count: int) -> bool:
    return count == 1


def _nothing(_: object) -> None:
    return None


def _must_exist(row: UserRow | None) -> UserRow:  # update_user of an unknown user
    if row is None:
        raise LuciaError("AUTH_INVALID_USER_ID")
    return row


def _first_int(row: tuple[Any, ...] | None) -> int:
    assert row is not None
    return int(row[0])


class PostgresStore(PostgresAccounts):
    """The adapter protocol over "run a statement" (``_run``) and "then" (``_then``)."""

    schema: str | None
    _columns: frozenset[str] | None
    _joint_names: dict[tuple[bytes, ...], list[str]]

    def _set_up(self, pool: Any, schema: str | None, prepare: bool) -> None:
        """The state both adapters start with, over ``pool`` (``self._owns_pool`` already set)."""
        self.schema = None if schema is None else check_name(schema, "schema name")
        self.pool = pool
        self._prepare = bool(prepare)  # False: never prepare (psycopg reads None as "after 5 runs")
        self._q: Queries | None = None
        self._columns = None
        self._joint_names = {}

    # what a concrete store provides

    @abstractmethod
    def _run_user(self, statement: sql.Composed, params: Params, on_error: Callable[[Exception], Any]) -> Any:
        """Run a user INSERT/UPDATE ... RETURNING * (never retried); give the row as a dict or None."""

    @abstractmethod
    def user_columns(self) -> Any:
        """The ``user`` table's columns (read once)."""

    # shared helpers

    def _joint_user_columns(self, result: Any, encoding: str) -> list[str]:
        """The names of a joint read's user columns (decoded once per shape of the table)."""
        assert result is not None
        raw = tuple(result.fname(i) or b"" for i in range(SESSION_WIDTH, result.nfields))
        names = self._joint_names.get(raw)
        if names is None:
            names = self._joint_names[raw] = [name.decode(encoding) for name in raw]
        return names

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name) if self.schema else sql.Identifier(name)

    def _insert_user(self, user_id: str | None, values: Mapping[str, Any]) -> tuple[sql.Composed, Params]:
        row = {"id": user_id or new_user_id(), **values}
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
            self._table("user"), sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(sql.Placeholder() * len(row)))
        return statement, tuple(row.values())

    def _update_user(self, user_id: str, values: Mapping[str, Any]) -> tuple[sql.Composed, Params]:
        statement = sql.SQL("UPDATE {} SET {} WHERE id = %s RETURNING *").format(
            self._table("user"),
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in values))
        return statement, (*values.values(), user_id)

    @staticmethod
    def _attribute_types(user_attributes: Mapping[str, str] | None) -> list[tuple[str, sql.SQL]]:
        return [(check_name(name, "column name"), sql.SQL(check_column_type(kind)))  # checked, never user data
                for name, kind in dict(user_attributes or {}).items()]

    def _checked(self, values: Mapping[str, Any]) -> Any:
        """Check ``values`` against the user columns, reading them again once if one is missing
        (another process may have added it since)."""

        def check(columns: frozenset[str], again: bool = True) -> Any:
            if set(values) <= columns or not again:
                check_user_values(values, columns)
                return columns
            self._columns = None
            return self._then(self.user_columns(), lambda fresh: check(fresh, again=False))

        return self._then(self.user_columns(), check)

    # users

    def set_user(self, user_id: str | None, values: Mapping[str, Any]) -> Any:
        def insert(_: object) -> Any:
            statement, params = self._insert_user(user_id, values)
            return self._run_user(statement, params, user_error)

        return self._then(self._checked(values), insert)

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> Any:
        def update(_: object) -> Any:
            if not values:
                return self._then(self.get_user(user_id), _must_exist)
            statement, params = self._update_user(user_id, values)
            return self._then(self._run_user(statement, params, user_error), _must_exist)

        return self._then(self._checked(values), update)

    def get_user(self, user_id: str) -> Any:
        return self._run("get_user", (user_id,), "user")

    def get_user_by_provider_id(self, provider_id: str) -> Any:
        return self._run("get_user_by_provider_id", (provider_id,), "user")

    def delete_user(self, user_id: str) -> Any:
        return self._then(self._run("delete_user", (user_id, user_id), "rowcount"), _nothing)

    # sessions

    def get_session(self, session_id: str) -> Any:
        return self._then(self._run("get_session", (session_id,), "one"), _session_or_none)

    def get_session_and_user_by_session_id(self, session_id: str) -> Any:
        return self._then(self._run("joint", (session_id,), "joint"), _joint)

    def get_sessions_by_user_id(self, user_id: str) -> Any:
        return self._then(self._run("get_sessions_by_user_id", (user_id,), "all"), _sessions)

    def set_session(self, row: SessionRow) -> Any:
        return self._then(self._run("set_session", lambda q: q.session_values(row), "rowcount", retry=False,
                                    on_error=session_error), _nothing)

    def delete_session(self, *session_ids: str) -> Any:
        return self._then(self._run("delete_session", (list(session_ids),), "rowcount"), _nothing)

    def delete_sessions_by_user_id(self, user_id: str) -> Any:
        return self._then(self._run("delete_sessions_by_user_id", (user_id,), "rowcount"), _nothing)

    def renew_session(self, expected: SessionRow, successor: str, new: SessionRow, replaced: str | None) -> Any:
        return self._then(self._run("renew_session", lambda q: q.renew_params(expected, successor, new, replaced),
                                    "rowcount", retry=False, on_error=session_error), _changed)

    def confirm_session(self, session_id: str, predecessor_id: str, until: int) -> Any:
        return self._then(self._run("confirm_session", (session_id, until, until, predecessor_id), "rowcount"),
                          _nothing)

    def cut_sessions(self, session_ids: Sequence[str], until: int) -> Any:
        return self._then(self._run("cut_sessions", (until, until, list(session_ids)), "rowcount"), _nothing)

    def extend_session(self, expected: SessionRow, extended: SessionRow) -> Any:
        return self._then(self._run("extend_session", lambda q: q.extend_params(expected, extended), "rowcount"),
                          _changed)

    def rekey_session(self, old_id: str, new_id: str) -> Any:
        return self._then(self._run("rekey_session", (new_id, old_id), "rowcount", on_error=_already_moved),
                          _changed)

    # maintenance

    def count_dead_sessions(self, now: int) -> Any:
        return self._then(self._run("count_dead", lambda q: q.removable_params(now), "one"), _first_int)

    def delete_dead_sessions(self, now: int, limit: int | None = None) -> Any:
        """Delete sessions a cleanup may remove at ``now`` (ms), at most ``limit``; returns how many went."""
        if limit is None:
            return self._run("delete_dead", lambda q: q.removable_params(now), "rowcount")
        return self._run("delete_dead_batch", lambda q: (*q.removable_params(now), limit), "rowcount")
