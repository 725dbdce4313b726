"""``auth.aio`` (AsyncAuth over lucia_wsgi.flow): where store calls run, what comes back, how many threads.

Synchronous stores run in the pool's worker threads (a whole flow in one),
asyncio stores are awaited on the loop, password hashes always go to the
pool; a store's exception reaches the caller as the very object it raised;
``max_threads`` bounds the pool however many requests wait.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from typing import Any

import pytest
from stores import AsyncStore, SlowStore

from lucia_wsgi import AsyncAuth, LuciaError, lucia
from lucia_wsgi.adapters import AsyncPostgresAdapter, AsyncRedisSessionAdapter, MemoryAdapter
from lucia_wsgi.config import DAY_MS

T0 = 1_700_000_000_000
IDLE = T0 + DAY_MS + 1
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def signed_in(store: Any, clock: Clock, **options: Any) -> tuple[Any, str]:
    """An ``Auth`` over ``store`` with alice signed in (set up through the bare memory store)."""
    setup = lucia(adapter=store.store, env="DEV", hash=CHEAP_HASH, clock=clock)
    user_id = setup.create_user("username", "alice")["user_id"]
    session_id = setup.create_session(user_id).session_id
    return lucia(adapter=store, env="DEV", hash=CHEAP_HASH, clock=clock, **options), session_id


def test_a_sync_store_runs_a_whole_flow_in_one_worker_thread() -> None:
    clock = Clock()
    store = SlowStore()
    auth, session_id = signed_in(store, clock)
    clock.now = IDLE  # a renewal: a read and the renewal write
    renewed = asyncio.run(auth.aio.validate_session(session_id))
    assert renewed.is_fresh
    assert len(store.calls) >= 2
    (thread,) = store.threads
    assert thread.startswith("lucia_wsgi") and thread != threading.current_thread().name


def test_an_asyncio_store_is_awaited_on_the_event_loop() -> None:
    clock = Clock()
    store = AsyncStore()
    auth, session_id = signed_in(store, clock)
    clock.now = IDLE
    assert asyncio.run(auth.aio.validate_session(session_id)).is_fresh
    assert len(store.calls) >= 2
    assert store.threads == {threading.current_thread().name}


def test_an_asyncio_store_refuses_the_synchronous_api() -> None:
    auth, session_id = signed_in(AsyncStore(), Clock())
    with pytest.raises(TypeError, match=r"asyncio store: await the method on auth\.aio"):
        auth.validate_session(session_id)


def test_password_hashing_leaves_the_event_loop_even_with_an_asyncio_store() -> None:
    hashed_on: list[str] = []

    def generate(password: str) -> str:
        hashed_on.append(threading.current_thread().name)
        return CHEAP_HASH[0](password)

    store = AsyncStore()
    auth = lucia(adapter=store, env="DEV", hash=(generate, CHEAP_HASH[1]))
    asyncio.run(auth.aio.create_user("username", "bob", password="hunter22"))
    assert len(hashed_on) == 1 and hashed_on[0].startswith("lucia_wsgi")
    assert store.threads == {threading.current_thread().name}


def test_mixed_stores_run_each_call_where_it_belongs() -> None:
    clock = Clock()
    memory = MemoryAdapter()
    users, sessions = AsyncStore(memory), SlowStore(memory)
    setup = lucia(adapter=memory, env="DEV", hash=CHEAP_HASH, clock=clock)
    session_id = setup.create_session(setup.create_user("username", "alice")["user_id"]).session_id
    auth = lucia(adapter={"user": users, "session": sessions}, env="DEV", hash=CHEAP_HASH, clock=clock)
    session, user = asyncio.run(auth.aio.validate_session_user(session_id))
    assert user["user_id"] == session.user_id
    assert users.calls and users.threads == {threading.current_thread().name}
    assert sessions.calls and all(name.startswith("lucia_wsgi") for name in sessions.threads)


@pytest.mark.parametrize("kind", [pytest.param("sync", id="sync-store"), pytest.param("mixed", id="mixed-stores")])
def test_a_store_exception_arrives_as_the_object_the_store_raised(kind: str) -> None:
    clock = Clock()
    memory = MemoryAdapter()
    failure = TimeoutError("the store timed out")
    sessions = SlowStore(memory, fail=failure)
    setup = lucia(adapter=memory, env="DEV", hash=CHEAP_HASH, clock=clock)
    session_id = setup.create_session(setup.create_user("username", "alice")["user_id"]).session_id
    adapter: Any = sessions if kind == "sync" else {"user": AsyncStore(memory), "session": sessions}
    auth = lucia(adapter=adapter, env="DEV", hash=CHEAP_HASH, clock=clock)
    with pytest.raises(TimeoutError) as caught:
        asyncio.run(auth.aio.validate_session(session_id))
    assert caught.value is failure
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "_call" in frames, "the traceback no longer reaches into the store"


def test_lucia_errors_come_back_unchanged() -> None:
    auth, _ = signed_in(SlowStore(), Clock())
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        asyncio.run(auth.aio.validate_session("A" * 40))


def test_max_threads_bounds_the_worker_pool() -> None:
    clock = Clock()
    store = SlowStore(delay=0.2)
    auth, session_id = signed_in(store, clock)
    aio = AsyncAuth(auth, max_threads=2)

    async def eight() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(aio.validate_session(session_id) for _ in range(8)))
        return time.perf_counter() - start

    elapsed = asyncio.run(eight())
    assert store.max_in_flight == 2
    assert len(store.threads) == 2
    assert elapsed >= 4 * 0.2 * 0.95, "eight 0.2 s reads on two threads take four rounds"


def test_the_asyncio_adapters_are_awaited_not_run_in_threads() -> None:
    """Their methods return coroutines without being ``async def``: ``asyncio_store`` tells ``Auth``."""
    users = AsyncPostgresAdapter("postgresql://nobody@127.0.0.1:1/none")  # no connection until used
    sessions = AsyncRedisSessionAdapter("redis://127.0.0.1:1/0")
    for adapter in (users, {"user": users, "session": sessions}, {"user": MemoryAdapter(), "session": sessions}):
        auth = lucia(adapter=adapter, env="DEV")
        with pytest.raises(TypeError, match="asyncio store"):
            auth.get_session("A" * 40)
    asyncio.run(sessions.aclose())
