"""The command line: init, create-user, purge; URL parsing; one-line errors and exit codes."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from services import postgres_schema, redis_prefix

from lucia_wsgi import LuciaError, lucia
from lucia_wsgi.adapters import RedisSessionAdapter
from lucia_wsgi.adapters.base import CodeRow, TokenRow
from lucia_wsgi.cli import main, open_database, purge_store
from lucia_wsgi.session import SessionRow
from lucia_wsgi.urls import StoreURL, parse_database_url, parse_session_url

ROOT = Path(__file__).resolve().parent.parent
HOUR = 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgres", id="postgres", marks=pytest.mark.services)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    with postgres_schema() as (dsn, schema):
        yield f"{dsn}?schema={schema}"


@pytest.fixture
def store(db_url: str) -> Iterator[Any]:
    """The adapter the CLI opens for ``db_url``, to look at what it did."""
    assert main(["init", "--db", db_url, "--attr", "username=TEXT"]) == 0
    adapter = open_database(db_url)
    yield adapter
    adapter.close()


def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "lucia_wsgi", *argv], input=stdin, capture_output=True,
                          text=True, env=env, timeout=60, check=False)


def exit_status(argv: list[str]) -> object:
    """What ``lucia-wsgi`` would exit with: main()'s result, or argparse's own exit."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("lucia-wsgi")
    return lines[0]


# URLs


@pytest.mark.parametrize(("url", "expected"), [
    pytest.param("sqlite:///app.db", StoreURL("sqlite", "app.db"), id="sqlite-relative"),
    pytest.param("sqlite:////var/lib/app.db", StoreURL("sqlite", "/var/lib/app.db"), id="sqlite-absolute"),
    pytest.param("sqlite:///my%20app.db", StoreURL("sqlite", "my app.db"), id="sqlite-escaped"),
    pytest.param("postgresql://u@h:5432/db", StoreURL("postgresql", "postgresql://u@h:5432/db"), id="postgresql"),
    pytest.param("postgres://h/db?schema=auth&sslmode=require",
                 StoreURL("postgresql", "postgres://h/db?sslmode=require", "auth"), id="postgres-schema"),
])
def test_database_urls(url: str, expected: StoreURL) -> None:
    assert parse_database_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), [
    pytest.param("redis://127.0.0.1:6379/0", StoreURL("redis", "redis://127.0.0.1:6379/0"), id="plain"),
    pytest.param("rediss://h/1?prefix=app:", StoreURL("redis", "rediss://h/1", "app:"), id="tls-prefix"),
    pytest.param("unix:///run/redis.sock?db=2", StoreURL("redis", "unix:///run/redis.sock?db=2"), id="socket"),
])
def test_session_urls(url: str, expected: StoreURL) -> None:
    assert parse_session_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), [
    pytest.param("postgresql://h/db?options=-c%20statement_timeout%3D5000&schema=auth",
                 StoreURL("postgresql", "postgresql://h/db?options=-c%20statement_timeout%3D5000", "auth"),
                 id="libpq-options-percent-escapes-kept"),
    pytest.param("postgresql://h/db?options=-c%20statement_timeout%3D5000",
                 StoreURL("postgresql", "postgresql://h/db?options=-c%20statement_timeout%3D5000"),
                 id="no-schema-query-untouched"),
    pytest.param("postgresql://h/db?application_name=a+b&schema=auth&sslmode=require#x",
                 StoreURL("postgresql", "postgresql://h/db?application_name=a+b&sslmode=require#x", "auth"),
                 id="plus-order-and-fragment-kept"),
    pytest.param("postgresql://h/db?a=1&&b=%2f&schema=auth",
                 StoreURL("postgresql", "postgresql://h/db?a=1&&b=%2f", "auth"),
                 id="empty-piece-and-lowercase-escape-kept"),
    pytest.param("postgresql://h/db?sch%65ma=auth", StoreURL("postgresql", "postgresql://h/db", "auth"),
                 id="escaped-key-is-still-ours"),
    pytest.param("redis://h/0?prefix=my%3Aapp%3A&client_name=a%20b&health_check_interval=10",
                 StoreURL("redis", "redis://h/0?client_name=a%20b&health_check_interval=10", "my:app:"),
                 id="redis-prefix-decoded-rest-kept"),
])
def test_store_url_parameters_other_than_ours_reach_the_driver_byte_for_byte(url: str, expected: StoreURL) -> None:
    parse = parse_session_url if url.startswith("redis") else parse_database_url
    assert parse(url) == expected


