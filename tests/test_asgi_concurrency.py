"""Concurrent requests through LuciaASGIMiddleware: one successor for fifty tabs, and a free event loop.

Requests go through ``httpx.AsyncClient`` on ``httpx.ASGITransport``, fired
together with ``asyncio.gather`` on one event loop: against PostgreSQL on
its asyncio pool (alone, and as the user store beside Redis sessions on
``redis.asyncio``), and against SQLite, whose blocking calls run in the
worker pool. A store whose reads take 0.3 s (blocking, or awaiting) must not
hold up the loop: four such requests take about one read, and a ticker
keeps ticking meanwhile. ``max_threads`` bounds the pool under load.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from services import postgres_schema, redis_prefix
from shells import Inner, Reply, asgi_page
from stores import AsyncStore, SlowStore

from lucia_wsgi import AsyncAuth, Auth, lucia
from lucia_wsgi.adapters import AsyncPostgresAdapter, AsyncRedisSessionAdapter, MemoryAdapter, SQLiteAdapter
from lucia_wsgi.asgi import LuciaASGIMiddleware
from lucia_wsgi.config import DAY_MS, DEFAULT_RENEWAL_GRACE, system_clock

CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
TABS = 50


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def who(r: Inner) -> Reply:
    user = (await r.validate_user()).user
    body = b"anonymous" if user is None else f"user:{user['user_id']}".encode()
    return Reply(200, [("Content-Type", "text/plain")], body)


def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


def handed(response: httpx.Response) -> list[str]:
    """The session ids the response's Set-Cookie headers hand over."""
    return [value.split(";")[0].split("=", 1)[1] for value in response.headers.get_list("set-cookie")]


async def settled(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# fifty tabs, one idle session


Stores = Callable[[Path], "AsyncIterator[Any]"]


@asynccontextmanager
async def sqlite_stores(tmp_path: Path) -> AsyncIterator[Any]:
    adapter = SQLiteAdapter(tmp_path / "lucia.db")
    adapter.create_tables()
    yield adapter
    adapter.close()


@asynccontextmanager
async def postgres_stores(tmp_path: Path) -> AsyncIterator[Any]:
    with postgres_schema() as (dsn, schema):
        adapter = AsyncPostgresAdapter(dsn, schema=schema, max_size=10)
        try:
            await adapter.create_tables()
            yield adapter
        finally:
            await adapter.aclose()


@asynccontextmanager
async def postgres_redis_stores(tmp_path: Path) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:
        users = await stack.enter_async_context(postgres_stores(tmp_path))
        url, prefix = stack.enter_context(redis_prefix())
        sessions = AsyncRedisSessionAdapter(url, prefix=prefix)
        stack.push_async_callback(sessions.aclose)
        yield {"user": users, "session": sessions}


STORES = [
    pytest.param(sqlite_stores, id="sqlite-in-threads"),
    pytest.param(postgres_stores, id="postgres-asyncio", marks=pytest.mark.services),
    pytest.param(postgres_redis_stores, id="postgres+redis-asyncio", marks=pytest.mark.services),
]


@pytest.mark.parametrize("stores", STORES)
def test_fifty_tabs_with_one_idle_session_all_get_the_one_successor(
    tmp_path: Path, stores: Callable[[Path], Any]
) -> None:
    t0 = system_clock()  # real time: Redis expires keys by the wall clock
    idle = t0 + DAY_MS + 1

    async def scenario() -> None:
        async with stores(tmp_path) as adapter:
            clock = Clock(t0)
            auth = lucia(adapter=adapter, env="DEV", hash=CHEAP_HASH, clock=clock)
            user_id = (await auth.aio.create_user("username", "alice"))["user_id"]
            old = (await auth.aio.create_session(user_id)).session_id
            clock.now = idle

            async def rows() -> set[str]:
                found = await settled(auth.config.session_adapter.get_sessions_by_user_id(user_id))
                return {row.id for row in found if row.idle_expires >= clock.now}

            async with client_of(LuciaASGIMiddleware(asgi_page(who), auth)) as client:
                cookie = {"Cookie": f"auth_session={old}"}
                responses = await asyncio.gather(*(client.get("/", headers=cookie) for _ in range(TABS)))
                assert [r.status_code for r in responses] == [200] * TABS
                assert {r.text for r in responses} == {f"user:{user_id}"}, "a tab was logged out"
                assert all(handed(r) for r in responses), "a tab got no cookie"
                successors = {value for r in responses for value in handed(r)}
                assert len(successors) == 1, f"{len(successors)} successors for one session"
                (successor,) = successors
                assert successor != old
                assert await rows() == {old, successor}, "more rows than the old id and its successor"

                confirmed = await client.get("/", headers={"Cookie": f"auth_session={successor}"})
                assert confirmed.text == f"user:{user_id}" and handed(confirmed) == []
                clock.now = idle + DEFAULT_RENEWAL_GRACE + 1
                assert await rows() == {successor}
                late = await client.get("/", headers=cookie)
                assert late.text == "anonymous" and handed(late) == []  # no blank cookie over the new one

    asyncio.run(scenario())


# the event loop stays free


def signed_in(store: Any, clock: Clock) -> tuple[Auth, str]:
    """An ``Auth`` over ``store`` (a wrapper of a memory store) with alice signed in."""
    setup = lucia(adapter=store.store, env="DEV", hash=CHEAP_HASH, clock=clock)
    session_id = setup.create_session(setup.create_user("username", "alice")["user_id"]).session_id
    return lucia(adapter=store, env="DEV", hash=CHEAP_HASH, clock=clock), session_id


async def with_ticker(work: Awaitable[Any]) -> tuple[Any, float, list[float]]:
    """``work``'s result, how long it took, and the gaps between the ticks of a 10 ms ticker meanwhile.

    The garbage collector is off meanwhile: a full collection of a big test
    process's heap can pause the loop too, and that is not what is measured.
    """
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - before)

    gc.collect()
    gc.disable()
    ticking = asyncio.ensure_future(ticker())
    start = time.perf_counter()
    try:
        result = await work
    finally:
        elapsed = time.perf_counter() - start
        done.set()
        await ticking
        gc.enable()
    return result, elapsed, gaps


