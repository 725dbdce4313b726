"""Redis session store (sessions only; pair it with a SQL user store).

Key layout, under a configurable prefix (default ``lucia:``)::

    {prefix}session:{session id}        JSON {"id", "user_id", "expires", "idle_expires"}
    {prefix}user_sessions:{user id}     sorted set: session id -> idle_expires

Each session key expires at the session's ``idle_expires`` (absolute
``PXAT``), the instant Lucia counts it dead; Redis expires a key when its time
is strictly past, exactly as a session dies when ``now > idle_expires``. The
per-user index is scored by ``idle_expires``: entries whose key is gone are
pruned when read, entries already past are pruned on every write, and the
index key itself expires with its last session.

Every write is one Lua script, so it is atomic and one round trip; renewal is
a compare-and-set in the same way. The scripts name keys built from the
prefix, so use a single Redis server (or a Redis Cluster only with a prefix
holding a ``{hash tag}`` that puts all keys in one slot).

The session store cannot check that a user exists: ``Auth.create_session``
asks the user store first when the two are separate.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import LuciaError
from ..session import SessionRow
from .base import missing_driver

try:
    import redis
except ModuleNotFoundError as error:
    raise missing_driver(error, "RedisSessionAdapter", "redis", ("redis",)) from error

__all__ = ["RedisSessionAdapter"]

# Drop index entries already past (by the server's clock), then make the index
# expire with its longest-lived session.
_TIDY = """
local function tidy(index)
  local t = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (t[1] * 1000 + math.floor(t[2] / 1000)))
  local top = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', index, top[2]) end
end
"""

# KEYS: session, index. ARGV: value, id, idle_expires.
_SET = _TIDY + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
tidy(KEYS[2])
return 1
"""

# KEYS: old session, new session, index.
# ARGV: expected expires, expected idle_expires, old id, shortened value, shortened idle_expires,
#       new id, new value, new idle_expires.
_REPLACE = _TIDY + """
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local row = cjson.decode(stored)
if tonumber(row.expires) ~= tonumber(ARGV[1]) or tonumber(row.idle_expires) ~= tonumber(ARGV[2]) then
  return 0
end
if not redis.call('SET', KEYS[2], ARGV[7], 'NX', 'PXAT', ARGV[8]) then return -1 end
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[6])
redis.call('SET', KEYS[1], ARGV[4], 'PXAT', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
tidy(KEYS[3])
return 1
"""

# KEYS: index. ARGV: session key prefix. Returns the live sessions' values.
_OF_USER = """
local found = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local value = redis.call('GET', ARGV[1] .. id)
  if value then table.insert(found, value) else redis.call('ZREM', KEYS[1], id) end
end
return found
"""

# KEYS: sessions. ARGV: index key prefix.
_DELETE = """
for _, key in ipairs(KEYS) do
  local stored = redis.call('GET', key)
  if stored then
    local row = cjson.decode(stored)
    redis.call('DEL', key)
    redis.call('ZREM', ARGV[1] .. row.user_id, row.id)
  end
end
return 0
"""

# KEYS: index. ARGV: session key prefix.
_DELETE_OF_USER = """
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do redis.call('DEL', ARGV[1] .. id) end
redis.call('DEL', KEYS[1])
return 0
"""

# KEYS: indexes. ARGV: now, budget (-1: no limit), session key prefix. Returns how many went.
_PURGE = """
local removed, budget = 0, tonumber(ARGV[2])
for _, index in ipairs(KEYS) do
  local ids
  if budget < 0 then
    ids = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. ARGV[1])
  else
    if removed >= budget then break end
    ids = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. ARGV[1], 'LIMIT', 0, budget - removed)
  end
  for _, id in ipairs(ids) do
    redis.call('DEL', ARGV[3] .. id)
    redis.call('ZREM', index, id)
  end
  removed = removed + #ids
end
return removed
"""

_GLOB = re.compile(r"([*?\[\]\\])")


def _encode(row: SessionRow) -> str:
    return json.dumps({"id": row.id, "user_id": row.user_id, "expires": row.expires,
                       "idle_expires": row.idle_expires}, separators=(",", ":"))


def _decode(value: bytes | str) -> SessionRow:
    data = json.loads(value)
    return SessionRow(data["id"], data["user_id"], int(data["expires"]), int(data["idle_expires"]))


def _pxat(row: SessionRow) -> int:
    # PXAT must be positive; a session dead since 1970 expires at once either way.
    return max(row.idle_expires, 1)


