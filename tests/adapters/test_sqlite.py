"""SQLiteAdapter: the adapter contract, plus schema handling and error mapping."""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from lucia_wsgi import LuciaError
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.adapters.base import check_column_type
from lucia_wsgi.session import SessionRow

from .contract import AdapterContract


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "auth.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteAdapter]:
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    yield adapter
    adapter.close()


class TestSQLiteAdapter(AdapterContract):
    unique_attributes = True
    lucia_made = True

    def make_unique(self, adapter: SQLiteAdapter, column: str) -> None:
        # SQLite cannot ADD COLUMN ... UNIQUE: a unique index does the same.
        adapter.create_tables(user_attributes={"username": "TEXT", column: "TEXT"})
        adapter.connection.execute(f'CREATE UNIQUE INDEX user_{column} ON "user"("{column}")')

    @pytest.fixture
    def adapter(self, store: SQLiteAdapter) -> SQLiteAdapter:
        return store

    @pytest.fixture
    def second_adapter(self, path: Path) -> Iterator[SQLiteAdapter]:
        other = SQLiteAdapter(path)
        yield other
        other.close()

    @pytest.fixture
    def thread_done(self) -> Callable[[Any], None]:
        return lambda adapter: adapter.close()

    @pytest.fixture
    def lucia_made_adapter(self, tmp_path: Path) -> Iterator[SQLiteAdapter]:
        conn = sqlite3.connect(tmp_path / "lucia.db")
        conn.executescript(LUCIA_SCHEMA)
        conn.close()
        adapter = SQLiteAdapter(tmp_path / "lucia.db")
        yield adapter
        adapter.close()


class TestSQLiteMemoryAdapter(AdapterContract):
    """The whole contract on ``":memory:"``, its concurrent-thread tests included."""

    @pytest.fixture
    def adapter(self) -> Iterator[SQLiteAdapter]:
        adapter = SQLiteAdapter(":memory:")
        adapter.create_tables(user_attributes={"username": "TEXT"})
        yield adapter
        adapter.close()

    @pytest.fixture
    def second_adapter(self, adapter: SQLiteAdapter) -> SQLiteAdapter:
        return adapter  # another SQLiteAdapter(":memory:") is another database

    @pytest.fixture
    def thread_done(self) -> Callable[[Any], None]:
        return lambda adapter: adapter.close()