_QUERY_PIECE = st.text(alphabet="abcxyz_-.=+%2035AF~!$'()*,;:@/?", max_size=12).filter(
    lambda piece: not piece.startswith("schema"))


@given(pieces=st.lists(_QUERY_PIECE, min_size=1, max_size=5), at=st.integers(min_value=0, max_value=5))
def test_only_the_schema_pair_leaves_a_postgresql_url(pieces: list[str], at: int) -> None:
    query = "&".join(pieces)
    with_schema = [*pieces[:at], "schema=auth", *pieces[at:]]
    assert parse_database_url("postgresql://h/db?" + "&".join(with_schema)) == StoreURL(
        "postgresql", "postgresql://h/db" + ("?" + query if query else ""), "auth")


@pytest.mark.parametrize("url", [
    pytest.param("mysql://h/db", id="unknown-scheme"),
    pytest.param("app.db", id="bare-path"),
    pytest.param("sqlite://host/app.db", id="sqlite-host"),
    pytest.param("sqlite:///", id="sqlite-no-path"),
    pytest.param("sqlite:///app.db?mode=ro", id="sqlite-query"),
    pytest.param("postgresql://h:port/db", id="bad-port"),
    pytest.param("postgresql://h/db?schema=", id="empty-schema"),
    pytest.param("postgresql://h/db?schema=a&schema=b", id="two-schemas"),
    pytest.param("postgresql://h/db?schema=a;b", id="schema-not-an-identifier"),
    pytest.param("redis://h/0", id="redis-as-db"),
])
def test_bad_database_urls_raise_value_error(url: str) -> None:
    with pytest.raises(ValueError):
        parse_database_url(url)


# init


@pytest.mark.services
def test_init_passes_libpq_options_exactly_as_given() -> None:
    with postgres_schema() as (dsn, schema):
        url = f"{dsn}{'&' if '?' in dsn else '?'}options=-c%20statement_timeout%3D5000&schema={schema}"
        done = run("init", "--db", url)
        assert done.returncode == 0, done.stderr
        adapter = open_database(url)
        try:
            assert adapter.has_tables()
            with adapter.pool.connection() as conn:
                assert conn.execute("SHOW statement_timeout").fetchone()[0] == "5s"
        finally:
            adapter.close()


