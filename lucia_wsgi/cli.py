"""``python -m lucia_wsgi`` / ``lucia-wsgi``: create tables, add users, purge dead sessions (and stale
throttle buckets, expired tokens and codes).

Exit status: 0 on success, 1 when the store or Lucia refuses (connection
failed, duplicate user), 2 for bad arguments or URLs. Errors are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from .config import system_clock
from .errors import LuciaError
from .urls import StoreURL, parse_database_url, parse_session_url

__all__ = ["main", "build_parser"]

PROG = "lucia-wsgi"
CONNECT_TIMEOUT = 10


class UsageError(ValueError):
    """A bad argument: exit status 2."""


class NotInitialised(RuntimeError):
    """The store has no tables (or, for SQLite, no file) yet: exit status 1."""


_RUN_INIT = "run 'lucia-wsgi init' first"


def _pairs(values: Sequence[str] | None, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--attr expects {what}, got {item!r}")
        pairs[name] = value
    return pairs


# opening stores


def _open_postgres(url: StoreURL) -> Any:
    # The adapter first: without psycopg, its ImportError says what to install.
    from .adapters.postgres import PostgresAdapter

    # isort: split
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url.target)
    except psycopg.ProgrammingError as error:
        raise UsageError(f"bad postgresql URL: {error}") from None
    # Connect once directly: a refused connection then reports libpq's own
    # reason at once, where a pool would retry quietly until its timeout.
    psycopg.connect(url.target, connect_timeout=params.get("connect_timeout", CONNECT_TIMEOUT)).close()
    return PostgresAdapter(url.target, schema=url.option, min_size=1, max_size=1, timeout=CONNECT_TIMEOUT)


def open_database(url: str, *, create: bool = True) -> Any:
    """The SQL adapter for a ``--db`` URL; ``create=False`` refuses a missing SQLite file."""
    parsed = parse_database_url(url)
    if parsed.kind == "sqlite":
        from .adapters.sqlite import SQLiteAdapter

        if not create and not os.path.exists(parsed.target):
            raise NotInitialised(f"no database file {parsed.target!r}: {_RUN_INIT}")
        return SQLiteAdapter(parsed.target)
    return _open_postgres(parsed)


def open_initialised_database(url: str) -> Any:
    """The SQL adapter for a ``--db`` URL that ``init`` has set up; creates nothing."""
    adapter = open_database(url, create=False)
    try:
        ready = adapter.has_tables()
    except BaseException:
        adapter.close()
        raise
    if not ready:
        adapter.close()
        raise NotInitialised(f"no user and session tables in this database: {_RUN_INIT}")
    return adapter


def open_sessions(url: str) -> Any:
    """The Redis session adapter for a ``--session-url``."""
    parsed = parse_session_url(url)
    # The adapter first: without redis, its ImportError says what to install.
    from .adapters.redis import RedisSessionAdapter

    # isort: split
    import redis

    adapter = RedisSessionAdapter(parsed.target, prefix=parsed.option or "lucia:",
                                  socket_connect_timeout=CONNECT_TIMEOUT)
    try:
        adapter.client.ping()
    except TypeError as error:  # redis-py hands unknown URL parameters to its connection class
        adapter.close()
        raise UsageError(f"bad redis URL: {error}") from None
    except redis.RedisError:
        adapter.close()
        raise
    return adapter


@contextmanager
def _opened(opener: Callable[[str], Any], url: str) -> Iterator[Any]:
    adapter = opener(url)
    try:
        yield adapter
    finally:
        adapter.close()


# commands


def cmd_init(args: argparse.Namespace, out: TextIO) -> int:
    columns = _pairs(args.attr, "NAME=SQLTYPE")
    with _opened(open_database, args.db) as adapter:
        adapter.create_tables(user_attributes=columns)
    print("tables user and session are ready", file=out)
    return 0


def _read_password(stdin: TextIO) -> str:
    password = getpass.getpass("Password: ") if stdin.isatty() else stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("--password-stdin: no password on standard input")
    return password


def cmd_create_user(args: argparse.Namespace, out: TextIO) -> int:
    from .auth import lucia

    attributes = _pairs(args.attr, "NAME=VALUE")
    password = _read_password(sys.stdin) if args.password_stdin else None
    with _opened(open_initialised_database, args.db) as adapter:
        auth = lucia(adapter=adapter, env="DEV", transform_user_data=lambda row: row)
        user = auth.create_user(args.provider, args.identifier, password=password, attributes=attributes)
    print(user["id"], file=out)
    return 0


class Progress:
    """A progress bar on a terminal; one plain line per batch otherwise."""

    def __init__(self, label: str, total: int, stream: TextIO, out: TextIO) -> None:
        self.label, self.total, self.stream, self.out = label, total, stream, out
        self.bar = stream.isatty()

    def update(self, done: int) -> None:
        if self.bar:
            width = 30
            filled = width if self.total <= 0 else min(width, width * done // self.total)
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}")
            self.stream.flush()
        else:
            print(f"{self.label}: deleted {done} of {max(done, self.total)}", file=self.out)

    def finish(self, done: int) -> None:
        if self.bar:
            self.stream.write("\n")
        print(f"{self.label}: purged {done} dead sessions", file=self.out)


def purge_store(adapter: Any, label: str, now: int, batch_size: int, out: TextIO, err: TextIO) -> int:
    """Delete every session of ``adapter`` dead at ``now`` in batches; returns how many went."""
    progress = Progress(label, adapter.count_dead_sessions(now), err, out)
    done = 0
    while True:
        deleted = adapter.delete_dead_sessions(now, batch_size)
        done += deleted
        if deleted:
            progress.update(done)
        if deleted < batch_size:
            break
    progress.finish(done)
    return done


def purge_accounts(adapter: Any, label: str, now: int, out: TextIO) -> int:
    """Delete full throttle buckets and tokens and codes expired at ``now``; returns how many went.

    (Redis expires its own: only SQL stores need this.)
    """
    removed = int(adapter.delete_expired(now))
    print(f"{label}: purged {removed} stale throttle buckets and expired tokens and codes", file=out)
    return removed


def cmd_purge(args: argparse.Namespace, out: TextIO) -> int:
    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if args.db is None and args.session_url is None:
        raise UsageError("purge needs --db and/or --session-url")
    # Check every URL before touching any store.
    if args.db is not None:
        parse_database_url(args.db)
    if args.session_url is not None:
        parse_session_url(args.session_url)
    now = system_clock()
    if args.db is not None:
        with _opened(open_initialised_database, args.db) as adapter:
            purge_store(adapter, "database", now, args.batch_size, out, sys.stderr)
            purge_accounts(adapter, "database", now, out)
    if args.session_url is not None:
        with _opened(open_sessions, args.session_url) as adapter:
            purge_store(adapter, "redis", now, args.batch_size, out, sys.stderr)
    return 0


# entry point


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``lucia-wsgi`` argument parser: the ``init``, ``create-user`` and ``purge`` commands."""
    parser = _Parser(prog=PROG, description="Manage a lucia_wsgi user and session store.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    db_help = "sqlite:///relative.db, sqlite:////absolute.db or postgresql://user@host/db[?schema=name]"

    init = commands.add_parser("init", help="create the user and session tables (harmless if they exist)")
    init.add_argument("--db", required=True, help=db_help)
    init.add_argument("--attr", action="append", metavar="NAME=SQLTYPE",
                      help="a user attribute column, e.g. username=TEXT (repeatable)")
    init.set_defaults(run=cmd_init)

    create = commands.add_parser("create-user", help="add a user; prints its id")
    create.add_argument("--db", required=True, help=db_help)
    create.add_argument("provider", metavar="PROVIDER", help='e.g. "username" or "email"')
    create.add_argument("identifier", metavar="IDENTIFIER", help='e.g. "alice"')
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    create.add_argument("--attr", action="append", metavar="NAME=VALUE", help="a user attribute (repeatable)")
    create.set_defaults(run=cmd_create_user)

    purge = commands.add_parser("purge", help="delete every dead session (in batches), stale throttle buckets, "
                                              "expired tokens and codes")
    purge.add_argument("--db", help=db_help)
    purge.add_argument("--session-url", metavar="URL", help="redis://host:6379/0[?prefix=lucia:] session store")
    purge.add_argument("--batch-size", type=int, default=1000, metavar="N", help="sessions per batch (1000)")
    purge.set_defaults(run=cmd_purge)
    return parser


def _store_errors() -> tuple[type[BaseException], ...]:
    """The drivers' own error types (connection refused, missing table...)."""
    found: list[type[BaseException]] = [sqlite3.Error]
    try:
        import psycopg

        found.append(psycopg.Error)
    except ModuleNotFoundError:
        pass
    try:
        import redis

        found.append(redis.exceptions.RedisError)
    except ModuleNotFoundError:
        pass
    return tuple(found)


def _fail(message: object, status: int) -> int:
    text = " ".join(str(message).split()) or type(message).__name__
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args, sys.stdout))
    except ValueError as error:  # bad URL, attribute or argument
        return _fail(error, 2)
    except LuciaError as error:
        return _fail(error.code, 1)
    except NotInitialised as error:
        return _fail(error, 1)
    except ModuleNotFoundError as error:
        hint = "" if "pip install" in str(error) else " (pip install 'lucia_wsgi[postgres]' or 'lucia_wsgi[redis]')"
        return _fail(f"{error}{hint}", 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except _store_errors() as error:
        return _fail(error, 1)
