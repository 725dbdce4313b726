"""SQLiteAdapter: the adapter contract, plus schema handling and error mapping."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
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
                    ("idle_expires", "INTEGER", 1, 0)],
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
        store.replace_session(old, taken._replace(expires=30), SessionRow(old.id, "user-1", 15, 15))
    assert store.get_session(old.id) == old
    assert store.get_session(taken.id) == taken


def test_memory_database_works_in_one_thread() -> None:
    adapter = SQLiteAdapter(":memory:")
    try:
        adapter.create_tables()
        adapter.set_user("user-1", {"provider_id": "p:1"})
        assert adapter.get_user("user-1") == {"id": "user-1", "provider_id": "p:1", "hashed_password": None}
    finally:
        adapter.close()


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
            adapter.replace_session(old, orphan, SessionRow(old.id, "user-1", 15, 15))
        assert not adapter.connection.in_transaction
        assert adapter.get_session(old.id) == old  # the shortened row was rolled back
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