def test_init_twice_is_harmless(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--db", db_url, "--attr", "username=TEXT"]) == 0
    assert main(["create-user", "--db", db_url, "username", "alice", "--attr", "username=Alice"]) == 0
    user_id = capsys.readouterr().out.splitlines()[-1]
    assert main(["init", "--db", db_url, "--attr", "username=TEXT", "--attr", "age=INTEGER"]) == 0
    adapter = open_database(db_url)
    try:
        assert adapter.user_columns() == {"id", "provider_id", "hashed_password", "username", "age"}
        assert adapter.get_user(user_id)["username"] == "Alice"
    finally:
        adapter.close()


def test_init_refuses_a_type_that_would_run_more_ddl(store: Any, db_url: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--db", db_url, "--attr", "nick=TEXT, DROP COLUMN hashed_password"]) == 2
    assert "invalid column type" in one_error_line(capsys.readouterr().err)
    assert store.user_columns() == {"id", "provider_id", "hashed_password", "username"}


# create-user


def test_create_user_prints_the_id_of_the_stored_user(store: Any, db_url: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create-user", "--db", db_url, "github", "1234", "--attr", "username=Octo"]) == 0
    user_id = capsys.readouterr().out.strip()
    assert store.get_user(user_id) == {"id": user_id, "provider_id": "github:1234", "hashed_password": None,
                                       "username": "Octo"}


def test_create_user_reads_the_password_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert main(["init", "--db", url]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("pässwörd with spaces \n"))
    assert main(["create-user", "--db", url, "email", "uni@example.com", "--password-stdin"]) == 0
    user_id = capsys.readouterr().out.splitlines()[-1]
    auth = lucia(adapter=open_database(url), env="DEV")
    assert auth.authenticate_user("email", "uni@example.com", "pässwörd with spaces ") == {"user_id": user_id}
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        auth.authenticate_user("email", "uni@example.com", "pässwörd with spaces")


def test_an_empty_password_on_stdin_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert main(["init", "--db", url]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["create-user", "--db", url, "username", "alice", "--password-stdin"]) == 2
    one_error_line(capsys.readouterr().err)
    assert open_database(url).get_user_by_provider_id("username:alice") is None


@pytest.mark.parametrize(("argv", "status", "message"), [
    pytest.param(["username", "alice"], 1, "AUTH_DUPLICATE_PROVIDER_ID", id="duplicate"),
    pytest.param(["username", "bob", "--attr", "nickname=b"], 2, "no column 'nickname'", id="unknown-attribute"),
    pytest.param(["username", "bob", "--attr", "username"], 2, "NAME=VALUE", id="attribute-without-value"),
    pytest.param(["user:name", "bob"], 2, "provider", id="colon-in-provider"),
])
def test_create_user_errors_are_one_line(store: Any, db_url: str, capsys: pytest.CaptureFixture[str],
                                         argv: list[str], status: int, message: str) -> None:
    assert main(["create-user", "--db", db_url, "username", "alice"]) == 0
    capsys.readouterr()
    assert main(["create-user", "--db", db_url, *argv]) == status
    assert message in one_error_line(capsys.readouterr().err)


# purge


def test_purge_removes_only_dead_sessions(store: Any, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    user_id = store.set_user(None, {"provider_id": "username:alice"})["id"]
    now = now_ms()
    for index in range(5):
        store.set_session(SessionRow(f"{index}" * 40, user_id, now - 2 * HOUR, now - HOUR))
    alive = [SessionRow("a" * 40, user_id, now + HOUR, now + 2 * HOUR),  # active
             SessionRow("i" * 40, user_id, now - HOUR, now + HOUR)]  # idle: renewable, not dead
    for row in alive:
        store.set_session(row)
    assert main(["purge", "--db", db_url, "--batch-size", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "database: deleted 2 of 5", "database: deleted 4 of 5", "database: deleted 5 of 5",
        "database: purged 5 dead sessions", f"database: purged 0 {ACCOUNT_ROWS}"]
    assert sorted(store.get_sessions_by_user_id(user_id)) == sorted(alive)
    assert main(["purge", "--db", db_url]) == 0
    assert capsys.readouterr().out.splitlines() == ["database: purged 0 dead sessions",
                                                    f"database: purged 0 {ACCOUNT_ROWS}"]


ACCOUNT_ROWS = "stale throttle buckets and expired tokens and codes"


def test_purge_removes_stale_buckets_and_expired_tokens_and_codes(
    store: Any, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    alice, bob = (store.set_user(None, {"provider_id": f"username:{name}"})["id"] for name in ("alice", "bob"))
    now = now_ms()
    store.set_throttle("login:full", None, now - HOUR)  # full again an hour ago: nothing to keep
    store.set_throttle("login:empty", None, now + HOUR)  # still refilling: kept
    store.set_token(TokenRow("e" * 64, "reset", alice, now - HOUR))
    live_token = TokenRow("l" * 64, "reset", alice, now + HOUR)
    store.set_token(live_token)
    store.set_code(CodeRow("sign-in", alice, "d" * 64, now - HOUR))
    live_code = CodeRow("sign-in", bob, "d" * 64, now + HOUR, 2)
    store.set_code(live_code)
    assert main(["purge", "--db", db_url]) == 0
    assert capsys.readouterr().out.splitlines() == ["database: purged 0 dead sessions",
                                                    f"database: purged 3 {ACCOUNT_ROWS}"]
    assert store.get_throttle("login:full") is None
    assert store.get_throttle("login:empty") == now + HOUR
    assert store.pop_token("e" * 64) is None and store.pop_token("l" * 64) == live_token
    assert store.get_code("sign-in", alice) is None and store.get_code("sign-in", bob) == live_code


@pytest.mark.services
def test_purge_cleans_the_redis_session_store(capsys: pytest.CaptureFixture[str]) -> None:
    with redis_prefix() as (url, prefix):
        sessions = RedisSessionAdapter(url, prefix=prefix)
        try:
            now = now_ms()
            keeper = SessionRow("k" * 40, "u1", now + HOUR, now + 2 * HOUR)
            sessions.set_session(keeper)
            sessions.client.zadd(sessions.index_key("u1"), {"d" * 40: now - HOUR, "e" * 40: now - HOUR})
            assert main(["purge", "--session-url", f"{url}?prefix={prefix}"]) == 0
            assert capsys.readouterr().out.splitlines()[-1] == "redis: purged 2 dead sessions"
            assert sessions.get_sessions_by_user_id("u1") == [keeper]
            assert sessions.client.zcard(sessions.index_key("u1")) == 1
        finally:
            sessions.close()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_purge_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    adapter = open_database(f"sqlite:///{tmp_path / 'app.db'}")
    adapter.create_tables()
    user_id = adapter.set_user(None, {"provider_id": "p:1"})["id"]
    for index in range(4):
        adapter.set_session(SessionRow(f"{index}" * 40, user_id, 1, 2))
    out, terminal = io.StringIO(), FakeTerminal()
    assert purge_store(adapter, "database", 10, 2, out, terminal) == 4
    assert terminal.getvalue() == (f"\rdatabase [{'#' * 15}{'.' * 15}] 2/4"
                                   f"\rdatabase [{'#' * 30}] 4/4\n")
    assert out.getvalue() == "database: purged 4 dead sessions\n"


# arguments and failures


@pytest.mark.parametrize("argv", [
    pytest.param(["init", "--db", "mysql://h/db"], id="unknown-scheme"),
    pytest.param(["init", "--db", "sqlite://host/app.db"], id="sqlite-with-host"),
    pytest.param(["init", "--db", "postgresql://h/db?nonsense=1"], id="unknown-libpq-parameter"),
    pytest.param(["init", "--db", "postgresql://h/db?schema=no-dashes"], id="bad-schema"),
    pytest.param(["init", "--db", "sqlite:///x.db", "--attr", "a=TEXT); DROP TABLE user; --"], id="bad-type"),
    pytest.param(["init", "--db", "sqlite:///x.db", "--attr", "a=TEXT, DROP COLUMN hashed_password"],
                 id="type-with-comma"),
    pytest.param(["purge", "--session-url", "http://h/0"], id="session-url-scheme"),
    pytest.param(["purge", "--session-url", "redis://127.0.0.1:6379/0?nonsense=1"], id="unknown-redis-parameter"),
    pytest.param(["purge"], id="purge-without-store"),
    pytest.param(["purge", "--db", "sqlite:///x.db", "--batch-size", "0"], id="zero-batch"),
    pytest.param(["init"], id="missing-db"),
    pytest.param(["frobnicate"], id="unknown-command"),
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert exit_status(argv) == 2
    one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [
    pytest.param(["purge", "--db", "postgresql://postgres@127.0.0.1:1/test"], id="postgres-refused"),
    pytest.param(["purge", "--session-url", "redis://127.0.0.1:1/0"], id="redis-refused"),
    pytest.param(["purge", "--db", "sqlite:////nonexistent/dir/app.db"], id="sqlite-unopenable"),
])
def test_unreachable_stores_exit_1_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(("argv", "extra"), [
    pytest.param(["purge", "--db", "postgresql://postgres@127.0.0.1:1/test"], "postgres", id="postgres"),
    pytest.param(["purge", "--session-url", "redis://127.0.0.1:1/0"], "redis", id="redis"),
])
def test_a_missing_driver_exits_1_saying_what_to_install(argv: list[str], extra: str) -> None:
    code = ("import sys\nfor name in ('psycopg', 'psycopg_pool', 'redis'): sys.modules[name] = None\n"
            f"from lucia_wsgi.cli import main\nsys.exit(main({argv!r}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert line.endswith(f"pip install 'lucia_wsgi[{extra}]'"), line
    assert line.count("install") == 1, line


@pytest.mark.parametrize("command", [pytest.param(["purge"], id="purge"),
                                     pytest.param(["create-user", "username", "alice"], id="create-user")])
def test_commands_before_init_say_to_run_init_and_create_nothing(
        db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    assert main([command[0], "--db", db_url, *command[1:]]) == 1
    assert "run 'lucia-wsgi init' first" in one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # no empty SQLite file (or its -wal/-shm) left behind
    assert main(["init", "--db", db_url]) == 0
    assert main([command[0], "--db", db_url, *command[1:]]) == 0


@pytest.mark.parametrize("command", [pytest.param(["purge"], id="purge"),
                                     pytest.param(["create-user", "username", "alice"], id="create-user")])
def test_commands_on_a_database_without_the_tables_say_to_run_init(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).close()  # an existing, empty database file
    assert main([command[0], "--db", f"sqlite:///{path}", *command[1:]]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "no user and session tables" in line and "run 'lucia-wsgi init' first" in line


def test_python_m_lucia_wsgi_runs_and_never_prints_a_traceback(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    assert run("init", "--db", url).returncode == 0
    created = run("create-user", "--db", url, "username", "alice", "--password-stdin", stdin="hunter2\n")
    assert created.returncode == 0
    assert len(created.stdout.strip()) == 15
    bad = run("init", "--db", "mysql://h/db")
    assert bad.returncode == 2
    assert one_error_line(bad.stderr) == (
        "lucia-wsgi: error: unsupported database URL scheme 'mysql': use sqlite:///path or postgresql://...")