class RedisSessionAdapter:
    """Sessions in Redis, each key expiring at the session's idle expiry.

    >>> sessions = RedisSessionAdapter("redis://127.0.0.1:6379/0", prefix="myapp:")
    >>> auth = lucia(adapter={"user": PostgresAdapter(dsn), "session": sessions}, env="PROD")

    :param url: a ``redis://``/``rediss://``/``unix://`` URL; the adapter
        opens (and closes) the client.
    :param client: an existing :class:`redis.Redis` instead (left open by :meth:`close`).
    :param prefix: prepended to every key, to share a database with other data.
    :param options: passed on to :meth:`redis.Redis.from_url` with ``url``
        (``socket_timeout=...``, ``max_connections=...``).

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
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a string")
        self._owns_client = client is None
        if client is None:
            assert url is not None
            client = redis.Redis.from_url(url, **options)
        self.client: redis.Redis = client
        self.prefix = prefix
        self._session_prefix = f"{prefix}session:"
        self._index_prefix = f"{prefix}user_sessions:"
        self._set = self.client.register_script(_SET)
        self._replace = self.client.register_script(_REPLACE)
        self._of_user = self.client.register_script(_OF_USER)
        self._delete = self.client.register_script(_DELETE)
        self._delete_of_user = self.client.register_script(_DELETE_OF_USER)
        self._purge = self.client.register_script(_PURGE)
        self._purge_cursor = 0

    def __repr__(self) -> str:
        return f"<RedisSessionAdapter prefix={self.prefix!r}>"

    def close(self) -> None:
        """Close the client if this adapter opened it."""
        if self._owns_client:
            self.client.close()

    def session_key(self, session_id: str) -> str:
        return self._session_prefix + session_id

    def index_key(self, user_id: str) -> str:
        return self._index_prefix + user_id

    # sessions

    def get_session(self, session_id: str) -> SessionRow | None:
        value: Any = self.client.get(self.session_key(session_id))
        return None if value is None else _decode(value)

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        values: Any = self._of_user(keys=[self.index_key(user_id)], args=[self._session_prefix])
        return [_decode(value) for value in values]

    def set_session(self, row: SessionRow) -> None:
        stored = self._set(keys=[self.session_key(row.id), self.index_key(row.user_id)],
                           args=[_encode(row), row.id, _pxat(row)])
        if stored != 1:
            raise LuciaError("AUTH_DUPLICATE_SESSION_ID")

    def delete_session(self, *session_ids: str) -> None:
        if session_ids:
            self._delete(keys=[self.session_key(sid) for sid in session_ids], args=[self._index_prefix])

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        self._delete_of_user(keys=[self.index_key(user_id)], args=[self._session_prefix])

    def replace_session(self, expected: SessionRow, new: SessionRow, shortened: SessionRow) -> bool:
        outcome = self._replace(
            keys=[self.session_key(expected.id), self.session_key(new.id), self.index_key(expected.user_id)],
            args=[expected.expires, expected.idle_expires, expected.id, _encode(shortened), _pxat(shortened),
                  new.id, _encode(new), _pxat(new)],
        )
        if outcome == -1:
            raise LuciaError("AUTH_DUPLICATE_SESSION_ID")
        return outcome == 1

    # maintenance

    def _index_pages(self, cursor: int = 0) -> Any:
        """``(cursor, next cursor, index keys)`` for each SCAN page from ``cursor`` to the end."""
        pattern = _GLOB.sub(r"\\\1", self._index_prefix) + "*"
        while True:
            following, keys = self.client.scan(cursor, match=pattern, count=1000)
            yield cursor, int(following), keys
            cursor = int(following)
            if cursor == 0:
                return

    def count_dead_sessions(self, now: int) -> int:
        """How many index entries are dead at ``now`` (ms): what the next purge removes."""
        total = 0
        for _, _, keys in self._index_pages():
            if keys:
                pipe = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.zcount(key, "-inf", f"({now}")
                total += sum(pipe.execute())
        return total

    def delete_dead_sessions(self, now: int, limit: int | None = None) -> int:
        """Delete sessions dead at ``now`` (ms), at most ``limit``; returns how many went.

        Batched calls resume the key scan where the previous one stopped, so
        calling until it returns fewer than ``limit`` visits every user once;
        without a limit, one call scans every user.
        """
        removed = 0
        start = 0 if limit is None else self._purge_cursor
        for cursor, following, keys in self._index_pages(start):
            budget = -1 if limit is None else limit - removed
            if keys:
                removed += int(self._purge(keys=keys, args=[now, budget, self._session_prefix]))
            if limit is not None and removed >= limit:
                self._purge_cursor = cursor  # this page may hold more: start there next time
                return removed
            self._purge_cursor = following
        return removed
