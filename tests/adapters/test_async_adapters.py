"""The asyncio stores (AsyncPostgresAdapter, AsyncRedisSessionAdapter) pass the same contract.

The contract calls adapters synchronously, from one or many threads; here each
call is a coroutine run on one event loop in a background thread, so the
concurrency tests interleave real coroutines on that loop.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import psycopg
import pytest
from services import postgres_schema, redis_prefix

from lucia_wsgi.adapters import AsyncPostgresAdapter, AsyncRedisSessionAdapter, RedisSessionAdapter

from .contract import ACCOUNT_METHODS, AdapterContract
from .test_postgres import _lucia_tables

pytestmark = pytest.mark.services


class Loop:
    """An event loop on its own thread; ``run(coroutine)`` waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.stop()


class SyncView:
    """An asyncio store seen synchronously: every awaitable result is run on ``loop``."""

    def __init__(self, loop: Loop, *stores: Any, maintenance: Any = None) -> None:
        self._loop, self._stores, self._maintenance = loop, stores, maintenance

    def _owner(self, name: str) -> Any:
        if self._maintenance is not None and name.endswith("dead_sessions"):
            return self._maintenance  # purging is the synchronous adapter's (and the CLI's) job
        if len(self._stores) == 1:
            return self._stores[0]
        users, sessions = self._stores
        return sessions if "session" in name or name in ACCOUNT_METHODS else users

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._owner(name), name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            return self._loop.run(_awaited(result)) if inspect.isawaitable(result) else result

        return call


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _close(loop: Loop, *stores: Any) -> None:
    for store in stores:
        loop.run(store.aclose())


class TestAsyncPostgresContract(AdapterContract):
    nul_error = psycopg.DataError
    unique_attributes = True
    lucia_made = True

    def make_unique(self, adapter: SyncView, column: str) -> None:
        adapter.create_tables(user_attributes={"username": "TEXT", column: "TEXT UNIQUE"})

    @pytest.fixture
    def schema(self) -> Iterator[tuple[str, str]]:
        with postgres_schema() as found:
            yield found

    @pytest.fixture
    def adapter(self, loop: Loop, schema: tuple[str, str]) -> Iterator[SyncView]:
        store = AsyncPostgresAdapter(schema[0], schema=schema[1], max_size=8)
        view = SyncView(loop, store)
        view.create_tables(user_attributes={"username": "TEXT"})
        yield view
        _close(loop, store)

    @pytest.fixture
    def second_adapter(self, loop: Loop, adapter: SyncView, schema: tuple[str, str]) -> Iterator[SyncView]:
        other = AsyncPostgresAdapter(schema[0], schema=schema[1])
        yield SyncView(loop, other)
        _close(loop, other)

    @pytest.fixture
    def lucia_made_adapter(self, loop: Loop) -> Iterator[SyncView]:
        with postgres_schema() as (dsn, schema):
            _lucia_tables(dsn, schema)
            store = AsyncPostgresAdapter(dsn, schema=schema, max_size=8)
            yield SyncView(loop, store)
            _close(loop, store)


class TestAsyncRedisWithAsyncPostgresUsersContract(AdapterContract):
    stores_users = False
    purges_accounts = False  # Redis expires throttles, tokens and codes itself
    nul_error = psycopg.DataError

    @pytest.fixture
    def names(self) -> Iterator[tuple[str, str, str, str]]:
        with postgres_schema() as (dsn, schema), redis_prefix() as (url, prefix):
            yield dsn, schema, url, prefix

    def _open(self, loop: Loop, names: tuple[str, str, str, str]) -> tuple[SyncView, Callable[[], None]]:
        dsn, schema, url, prefix = names
        users = AsyncPostgresAdapter(dsn, schema=schema, max_size=8)
        sessions = AsyncRedisSessionAdapter(url, prefix=prefix)
        purger = RedisSessionAdapter(url, prefix=prefix)  # the same keys, read by the synchronous adapter

        def close() -> None:
            _close(loop, users, sessions)
            purger.close()

        return SyncView(loop, users, sessions, maintenance=purger), close

    @pytest.fixture
    def adapter(self, loop: Loop, names: tuple[str, str, str, str]) -> Iterator[SyncView]:
        view, close = self._open(loop, names)
        view.create_tables(user_attributes={"username": "TEXT"})
        yield view
        close()

    @pytest.fixture
    def second_adapter(self, loop: Loop, adapter: SyncView, names: tuple[str, str, str, str]) -> Iterator[SyncView]:
        view, close = self._open(loop, names)
        yield view
        close()


def test_every_method_of_an_asyncio_store_is_a_coroutine(loop: Loop) -> None:
    store = AsyncRedisSessionAdapter("redis://127.0.0.1:6379/0")
    try:
        pending = store.get_session("a" * 40)
        assert inspect.isawaitable(pending)
        assert loop.run(_awaited(pending)) is None
    finally:
        _close(loop, store)
