"""PostgresAdapter: schema, error mapping, atomic renewal across connections, pools."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import ConnectionPool
from services import postgres_schema

from lucia_wsgi import LuciaError, lucia
from lucia_wsgi.adapters import PostgresAdapter
from lucia_wsgi.session import SessionRow

from .contract import AdapterContract

T0 = 1_700_000_000_000
HOUR = 3_600_000
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
pytestmark = pytest.mark.services


@pytest.fixture
def schema() -> Iterator[tuple[str, str]]:
    with postgres_schema() as found:
        yield found


@pytest.fixture
def pg(schema: tuple[str, str]) -> Iterator[PostgresAdapter]:
    dsn, name = schema
    adapter = PostgresAdapter(dsn, schema=name, max_size=8)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    yield adapter
    adapter.close()


def raw(dsn: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(query, params)  # type: ignore[call-overload]
        return cursor.fetchall() if cursor.description else []


def add_user(pg: PostgresAdapter, name: str = "alice") -> str:
    return str(pg.set_user(None, {"provider_id": f"username:{name}", "hashed_password": None,
                                  "username": name})["id"])


def session(user_id: str, sid: str = "a", expires: int = T0 + HOUR, idle: int = T0 + 2 * HOUR) -> SessionRow:
    return SessionRow(sid * 40, user_id, expires, idle)


# schema


def test_tables_live_in_their_own_schema_with_lucias_columns(pg: PostgresAdapter, schema: tuple[str, str]) -> None:
    dsn, name = schema
    columns = raw(dsn, "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                       "WHERE table_schema = %s AND table_name IN ('user', 'session') "
                       "ORDER BY table_name, ordinal_position", name)
    assert columns == [
        ("session", "id", "text", "NO"),
        ("session", "user_id", "text", "NO"),
        ("session", "expires", "bigint", "NO"),
        ("session", "idle_expires", "bigint", "NO"),
        # ours, all nullable: a Lucia app's INSERT of the four columns above still works
        ("session", "successor", "text", "YES"),
        ("session", "predecessor", "text", "YES"),
        ("session", "created_at", "bigint", "YES"),
        ("session", "last_seen", "bigint", "YES"),
        ("session", "user_agent", "text", "YES"),
        ("session", "ip_address", "text", "YES"),
        ("user", "id", "text", "NO"),
        ("user", "provider_id", "text", "NO"),
        ("user", "hashed_password", "text", "YES"),
        ("user", "username", "text", "YES"),
    ]


def test_session_user_id_is_indexed_and_references_user(pg: PostgresAdapter, schema: tuple[str, str]) -> None:
    dsn, name = schema
    indexes = [row[0] for row in raw(dsn, "SELECT indexdef FROM pg_indexes WHERE schemaname = %s", name)]
    assert f"CREATE INDEX session_user_id ON {name}.session USING btree (user_id)" in indexes
    foreign = raw(dsn, "SELECT conrelid::regclass::text, confrelid::regclass::text, confdeltype FROM pg_constraint "
                       "WHERE contype = 'f' AND connamespace = %s::regnamespace ORDER BY 1", name)
    assert foreign == [(f"{name}.lucia_code", f'{name}."user"', "c"),  # ON DELETE CASCADE: a Lucia app can
                       (f"{name}.lucia_token", f'{name}."user"', "c"),  # still delete users
                       (f"{name}.session", f'{name}."user"', "a")]


def test_our_own_tables_hold_throttles_tokens_and_codes(pg: PostgresAdapter, schema: tuple[str, str]) -> None:
    dsn, name = schema
    tables = raw(dsn, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", name)
    assert tables == [("lucia_code",), ("lucia_throttle",), ("lucia_token",), ("session",), ("user",)]


def test_create_tables_twice_keeps_rows_and_adds_missing_columns(pg: PostgresAdapter) -> None:
    user_id = add_user(pg)
    pg.create_tables(user_attributes={"username": "TEXT", "age": "INTEGER"})
    assert pg.user_columns() == {"id", "provider_id", "hashed_password", "username", "age"}
    assert pg.update_user(user_id, {"age": 41})["age"] == 41
    assert pg.get_user(user_id)["username"] == "alice"  # type: ignore[index]


def test_a_column_added_by_another_process_is_seen_by_running_adapters(
        pg: PostgresAdapter, schema: tuple[str, str]) -> None:
    user_id = add_user(pg)
    pg.set_session(session(user_id))
    for _ in range(6):  # past psycopg's threshold: the statements are prepared now
        pg.get_user(user_id)
        pg.get_session_and_user_by_session_id("a" * 40)
    dsn, name = schema
    other = PostgresAdapter(dsn, schema=name)
    try:
        other.create_tables(user_attributes={"username": "TEXT", "nickname": "TEXT"})
    finally:
        other.close()
    assert pg.get_user(user_id)["nickname"] is None  # type: ignore[index]
    assert pg.get_session_and_user_by_session_id("a" * 40)[1]["nickname"] is None  # type: ignore[index]
    assert pg.update_user(user_id, {"nickname": "al"})["nickname"] == "al"


def test_prepared_writes_survive_a_column_added_by_another_process(
        pg: PostgresAdapter, schema: tuple[str, str]) -> None:
    """``INSERT/UPDATE ... RETURNING *`` plans are cached too; a new column must not break them."""
    user_id = add_user(pg, "alice")
    for index in range(8):  # past psycopg's prepare threshold, on the pool's one connection
        pg.set_user(None, {"provider_id": f"p:{index}", "hashed_password": None, "username": "x"})
        pg.update_user(user_id, {"username": f"alice{index}"})
    dsn, name = schema
    other = PostgresAdapter(dsn, schema=name)
    try:
        other.create_tables(user_attributes={"username": "TEXT", "nickname": "TEXT"})
    finally:
        other.close()
    for index in range(3):  # recovered for good, not only once
        created = pg.set_user(None, {"provider_id": f"q:{index}", "hashed_password": None, "username": "y"})
        assert created["nickname"] is None
        updated = pg.update_user(user_id, {"username": f"al{index}"})
        assert updated == {"id": user_id, "provider_id": "username:alice", "hashed_password": None,
                           "username": f"al{index}", "nickname": None}
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_PROVIDER_ID"):  # errors still translated
        pg.set_user(None, {"provider_id": "q:0", "hashed_password": None, "username": "y"})


def test_concurrent_create_tables_all_succeed(schema: tuple[str, str]) -> None:
    dsn, name = schema
    adapters = [PostgresAdapter(dsn, schema=name) for _ in range(4)]
    barrier = threading.Barrier(len(adapters))

    def create(adapter: PostgresAdapter) -> None:
        barrier.wait()
        adapter.create_tables(user_attributes={"username": "TEXT"})

    try:
        with ThreadPoolExecutor(len(adapters)) as pool:
            list(pool.map(create, adapters))
    finally:
        for adapter in adapters:
            adapter.close()
    assert raw(dsn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", name) == [(5,)]


def test_a_table_made_elsewhere_is_read_with_its_attribute_columns(schema: tuple[str, str]) -> None:
    dsn, name = schema
    ident = sql.Identifier(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(ident))
        conn.execute(sql.SQL('CREATE TABLE {}."user" (id TEXT PRIMARY KEY, provider_id TEXT NOT NULL UNIQUE, '
                             "hashed_password TEXT, username TEXT)").format(ident))
        conn.execute(sql.SQL('CREATE TABLE {}."session" (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES '
                             '{}."user"(id), expires BIGINT NOT NULL, idle_expires BIGINT NOT NULL)')
                     .format(ident, ident))
        conn.execute(sql.SQL("INSERT INTO {}.\"user\" VALUES ('user-alice', 'username:alice', NULL, 'Alice')")
                     .format(ident))
    adapter = PostgresAdapter(dsn, schema=name)
    try:
        assert adapter.get_user_by_provider_id("username:alice") == {
            "id": "user-alice", "provider_id": "username:alice", "hashed_password": None, "username": "Alice"}
    finally:
        adapter.close()


def test_create_tables_accepts_sized_and_multiword_types(pg: PostgresAdapter, schema: tuple[str, str]) -> None:
    pg.create_tables(user_attributes={"code": "VARCHAR(8)", "score": "NUMERIC(6, 2)", "ratio": "DOUBLE PRECISION"})
    dsn, name = schema
    assert raw(dsn, "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
                    "FROM information_schema.columns WHERE table_schema = %s AND table_name = 'user' "
                    "AND column_name IN ('code', 'score', 'ratio') ORDER BY ordinal_position", name) == [
        ("code", "character varying", 8, None, None), ("score", "numeric", None, 6, 2),
        ("ratio", "double precision", None, 53, None)]


@pytest.mark.parametrize("attributes", [
    pytest.param({'x" TEXT); DROP TABLE "user"; --': "TEXT"}, id="column-name-injection"),
    pytest.param({"nickname": "TEXT); DROP TABLE session; --"}, id="column-type-injection"),
    pytest.param({"nickname": "TEXT, DROP COLUMN hashed_password"}, id="column-type-with-comma"),
    pytest.param({"nickname": "TEXT DEFAULT (current_user)"}, id="column-type-with-expression"),
    pytest.param({"": "TEXT"}, id="empty-name"),
])
def test_create_tables_rejects_unsafe_attribute_definitions(pg: PostgresAdapter, attributes: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        pg.create_tables(user_attributes=attributes)
    assert pg.user_columns() == {"id", "provider_id", "hashed_password", "username"}


@pytest.mark.parametrize("values", [
    pytest.param({"provider_id": "username:x", 'username" = 1; --': "x"}, id="unknown-column"),
    pytest.param({"provider_id": "username:x", "id": "forced"}, id="id-as-value"),
])
def test_set_user_accepts_only_existing_columns(pg: PostgresAdapter, values: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        pg.set_user(None, values)
    assert pg.get_user_by_provider_id("username:x") is None


@pytest.mark.parametrize("schema_name", [
    pytest.param("public; DROP", id="statement"), pytest.param('a"b', id="quote"), pytest.param("", id="empty"),
])
def test_schema_names_are_checked(schema_name: str) -> None:
    with pytest.raises(ValueError):
        PostgresAdapter("postgresql://localhost/none", schema=schema_name)


def test_needs_exactly_one_of_conninfo_and_pool() -> None:
    with pytest.raises(TypeError):
        PostgresAdapter()


# errors


def test_driver_errors_become_lucia_codes(pg: PostgresAdapter) -> None:
    alice, bob = add_user(pg, "alice"), add_user(pg, "bob")
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_PROVIDER_ID"):
        add_user(pg, "alice")
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_PROVIDER_ID"):
        pg.update_user(bob, {"provider_id": "username:alice"})
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_USER_DATA"):
        pg.set_user(alice, {"provider_id": "username:carol"})
    with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
        pg.update_user("nobody", {"username": "x"})
    with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
        pg.set_session(session("nobody"))
    pg.set_session(session(alice))
    with pytest.raises(LuciaError, match="AUTH_DUPLICATE_SESSION_ID"):
        pg.set_session(session(bob))
    assert pg.get_sessions_by_user_id(bob) == []


def test_an_unreachable_server_raises_the_drivers_error_not_a_lucia_code() -> None:
    adapter = PostgresAdapter("postgresql://postgres@127.0.0.1:1/test?connect_timeout=1", timeout=0.5)
    try:
        with pytest.raises(psycopg.OperationalError):
            adapter.get_session("a" * 40)
    finally:
        adapter.close()


# reads and writes


def test_session_and_user_in_one_query(pg: PostgresAdapter) -> None:
    user_id = add_user(pg)
    pg.set_session(session(user_id))
    row, user = pg.get_session_and_user_by_session_id("a" * 40)  # type: ignore[misc]
    assert row == session(user_id)
    assert user == {"id": user_id, "provider_id": "username:alice", "hashed_password": None, "username": "alice"}
    assert pg.get_session_and_user_by_session_id("b" * 40) is None


def test_delete_user_takes_its_sessions_only(pg: PostgresAdapter) -> None:
    alice, bob = add_user(pg, "alice"), add_user(pg, "bob")
    pg.set_session(session(alice, "a"))
    pg.set_session(session(bob, "b"))
    pg.delete_user(alice)
    assert pg.get_user(alice) is None
    assert pg.get_session("a" * 40) is None
    assert pg.get_sessions_by_user_id(bob) == [session(bob, "b")]


def test_writes_are_visible_to_another_connection_at_once(pg: PostgresAdapter, schema: tuple[str, str]) -> None:
    dsn, name = schema
    user_id = add_user(pg)
    pg.set_session(session(user_id))
    query = sql.SQL('SELECT id, expires FROM {}."session"').format(sql.Identifier(name))
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute(query).fetchall() == [("a" * 40, T0 + HOUR)]


@pytest.mark.parametrize("prepare", [pytest.param(True, id="prepared"), pytest.param(False, id="unprepared")])
def test_repeated_lookups_agree_prepared_or_not(schema: tuple[str, str], prepare: bool) -> None:
    dsn, name = schema
    adapter = PostgresAdapter(dsn, schema=name, prepare=prepare)
    try:
        adapter.create_tables()
        user_id = str(adapter.set_user(None, {"provider_id": "p:1"})["id"])
        adapter.set_session(session(user_id))
        assert {adapter.get_session("a" * 40) for _ in range(8)} == {session(user_id)}
    finally:
        adapter.close()


def test_a_pool_passed_in_is_used_and_left_open(pg: PostgresAdapter, schema: tuple[str, str]) -> None:
    dsn, name = schema
    user_id = add_user(pg)
    with ConnectionPool(dsn, min_size=1, max_size=2, open=True, kwargs={"autocommit": True}) as pool:
        shared = PostgresAdapter(pool=pool, schema=name)
        shared.set_session(session(user_id))
        shared.close()
        assert not pool.closed
        assert pg.get_session("a" * 40) == session(user_id)


# renewal and maintenance


def _lucia_tables(dsn: str, name: str) -> None:
    raw(dsn, sql.SQL('CREATE SCHEMA {0}; CREATE TABLE {0}."user" (id TEXT PRIMARY KEY, provider_id TEXT NOT NULL '
                     'UNIQUE, hashed_password TEXT); CREATE TABLE {0}.session (id TEXT PRIMARY KEY, user_id TEXT '
                     'NOT NULL REFERENCES {0}."user"(id), expires BIGINT NOT NULL, idle_expires BIGINT NOT NULL); '
                     "INSERT INTO {0}.\"user\" VALUES ('user-1', 'p:1', NULL)").format(sql.Identifier(name))
        .as_string(None))


def test_a_table_lucia_made_works_without_our_columns(schema: tuple[str, str]) -> None:
    dsn, name = schema
    _lucia_tables(dsn, name)
    adapter = PostgresAdapter(dsn, schema=name, max_size=2)
    try:
        old = SessionRow("a" * 40, "user-1", 10, 20)
        adapter.set_session(old._replace(created_at=5))  # the facts have nowhere to go
        assert adapter.get_session(old.id) == old
        new = SessionRow("b" * 40, "user-1", 30, 40, predecessor=old.id)
        assert adapter.renew_session(old, new.id, new, None) is True  # as Lucia 0.3: only the insert
        assert adapter.renew_session(old._replace(expires=11), "c" * 40, new._replace(id="c" * 40), None) is False
        assert set(adapter.get_sessions_by_user_id("user-1")) == {old, new._replace(predecessor=None)}
        adapter.cut_sessions([old.id], 15)
        assert adapter.get_session_and_user_by_session_id(old.id) == (
            old._replace(idle_expires=15), {"id": "user-1", "provider_id": "p:1", "hashed_password": None})
        assert adapter.delete_dead_sessions(16) == 1
        adapter.create_tables()  # adds our columns; Lucia's rows stay as they were
        assert adapter.get_session(new.id) == new._replace(predecessor=None)
        full = SessionRow("d" * 40, "user-1", 30, 40, "s" * 40, "a" * 40, 1, 2, "agent", "::1")
        adapter.set_session(full)
        assert adapter.get_session(full.id) == full
    finally:
        adapter.close()


def test_concurrent_validation_of_an_idle_session_keeps_every_caller_signed_in(pg: PostgresAdapter) -> None:
    now = T0 + 25 * HOUR  # idle: past the default 24 h active period
    auth = lucia(adapter=pg, env="DEV", hash=CHEAP_HASH, clock=lambda: now)
    user_id = add_user(pg)
    pg.set_session(SessionRow("i" * 40, user_id, T0 + 24 * HOUR, T0 + 24 * HOUR + 14 * 24 * HOUR))
    barrier = threading.Barrier(8)

    def validate(_: int) -> str:
        barrier.wait()
        return auth.validate_session_user("i" * 40).session.user_id  # type: ignore[union-attr]

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(validate, range(8))) == [user_id] * 8
    assert len(pg.get_sessions_by_user_id(user_id)) == 2  # the renewed row and its one successor


def test_dead_sessions_go_in_batches_and_live_ones_stay(pg: PostgresAdapter) -> None:
    user_id = add_user(pg)
    for index in range(5):
        pg.set_session(SessionRow(f"{index}" * 40, user_id, T0 - 2 * HOUR, T0 - HOUR))
    pg.set_session(SessionRow("l" * 40, user_id, T0, T0))  # idle_expires == now: still alive
    assert pg.count_dead_sessions(T0) == 5
    assert pg.delete_dead_sessions(T0, limit=2) == 2
    assert pg.delete_dead_sessions(T0, limit=2) == 2
    assert pg.delete_dead_sessions(T0) == 1
    assert pg.delete_dead_sessions(T0) == 0
    assert pg.get_sessions_by_user_id(user_id) == [SessionRow("l" * 40, user_id, T0, T0)]


# the shared contract


class TestPostgresContract(AdapterContract):
    nul_error = psycopg.DataError  # text columns cannot hold NUL; psycopg refuses before sending
    unique_attributes = True
    lucia_made = True

    def make_unique(self, adapter: PostgresAdapter, column: str) -> None:
        adapter.create_tables(user_attributes={"username": "TEXT", column: "TEXT UNIQUE"})

    @pytest.fixture
    def adapter(self, pg: PostgresAdapter) -> PostgresAdapter:
        return pg

    @pytest.fixture
    def second_adapter(self, pg: PostgresAdapter, schema: tuple[str, str]) -> Iterator[PostgresAdapter]:
        other = PostgresAdapter(schema[0], schema=schema[1])
        yield other
        other.close()

    @pytest.fixture
    def lucia_made_adapter(self) -> Iterator[PostgresAdapter]:
        with postgres_schema() as (dsn, name):
            _lucia_tables(dsn, name)
            adapter = PostgresAdapter(dsn, schema=name, max_size=8)
            yield adapter
            adapter.close()


@pytest.mark.parametrize(("prepare", "expect_prepared"), [
    pytest.param(True, True, id="prepared"),
    pytest.param(False, False, id="never-prepared-behind-a-pooler"),
])
def test_prepare_option_decides_server_side_statements(
    schema: tuple[str, str], prepare: bool, expect_prepared: bool
) -> None:
    dsn, name = schema
    adapter = PostgresAdapter(dsn, schema=name, max_size=1, prepare=prepare)
    try:
        adapter.create_tables()
        user_id = str(adapter.set_user(None, {"provider_id": "username:p", "hashed_password": None})["id"])
        for _ in range(10):
            adapter.get_sessions_by_user_id(user_id)
        with adapter.pool.connection() as conn:
            statements = conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
        assert any("session" in str(row[0]) for row in statements) is expect_prepared
    finally:
        adapter.close()
