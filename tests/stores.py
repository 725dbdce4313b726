"""Stores for the asyncio tests: a memory store behind coroutines, and slow or failing wrappers.

Both wrappers offer the whole adapter protocol of the store they wrap (the
renewal writes and the joined read included), so ``Auth`` takes the same
code paths as with the bare store. Each records which threads ran its calls
and how many calls were in flight at once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.testing import PROTOCOL_METHODS

#: The reads a request's validation makes (the joined read, or the session read alone).
READS = frozenset({"get_session", "get_session_and_user_by_session_id"})


class _Recorder:
    def __init__(self, store: Any, delay: float, fail: BaseException | None) -> None:
        self.store = MemoryAdapter() if store is None else store
        self.delay = delay
        #: Raised by every read while set (a store outage).
        self.fail = fail
        self.threads: set[str] = set()
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def _enter(self, name: str) -> None:
        with self._lock:
            self.calls.append(name)
            self.threads.add(threading.current_thread().name)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def __getattr__(self, name: str) -> Any:  # create_tables, close... of the wrapped store
        if name == "store":
            raise AttributeError(name)
        return getattr(self.store, name)


class SlowStore(_Recorder):
    """A synchronous store whose reads block for ``delay`` seconds (``time.sleep``)."""

    def __init__(self, store: Any = None, *, delay: float = 0.0, fail: BaseException | None = None) -> None:
        super().__init__(store, delay, fail)

    def _call(self, name: str, *args: Any) -> Any:
        self._enter(name)
        try:
            if name in READS:
                time.sleep(self.delay)
                if self.fail is not None:
                    raise self.fail
            return getattr(self.store, name)(*args)
        finally:
            self._leave()


class AsyncStore(_Recorder):
    """An asyncio store: every method a coroutine; reads ``await asyncio.sleep(delay)``."""

    def __init__(self, store: Any = None, *, delay: float = 0.0, fail: BaseException | None = None) -> None:
        super().__init__(store, delay, fail)

    async def _call(self, name: str, *args: Any) -> Any:
        self._enter(name)
        try:
            if name in READS:
                await asyncio.sleep(self.delay)
                if self.fail is not None:
                    raise self.fail
            return getattr(self.store, name)(*args)
        finally:
            self._leave()


def _sync_method(name: str) -> Callable[..., Any]:
    def method(self: SlowStore, *args: Any) -> Any:
        return self._call(name, *args)

    method.__name__ = name
    return method


def _async_method(name: str) -> Callable[..., Any]:
    async def method(self: AsyncStore, *args: Any) -> Any:
        return await self._call(name, *args)

    method.__name__ = name
    return method


for _name in PROTOCOL_METHODS:
    setattr(SlowStore, _name, _sync_method(_name))
    setattr(AsyncStore, _name, _async_method(_name))
