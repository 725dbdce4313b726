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

from .base import missing_driver, then_sync

try:
    import redis
except ModuleNotFoundError as error:
    raise missing_driver(error, "RedisSessionAdapter", "redis", ("redis",)) from error

from .redis_store import GLOB, RedisStore

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
        return then_sync(value, function)

    # maintenance (the command line's purge)

    def _index_pages(self, cursor: int = 0) -> Any:
        """``(cursor, next cursor, index keys)`` for each SCAN page from ``cursor`` to the end."""
        pattern = GLOB.sub(r"\\\1", self._index_prefix) + "*"
        while True:
            following, keys = self.client.scan(cursor, match=pattern, count=1000)
            yield cursor, int(following), keys
            cursor = int(following)
            if cursor == 0:
                return

    def count_dead_sessions(self, now: int) -> int:
        """How many index entries a purge at ``now`` (ms) removes."""
        total = 0
        for _, _, keys in self._index_pages():
            if keys:
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.zcount(key, "-inf", f"({now}")
                total += sum(pipe.execute())
        return total

    def delete_dead_sessions(self, now: int, limit: int | None = None) -> int:
        """Delete sessions a cleanup may remove at ``now`` (ms), at most ``limit``; returns how many went.

        Batched calls resume the key scan where the previous one stopped, so
        calling until it returns fewer than ``limit`` visits every user once;
        without a limit, one call scans every user.
        """
        removed = 0
        start = 0 if limit is None else self._purge_cursor
        for cursor, following, keys in self._index_pages(start):
            budget = -1 if limit is None else limit - removed
            if keys:
                removed += int(self._scripts["purge"](keys=keys, args=[now, budget, self._session_prefix]))
            if limit is not None and removed >= limit:
                self._purge_cursor = cursor  # this page may hold more: start there next time
                return removed
            self._purge_cursor = following
        return removed
