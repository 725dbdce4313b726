"""Redis session store on redis-py (sessions only; pair it with a SQL user store).

The key layout, record format and scripts are in
:mod:`~lucia_wsgi.adapters.redis_store`, shared with
:class:`~lucia_wsgi.adapters.AsyncRedisSessionAdapter`.

The session store cannot check that a user exists: ``Auth.create_session``
asks the user store first when the two are separate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import missing_driver

try:
    import redis
except ModuleNotFoundError as error:
    raise missing_driver(error, "RedisSessionAdapter", "redis", ("redis",)) from error

from .redis_store import RedisStore

__all__ = ["RedisSessionAdapter"]


class RedisSessionAdapter(RedisStore):
    """Sessions in Redis, each key expiring at the session's idle expiry.

    >>> sessions = RedisSessionAdapter("redis://127.0.0.1:6379/0", prefix="myapp:")
    >>> auth = lucia(adapter={"user": PostgresAdapter(dsn), "session": sessions}, env="PROD")

    :param url: a ``redis://``/``rediss://``/``unix://`` URL; the adapter
        opens (and closes) the client.
    :param client: an existing :class:`redis.Redis` instead (left open by :meth:`close`).
    :param prefix: prepended to every key, to share a database with other data.
    :param options: passed on to :meth:`redis.Redis.from_url` with ``url``
        (``socket_timeout=...``, ``max_connections=...``).

    A connection Redis dropped is replaced by redis-py's own retry (on by
    default), which is safe here because every write can be repeated.

    Needs the real clock: keys expire by the Redis *server's* clock at the
    ``idle_expires`` that ``lucia(clock=...)`` computed. With a clock behind
    real time (a test's frozen clock, say) sessions vanish as soon as they are
    written, or earlier than Lucia expects; with one ahead they outlive their
    expiry in Redis (Lucia still refuses them by its own clock). Test with
    real time, as ``tests/adapters/contract.py`` does, or use another store
    when you need to move the clock.
    """

    def __init__(self, url: str | None = None, *, client: redis.Redis | None = None, prefix: str = "lucia:",
                 **options: Any) -> None:
        if (url is None) == (client is None):
            raise TypeError("pass exactly one of url and client")
        if client is not None and options:
            raise TypeError("client options apply only with a url")
        self._owns_client = client is None
        if client is None:
            assert url is not None
            client = redis.Redis.from_url(url, **options)
        self.client: redis.Redis = client
        self._setup(prefix)

    def close(self) -> None:
        """Close the client if this adapter opened it."""
        if self._owns_client:
            self.client.close()

    def _then(self, value: Any, function: Callable[[Any], Any]) -> Any:
        return function(value)