@pytest.mark.parametrize("make_store", [
    pytest.param(lambda: SlowStore(MemoryAdapter(), delay=0.3), id="blocking-store-in-threads"),
    pytest.param(lambda: AsyncStore(MemoryAdapter(), delay=0.3), id="asyncio-store"),
])
def test_slow_reads_do_not_hold_up_the_event_loop(make_store: Callable[[], Any]) -> None:
    store = make_store()
    auth, session_id = signed_in(store, Clock(1_700_000_000_000))

    async def four() -> tuple[list[httpx.Response], float, list[float]]:
        async with client_of(LuciaASGIMiddleware(asgi_page(who), auth)) as client:
            cookie = {"Cookie": f"auth_session={session_id}"}
            return await with_ticker(asyncio.gather(*(client.get("/", headers=cookie) for _ in range(4))))

    responses, elapsed, gaps = asyncio.run(four())
    assert [r.text for r in responses] == [f"user:{store.store.get_session(session_id).user_id}"] * 4
    assert store.max_in_flight == 4, "the four reads did not overlap"
    assert elapsed < 0.9, f"four 0.3 s reads took {elapsed:.2f} s: they ran one after another"
    assert len(gaps) >= 10 and max(gaps) < 0.15, f"the loop stalled for {max(gaps):.3f} s"


def test_max_threads_bounds_the_threads_slow_requests_use() -> None:
    store = SlowStore(MemoryAdapter(), delay=0.2)
    auth, session_id = signed_in(store, Clock(1_700_000_000_000))
    aio = AsyncAuth(auth, max_threads=2)
    before = set(threading.enumerate())
    peak: list[int] = []

    async def eight() -> tuple[list[httpx.Response], float, list[float]]:
        async def watch() -> None:
            while True:
                peak.append(len(set(threading.enumerate()) - before))
                await asyncio.sleep(0.02)

        watching = asyncio.ensure_future(watch())
        try:
            async with client_of(LuciaASGIMiddleware(asgi_page(who), aio)) as client:
                cookie = {"Cookie": f"auth_session={session_id}"}
                return await with_ticker(asyncio.gather(*(client.get("/", headers=cookie) for _ in range(8))))
        finally:
            watching.cancel()

    responses, elapsed, gaps = asyncio.run(eight())
    assert {r.status_code for r in responses} == {200} and len(responses) == 8
    assert store.max_in_flight == 2 and len(store.threads) == 2
    assert max(peak) <= 2, f"{max(peak)} new threads for a pool of two"
    assert elapsed >= 4 * 0.2 * 0.95, "eight 0.2 s reads on two threads take four rounds"
    assert max(gaps) < 0.15, "waiting for a worker thread stalled the loop"