def _raw(path: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def test_connections_use_wal_and_foreign_keys(store: SQLiteAdapter) -> None:
    assert store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_create_tables_is_idempotent_and_adds_missing_columns(store: SQLiteAdapter, path: Path) -> None:
    store.set_user("user-alice", {"provider_id": "username:alice", "username": "Alice"})
    store.create_tables(user_attributes={"username": "TEXT", "age": "INTEGER"})
    store.create_tables(user_attributes={"username": "TEXT", "age": "INTEGER"})
    assert store.user_columns() == {"id", "provider_id", "hashed_password", "username", "age"}
    assert store.update_user("user-alice", {"age": 41})["age"] == 41
    assert _raw(path, 'SELECT id, username, age FROM "user"') == [("user-alice", "Alice", 41)]


def test_schema_is_lucias(store: SQLiteAdapter, path: Path) -> None:
    columns = {table: [(r[1], r[2], r[3], r[5]) for r in _raw(path, f'PRAGMA table_info("{table}")')]
               for table in ("user", "session")}
    assert columns == {
        "user": [("id", "TEXT", 0, 1), ("provider_id", "TEXT", 1, 0), ("hashed_password", "TEXT", 0, 0),
                 ("username", "TEXT", 0, 0)],
        "session": [("id", "TEXT", 0, 1), ("user_id", "TEXT", 1, 0), ("expires", "INTEGER", 1, 0),
                    ("idle_expires", "INTEGER", 1, 0),
                    # ours, all nullable: a Lucia app's INSERT of the four columns above still works
                    ("successor", "TEXT", 0, 0), ("predecessor", "TEXT", 0, 0), ("created_at", "INTEGER", 0, 0),
                    ("last_seen", "INTEGER", 0, 0), ("user_agent", "TEXT", 0, 0), ("ip_address", "TEXT", 0, 0)],
    }
    assert _raw(path, 'PRAGMA foreign_key_list("session")')[0][2:5] == ("user", "user_id", "id")


@pytest.mark.parametrize(
    "attributes",
    [
        pytest.param({'x" TEXT); DROP TABLE "user"; --': "TEXT"}, id="name-injection"),
        pytest.param({"nickname": "TEXT); DROP TABLE session; --"}, id="type-injection"),
        pytest.param({"nickname": "TEXT, DROP COLUMN hashed_password"}, id="type-with-comma"),
        pytest.param({"nickname": "TEXT DEFAULT (lower(id))"}, id="type-with-expression"),
        pytest.param({"nickname": "NUMERIC(1)(2)"}, id="type-two-parentheses"),
        pytest.param({"nickname": "TEXT\n"}, id="type-with-newline"),
        pytest.param({"nickname": "INTEGER(\u0661)"}, id="type-non-ascii-digit"),
        pytest.param({"": "TEXT"}, id="empty-name"),
        pytest.param({"1st": "TEXT"}, id="name-starting-with-digit"),
    ],
)
def test_unsafe_attribute_definitions_are_refused(store: SQLiteAdapter, attributes: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        store.create_tables(user_attributes=attributes)
    assert store.user_columns() == {"id", "provider_id", "hashed_password", "username"}


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"provider_id": "username:x", 'username" = 1; --': "x"}, id="injection-as-column"),
        pytest.param({"provider_id": "username:x", "nickname": "x"}, id="unknown-column"),
        pytest.param({"provider_id": "username:x", 1: "x"}, id="non-string-column"),
    ],
)
def test_only_existing_columns_can_be_written(store: SQLiteAdapter, values: dict[Any, str]) -> None:
    with pytest.raises(ValueError):
        store.set_user(None, values)
    store.set_user("user-x", {"provider_id": "username:y"})
    with pytest.raises(ValueError):
        store.update_user("user-x", values)
    assert store.get_user_by_provider_id("username:x") is None


