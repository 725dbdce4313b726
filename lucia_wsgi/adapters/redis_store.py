"""What the Redis session stores share: key layout, record format, scripts, every method.

Key layout, under a configurable prefix (default ``lucia:``)::

    {prefix}session:{session id}        JSON of the session row (null fields left out)
    {prefix}user_sessions:{user id}     sorted set: session id -> the key's expiry

Each session key expires (absolute ``PXAT``) at the session's
``idle_expires``, the instant Lucia counts it dead; a renewed row lives
:data:`~lucia_wsgi.session.SUPERSEDED_RETENTION` longer, so a late request
with it is still recognised. The per-user index is scored by that expiry:
entries whose key is gone are pruned when read, entries already past are
pruned on every write, and the index key itself expires with its last entry.

Lua never re-encodes a record (its JSON library rounds large numbers): it
compares and writes whole strings that Python encoded. Inserts are one
script (``SET NX``); changes to existing rows read them, compute the new rows
in Python and write them with one compare-and-set script, trying again if
another client changed them in between. Every write is safe to repeat, so
redis-py's retry after a dropped connection never turns a success into an
error. The scripts name keys built from the prefix, so use a single Redis
server (or a Redis Cluster only with a prefix holding a ``{hash tag}``).

:class:`RedisStore` writes each method once over ``_then``, which the
synchronous ``RedisSessionAdapter`` and the asyncio
``AsyncRedisSessionAdapter`` implement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import LuciaError
from ..session import SUPERSEDED_RETENTION, SessionRow
from .redis_accounts import ACCOUNT_SCRIPTS, RedisAccounts

__all__ = ["RedisStore", "decode", "encode", "key_expiry"]

# Drop index entries already past (by the server's clock), then make the index
# expire with its longest-lived entry.
_TIDY = """
local function tidy(index)
  local t = redis.call('TIME')
  redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. (t[1] * 1000 + math.floor(t[2] / 1000)))
  local top = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('PEXPIREAT', index, top[2]) end
end
"""

# KEYS: session, index. ARGV: value, id, pxat. Stored again with the same value: a repeat, fine.
_SET = _TIDY + """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[3]) then
  if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
tidy(KEYS[2])
return 1
"""

# KEYS: n session keys, then their n index keys.
# ARGV: for each key: the value expected ('' = absent), the new value ('' = delete), its pxat, its id.
# Writes only if every key still holds what was expected; returns 1, else 0.
_CAS = _TIDY + """
local n = #KEYS / 2
for i = 1, n do
  if (redis.call('GET', KEYS[i]) or '') ~= ARGV[4 * i - 3] then return 0 end
end
for i = 1, n do
  local new, pxat, id, index = ARGV[4 * i - 2], ARGV[4 * i - 1], ARGV[4 * i], KEYS[n + i]
  if new == '' then
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', index, id)
  elseif new ~= ARGV[4 * i - 3] then
    redis.call('SET', KEYS[i], new, 'PXAT', pxat)
    redis.call('ZADD', index, pxat, id)
  end
end
for i = 1, n do tidy(KEYS[n + i]) end
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

SCRIPTS = {"set": _SET, "cas": _CAS, "of_user": _OF_USER, "delete": _DELETE, "delete_of_user": _DELETE_OF_USER,
           "purge": _PURGE, **ACCOUNT_SCRIPTS}
GLOB = re.compile(r"([*?\[\]\\])")
_FIELDS = SessionRow._fields
# Tries of a compare-and-set against concurrent writers before giving up.
_CAS_TRIES = 20


def encode(row: SessionRow) -> str:
    """The stored JSON: the row's fields in order, null ones left out (so a row of Lucia's
    four fields reads as it always did), byte-for-byte the same for equal rows."""
    return json.dumps({name: value for name, value in zip(_FIELDS, row, strict=True) if value is not None},
                      separators=(",", ":"), ensure_ascii=False)


def decode(value: bytes | str) -> SessionRow:
    """The row of stored JSON (what :func:`encode` wrote, or Lucia's four fields)."""
    data = json.loads(value)
    return SessionRow(data["id"], data["user_id"], int(data["expires"]), int(data["idle_expires"]),
                      *(data.get(name) for name in _FIELDS[4:]))


def key_expiry(row: SessionRow) -> int:
    """When the row's key expires: its death, or a retention later for a renewed row (PXAT > 0)."""
    return max(row.idle_expires + (0 if row.successor is None else SUPERSEDED_RETENTION), 1)


def _cut(row: SessionRow | None, until: int) -> SessionRow | None:
    if row is None:
        return None
    return row._replace(expires=min(row.expires, until), idle_expires=min(row.idle_expires, until))


class _Failed:
    """A compare-and-set's precondition does not hold: return ``result``, write nothing."""

    def __init__(self, result: Any) -> None:
        self.result = result


