"""Redis session store on ``redis.asyncio``, for asyncio applications (ASGI).

The same keys, records and scripts as :class:`~lucia_wsgi.adapters.RedisSessionAdapter`
(see :mod:`~lucia_wsgi.adapters.redis_store`), so both can serve one Redis at
once; every method returns a coroutine, which ``auth.aio`` awaits on the event
loop. Purge dead sessions with the synchronous adapter or ``lucia-wsgi purge``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import missing_driver, then_async

try:
    import redis.asyncio as aioredis
except ModuleNotFoundError as error:
    raise missing_driver(error, "AsyncRedisSessionAdapter", "redis", ("redis",)) from error

from .redis_store import RedisStore

__all__ = ["AsyncRedisSessionAdapter"]


class AsyncRedisSessionAdapter(RedisStore):
    """Sessions in Redis for asyncio code; pair it with an asyncio (or any) user store.

    >>> sessions = AsyncRedisSessionAdapter("redis://127.0.0.1:6379/0", prefix="myapp:")
    >>> auth = lucia(adapter={"user": AsyncPostgresAdapter(dsn), "session": sessions}, env="PROD")
    >>> session = await auth.aio.validate_session(session_id)

    :param url: a ``redis://``/``rediss://``/``unix://`` URL; the adapter opens
        (and :meth:`aclose` closes) the client.
    :param client: an existing :class:`redis.asyncio.Redis` instead.
    :param prefix: prepended to every key.
    :param options: passed on to :func:`redis.asyncio.from_url` with ``url``.
    """

    #: Its methods return coroutines without being ``async def`` (they are the shared
    #: statement code), so ``Auth`` is told to await them rather than run them in threads.
    asyncio_store = True

    def __init__(self, url: str | None = None, *, client: aioredis.Redis | None = None, prefix: str = "lucia:",
                 **options: Any) -> None:
        if (url is None) == (client is None):
            raise TypeError("pass exactly one of url and client")
        if client is not None and options:
            raise TypeError("client options apply only with a url")
        self._owns_client = client is None
        if client is None:
            assert url is not None
            client = aioredis.from_url(url, **options)
        self.client: aioredis.Redis = client
        self._setup(prefix)

    async def aclose(self) -> None:
        """Close the client if this adapter opened it."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncRedisSessionAdapter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _then(self, value: Any, function: Callable[[Any], Any]) -> Any:
        return then_async(value, function)