def test_existing_database_attributes_are_found_without_configuration(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE user (id TEXT PRIMARY KEY, provider_id TEXT NOT NULL UNIQUE, hashed_password TEXT, "
        "username TEXT, plan TEXT);"
        "INSERT INTO user VALUES ('user-1', 'username:one', NULL, 'One', 'pro');"
    )
    conn.close()
    adapter = SQLiteAdapter(path)
    try:
        assert adapter.get_user("user-1") == {"id": "user-1", "provider_id": "username:one",
                                              "hashed_password": None, "username": "One", "plan": "pro"}
        assert adapter.update_user("user-1", {"plan": "free"})["plan"] == "free"
    finally:
        adapter.close()


def test_other_integrity_errors_propagate_unchanged(store: SQLiteAdapter) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        store.set_user("user-1", {"username": "no provider id"})
    store.set_user("user-2", {"provider_id": "p:2"})
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        store.update_user("user-2", {"provider_id": None})


def test_store_errors_propagate_unchanged(store: SQLiteAdapter, path: Path) -> None:
    _raw(path, 'DROP TABLE "session"')
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        store.get_session("a" * 40)


def test_failed_renewal_rolls_back(store: SQLiteAdapter) -> None:
    store.set_user("user-1", {"provider_id": "p:1"})
    old = SessionRow("a" * 40, "user-1", 10, 20)
    taken = SessionRow("b" * 40, "user-1", 10, 20)
    store.set_session(old)
    store.set_session(taken)
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_SESSION_ID"):
        store.renew_session(old, taken.id, taken._replace(expires=30), None)
    assert store.get_session(old.id) == old  # its successor link was rolled back
    assert store.get_session(taken.id) == taken


LUCIA_SCHEMA = (
    'CREATE TABLE "user" (id TEXT PRIMARY KEY, provider_id TEXT NOT NULL UNIQUE, hashed_password TEXT);'
    'CREATE TABLE "session" (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES "user"(id), '
    "expires INTEGER NOT NULL, idle_expires INTEGER NOT NULL);"
    "INSERT INTO \"user\" VALUES ('user-1', 'p:1', NULL);"
)


def test_a_table_lucia_made_works_without_our_columns(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(LUCIA_SCHEMA)
    conn.close()
    adapter = SQLiteAdapter(path)
    try:
        old = SessionRow("a" * 40, "user-1", 10, 20)
        adapter.set_session(old._replace(created_at=5))  # the facts have nowhere to go
        assert adapter.get_session(old.id) == old
        new = SessionRow("b" * 40, "user-1", 30, 40, predecessor=old.id)
        assert adapter.renew_session(old, new.id, new, None) is True  # as Lucia 0.3: only the insert
        assert adapter.renew_session(old._replace(expires=11), "c" * 40, new._replace(id="c" * 40), None) is False
        assert set(adapter.get_sessions_by_user_id("user-1")) == {old, new._replace(predecessor=None)}
        adapter.cut_sessions([old.id], 15)
        assert adapter.get_session(old.id) == old._replace(idle_expires=15)
        assert adapter.extend_session(new._replace(predecessor=None), new._replace(expires=50, idle_expires=60))
        assert adapter.delete_dead_sessions(16) == 1
    finally:
        adapter.close()


def test_threads_opening_a_rollback_journal_database_at_once_all_switch_it_to_wal(tmp_path: Path) -> None:
    # A Lucia app's database is in rollback-journal mode; connections switching
    # it to WAL at one moment raced for its lock, and SQLite refused some at
    # once with "database is locked" (1 trial in 10 to 40 here), busy timeout or not.
    for trial in range(150):
        path = tmp_path / f"lucia-{trial}.db"
        conn = sqlite3.connect(path)
        conn.executescript(LUCIA_SCHEMA)
        conn.close()
        adapter = SQLiteAdapter(path)
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def first_use(adapter: SQLiteAdapter = adapter, barrier: threading.Barrier = barrier,
                      errors: list[BaseException] = errors) -> None:
            barrier.wait(timeout=30)
            try:
                assert adapter.get_user("user-1") is not None
            except BaseException as error:
                errors.append(error)
            finally:
                adapter.close()

        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == [], f"trial {trial}"
        with closing(sqlite3.connect(path)) as check:
            assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_create_tables_adds_our_columns_to_a_lucia_table(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(LUCIA_SCHEMA + "INSERT INTO \"session\" VALUES ('" + "a" * 40 + "', 'user-1', 10, 20);")
    conn.close()
    adapter = SQLiteAdapter(path)
    try:
        assert adapter.get_session("a" * 40) == SessionRow("a" * 40, "user-1", 10, 20)
        adapter.create_tables()
        full = SessionRow("b" * 40, "user-1", 30, 40, "s" * 40, "a" * 40, 1, 2, "agent", "::1")
        adapter.set_session(full)
        assert adapter.get_session(full.id) == full
        assert adapter.get_session("a" * 40) == SessionRow("a" * 40, "user-1", 10, 20)
        lucia_insert = sqlite3.connect(path)  # what a Lucia app writes still fits
        lucia_insert.execute('INSERT INTO "session" (id, user_id, expires, idle_expires) VALUES (?, ?, ?, ?)',
                             ("c" * 40, "user-1", 50, 60))
        lucia_insert.commit()
        lucia_insert.close()
        assert adapter.get_session("c" * 40) == SessionRow("c" * 40, "user-1", 50, 60)
    finally:
        adapter.close()


def test_memory_database_works_in_one_thread() -> None:
    adapter = SQLiteAdapter(":memory:")
    try:
        adapter.create_tables()
        adapter.set_user("user-1", {"provider_id": "p:1"})
        assert adapter.get_user("user-1") == {"id": "user-1", "provider_id": "p:1", "hashed_password": None}
    finally:
        adapter.close()


def test_a_memory_database_is_one_database_for_every_thread() -> None:
    adapter = SQLiteAdapter(":memory:")
    adapter.create_tables()
    adapter.set_user("user-1", {"provider_id": "p:1"})

    def elsewhere() -> Any:
        try:
            adapter.set_user("user-2", {"provider_id": "p:2"})
            return adapter.get_user("user-1")
        finally:
            adapter.close()

    assert _in_thread(elsewhere) == {"id": "user-1", "provider_id": "p:1", "hashed_password": None}
    assert adapter.get_user_by_provider_id("p:2")["id"] == "user-2"
    adapter.close()
    assert adapter.has_tables()  # closing every connection of ours keeps the data: the adapter holds it
    assert SQLiteAdapter(":memory:").has_tables() is False  # each adapter has its own database


def test_a_memory_database_takes_8_concurrent_writer_threads() -> None:
    adapter = SQLiteAdapter(":memory:", timeout=30)
    adapter.create_tables()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    rounds = 60

    def write(worker: int) -> None:
        try:
            barrier.wait()
            for n in range(rounds):
                user_id = f"user-{worker}-{n}"
                adapter.set_user(user_id, {"provider_id": f"p:{worker}:{n}"})
                old = SessionRow(f"{worker}{n:03d}".ljust(40, "o"), user_id, 10, 20)
                adapter.set_session(old)
                new = old._replace(id=f"{worker}{n:03d}".ljust(40, "n"), expires=30, idle_expires=40)
                assert adapter.renew_session(old, new.id, new, None)
                adapter.delete_session(old.id)
        except BaseException as error:
            errors.append(error)
        finally:
            adapter.close()

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    counts = adapter.connection.execute('SELECT (SELECT count(*) FROM "user"), (SELECT count(*) FROM "session")')
    assert tuple(counts.fetchone()) == (8 * rounds, 8 * rounds)
    adapter.close()


def test_a_memory_database_is_freed_with_its_adapter() -> None:
    adapter = SQLiteAdapter(":memory:")
    adapter.create_tables()
    uri = adapter.path
    assert uri.startswith("file:/lucia_wsgi_memory_") and uri.endswith("?vfs=memdb")
    adapter.close()
    del adapter
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        conn = sqlite3.connect(uri, uri=True)
        try:
            assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        finally:
            conn.close()


def test_memory_without_the_memdb_vfs_is_refused_pointing_to_memory_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    from lucia_wsgi.adapters import sqlite as sqlite_module

    monkeypatch.setattr(sqlite_module, "MEMDB_VFS", "no_such_vfs")
    with pytest.raises(ValueError, match=r"memdb VFS.*MemoryAdapter\(\)"):
        SQLiteAdapter(":memory:")


def test_a_column_added_by_another_process_can_be_written(store: SQLiteAdapter, path: Path) -> None:
    store.set_user("user-1", {"provider_id": "p:1"})
    conn = sqlite3.connect(path)
    conn.execute('ALTER TABLE "user" ADD COLUMN plan TEXT')
    conn.commit()
    conn.close()
    assert store.update_user("user-1", {"plan": "pro"})["plan"] == "pro"
    assert store.set_user("user-2", {"provider_id": "p:2", "plan": "free"})["plan"] == "free"


def test_a_failed_commit_rolls_back_and_frees_the_write_lock(path: Path) -> None:
    # A table made elsewhere with a deferred foreign key: the violation is
    # only found by COMMIT, which then fails and leaves the transaction open.
    conn = sqlite3.connect(path)
    conn.executescript(
        'CREATE TABLE "user" (id TEXT PRIMARY KEY, provider_id TEXT NOT NULL UNIQUE, hashed_password TEXT);'
        'CREATE TABLE "session" (id TEXT PRIMARY KEY, user_id TEXT NOT NULL '
        'REFERENCES "user"(id) DEFERRABLE INITIALLY DEFERRED, expires INTEGER NOT NULL, '
        "idle_expires INTEGER NOT NULL);"
        "INSERT INTO \"user\" VALUES ('user-1', 'p:1', NULL);"
        "INSERT INTO \"session\" VALUES ('" + "a" * 40 + "', 'user-1', 10, 20);"
    )
    conn.close()
    adapter, other = SQLiteAdapter(path), SQLiteAdapter(path, timeout=0.2)
    try:
        old = SessionRow("a" * 40, "user-1", 10, 20)
        orphan = SessionRow("b" * 40, "user-nobody", 30, 40)
        with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):  # COMMIT: FOREIGN KEY constraint failed
            adapter.renew_session(old, orphan.id, orphan, None)
        assert not adapter.connection.in_transaction
        assert adapter.get_session(old.id) == old
        assert adapter.get_session(orphan.id) is None
        other.set_user("user-2", {"provider_id": "p:2"})  # no write lock left behind
        assert adapter.get_user("user-2") is not None
    finally:
        adapter.close()
        other.close()


@pytest.mark.parametrize("kind", ["TEXT", "INTEGER NOT NULL DEFAULT 0", "VARCHAR(255)", "NUMERIC(10, 2)",
                                  "NUMERIC(10,2)", "DOUBLE PRECISION", "TEXT UNIQUE"])
def test_plain_column_types_are_accepted(kind: str) -> None:
    assert check_column_type(kind) == kind


@pytest.mark.parametrize("kind", ["", " TEXT", "TEXT, age INTEGER", "TEXT; DROP", "VARCHAR(n)", "NUMERIC(1, 2, 3)",
                                  "VARCHAR(255) NOT NULL", "TEXT -- x", "TEXT 'x'", 'TEXT "x"', None])
def test_other_column_types_are_refused(kind: Any) -> None:
    with pytest.raises(ValueError):
        check_column_type(kind)


def test_a_table_made_with_a_unique_attribute_maps_duplicates(path: Path) -> None:
    adapter = SQLiteAdapter(path)
    try:
        adapter.create_tables(user_attributes={"email": "TEXT UNIQUE"})
        adapter.set_user("user-1", {"provider_id": "p:1", "email": "a@example.com"})
        with pytest.raises(LuciaError, match="AUTH_DUPLICATE_USER_DATA"):
            adapter.set_user("user-2", {"provider_id": "p:2", "email": "a@example.com"})
    finally:
        adapter.close()


def _in_thread(call: Callable[[], Any]) -> Any:
    """``call()``'s result (or exception) from a fresh thread, which opens its own connection."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except sqlite3.Error as error:
            box["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    if "error" in box:
        raise box["error"]
    return box["result"]


def test_a_relative_path_means_the_directory_current_at_construction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "app")
    adapter = SQLiteAdapter("auth.db")
    try:
        adapter.create_tables()
        adapter.set_user("user-1", {"provider_id": "p:1"})
        monkeypatch.chdir(tmp_path / "elsewhere")  # a server that chdirs after start-up
        assert _in_thread(lambda: adapter.get_user("user-1")) is not None
        assert adapter.path == str(tmp_path / "app" / "auth.db")
        assert not (tmp_path / "elsewhere" / "auth.db").exists()
    finally:
        adapter.close()


def test_file_uris_are_opened_as_uris(path: Path, store: SQLiteAdapter) -> None:
    store.set_user("user-1", {"provider_id": "p:1"})
    reader = SQLiteAdapter(f"file:{path}?mode=ro")
    try:
        assert reader.path == f"file:{path}?mode=ro"
        assert reader.get_user("user-1") is not None
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.set_user("user-2", {"provider_id": "p:2"})
    finally:
        reader.close()


def _in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``work()``'s result computed in a forked child (as under gunicorn --preload)."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with other threads alive
        pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanups
        status = 1
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(work()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    assert os.waitpid(pid, 0)[1] == 0, "the child failed"
    return dict(json.loads(report))


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents_alone(store: SQLiteAdapter) -> None:
    store.set_user("user-parent", {"provider_id": "p:parent"})
    inherited = store.connection

    def child() -> dict[str, Any]:
        store.close()  # must not close the parent's connection in the child...
        gc.collect()
        try:
            inherited.total_changes  # noqa: B018 -- raises on a closed connection
            still_open = True
        except sqlite3.ProgrammingError:
            still_open = False
        own = store.connection  # ...and the child gets a connection of its own
        store.set_user("user-child", {"provider_id": "p:child"})
        return {"still_open": still_open, "fresh": own is not inherited,
                "sees_parent": store.get_user("user-parent") is not None}

    assert _in_child(child) == {"still_open": True, "fresh": True, "sees_parent": True}
    assert store.connection is inherited  # the parent keeps its connection...
    assert store.get_user("user-child") is not None  # ...which sees the child's write
    assert store.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_forked_child_that_uses_the_store_at_once_gets_a_new_connection(store: SQLiteAdapter) -> None:
    inherited = store.connection
    result = _in_child(lambda: {"fresh": store.connection is not inherited,
                                "user": store.set_user(None, {"provider_id": "p:c"})["provider_id"]})
    assert result == {"fresh": True, "user": "p:c"}
    assert store.get_user_by_provider_id("p:c") is not None


def test_a_forked_child_does_not_close_connections_of_the_parents_other_threads(store: SQLiteAdapter) -> None:
    opened, release = threading.Event(), threading.Event()
    theirs: list[sqlite3.Connection] = []

    def worker() -> None:  # a thread of the parent, alive and holding a connection across the fork
        theirs.append(store.connection)
        opened.set()
        release.wait(timeout=30)
        store.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert opened.wait(timeout=30)

        def child() -> dict[str, Any]:
            gc.collect()  # the worker thread does not exist here: its thread-local data is gone
            try:
                theirs[0].total_changes  # noqa: B018 -- raises on a closed connection
            except sqlite3.ProgrammingError:
                return {"still_open": False}
            return {"still_open": True}

        assert _in_child(child) == {"still_open": True}
    finally:
        release.set()
        thread.join(timeout=30)


# the base install: no psycopg, no redis

_WITHOUT_DRIVERS = "import sys\nfor name in ('psycopg', 'psycopg_pool', 'redis'): sys.modules[name] = None\n"


def _python(code: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", _WITHOUT_DRIVERS + code], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


def test_star_import_works_without_the_optional_drivers() -> None:
    done = _python("from lucia_wsgi.adapters import *\nprint(sorted(k for k in dir() if k.endswith('Adapter')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['Adapter', 'MemoryAdapter', 'SQLiteAdapter', 'SessionAdapter', 'UserAdapter']"


@pytest.mark.parametrize(("name", "extra"), [("PostgresAdapter", "postgres"), ("RedisSessionAdapter", "redis")])
def test_an_adapter_without_its_driver_says_what_to_install(name: str, extra: str) -> None:
    done = _python(f"""
try:
    from lucia_wsgi.adapters import {name}
except ImportError as error:
    print(type(error).__name__, error)
""")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"ModuleNotFoundError {name} needs ")
    assert done.stdout.rstrip().endswith(f"pip install 'lucia_wsgi[{extra}]'")


def test_an_adapter_collected_as_cyclic_garbage_closes_its_connection(tmp_path: Path) -> None:
    adapter = SQLiteAdapter(tmp_path / "cycle.db")
    adapter.create_tables()
    conn = adapter.connection
    adapter.cycle = adapter  # type: ignore[attr-defined]
    del adapter
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")