class RedisStore(RedisAccounts):
    """The session adapter protocol on Redis, each method written once over ``_then``."""

    client: Any
    prefix: str
    _scripts: dict[str, Any]

    def _setup(self, prefix: str) -> None:
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a string")
        self.prefix = prefix
        self._session_prefix = f"{prefix}session:"
        self._index_prefix = f"{prefix}user_sessions:"
        self._throttle_prefix = f"{prefix}throttle:"
        self._token_prefix = f"{prefix}token:"
        self._tokens_prefix = f"{prefix}user_tokens:"
        self._code_prefix = f"{prefix}code:"
        self._codes_prefix = f"{prefix}user_codes:"
        self._scripts = {name: self.client.register_script(text) for name, text in SCRIPTS.items()}
        self._purge_cursor = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} prefix={self.prefix!r}>"

    def session_key(self, session_id: str) -> str:
        return self._session_prefix + session_id

    def index_key(self, user_id: str) -> str:
        return self._index_prefix + user_id

    # reads

    def get_session(self, session_id: str) -> Any:
        return self._then(self.client.get(self.session_key(session_id)),
                          lambda value: None if value is None else decode(value))

    def get_sessions_by_user_id(self, user_id: str) -> Any:
        found = self._scripts["of_user"](keys=[self.index_key(user_id)], args=[self._session_prefix])
        return self._then(found, lambda values: [decode(value) for value in values])

    # writes

    def set_session(self, row: SessionRow) -> Any:
        stored = self._scripts["set"](keys=[self.session_key(row.id), self.index_key(row.user_id)],
                                      args=[encode(row), row.id, key_expiry(row)])
        return self._then(stored, _inserted)

    def delete_session(self, *session_ids: str) -> Any:
        if not session_ids:
            return self._then(None, _nothing)
        deleted = self._scripts["delete"](keys=[self.session_key(sid) for sid in session_ids],
                                          args=[self._index_prefix])
        return self._then(deleted, _nothing)

    def delete_sessions_by_user_id(self, user_id: str) -> Any:
        deleted = self._scripts["delete_of_user"](keys=[self.index_key(user_id)], args=[self._session_prefix])
        return self._then(deleted, _nothing)

    def _change(self, ids: Sequence[str], compute: Callable[[list[SessionRow | None]], Any],
                tries: int = _CAS_TRIES) -> Any:
        """Read rows ``ids``, let ``compute`` give ``(result, new rows)`` (a new row ``None``:
        delete) or a :class:`_Failed`, and write the new rows if nobody changed the old ones."""

        def write(values: list[bytes | None]) -> Any:
            old = [None if value is None else decode(value) for value in values]
            outcome = compute(old)
            if isinstance(outcome, _Failed):
                return outcome.result
            result, new = outcome
            user = next(row.user_id for row in (*old, *new) if row is not None)
            keys = [self.session_key(sid) for sid in ids]
            keys += [self.index_key(user if row is None else row.user_id) for row in new]
            args: list[Any] = []
            for sid, value, row in zip(ids, values, new, strict=True):
                args += [value or "", "" if row is None else encode(row), 0 if row is None else key_expiry(row), sid]

            def settled(done: int) -> Any:
                if done == 1:
                    return result
                if tries <= 1:
                    raise RuntimeError("lucia_wsgi: a Redis session kept changing under a write")
                return self._change(ids, compute, tries - 1)  # changed meanwhile: read again

            return self._then(self._scripts["cas"](keys=keys, args=args), settled)

        return self._then(self.client.mget([self.session_key(sid) for sid in ids]), write)

    def renew_session(self, expected: SessionRow, successor: str, new: SessionRow, replaced: str | None) -> Any:
        linked = expected._replace(successor=successor)

        def compute(rows: list[SessionRow | None]) -> Any:
            old, taken = rows[0], rows[1]
            if old == linked and taken == new:
                return _Failed(True)  # done already (a repeat after a dropped connection)
            if old is None or old[2:5] != expected[2:5]:
                return _Failed(False)
            if taken is not None:
                raise LuciaError("AUTH_DUPLICATE_SESSION_ID")
            return True, [old._replace(successor=successor), new, *([None] if replaced else [])]

        ids = [expected.id, new.id, *([replaced] if replaced else [])]
        return self._change(ids, compute)

    def confirm_session(self, session_id: str, predecessor_id: str, until: int) -> Any:
        def compute(rows: list[SessionRow | None]) -> Any:
            this, before = rows
            if this is None and before is None:
                return _Failed(None)
            this = None if this is None else this._replace(predecessor=None)
            return None, [this, _cut(before, until)]

        return self._change([session_id, predecessor_id], compute)

    def cut_sessions(self, session_ids: Sequence[str], until: int) -> Any:
        ids = list(dict.fromkeys(session_ids))

        def compute(rows: list[SessionRow | None]) -> Any:
            if all(row is None for row in rows):
                return _Failed(None)
            return None, [_cut(row, until) for row in rows]

        return self._change(ids, compute) if ids else self._then(None, _nothing)

    def extend_session(self, expected: SessionRow, extended: SessionRow) -> Any:
        def compute(rows: list[SessionRow | None]) -> Any:
            row = rows[0]
            if row is None or row[2:4] != expected[2:4]:
                return _Failed(False)
            return True, [row._replace(expires=extended.expires, idle_expires=extended.idle_expires,
                                       last_seen=extended.last_seen)]

        return self._change([expected.id], compute)

    def rekey_session(self, old_id: str, new_id: str) -> Any:
        def compute(rows: list[SessionRow | None]) -> Any:
            old, taken = rows
            if old is None or taken is not None:
                return _Failed(False)
            return True, [None, old._replace(id=new_id)]

        return self._change([old_id, new_id], compute)


def _inserted(stored: int) -> None:
    if stored != 1:
        raise LuciaError("AUTH_DUPLICATE_SESSION_ID")


def _nothing(_: object) -> None:
    return None
