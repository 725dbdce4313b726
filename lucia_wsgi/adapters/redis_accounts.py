"""Redis keys and scripts for throttles, one-time tokens and codes (the Redis stores' part).

Key layout, under the store's prefix::

    {prefix}throttle:{bucket key}       the bucket's theoretical arrival time; expires at it
    {prefix}token:{token digest}        JSON token row; expires a day after the token
    {prefix}user_tokens:{user id}       set of the user's token digests
    {prefix}code:{kind}:{user id}       JSON code row; expires a day after the code
    {prefix}user_codes:{user id}        set of "kind:user" of the user's codes

Redis expires all of them by itself: ``delete_expired`` has nothing to do.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from .base import CodeRow, TokenRow

__all__ = ["ACCOUNT_SCRIPTS", "EXPIRED_RETENTION", "RedisAccounts"]

# Throttles, tokens and codes. Records are written by Python; Lua compares
# whole strings and reads string fields only (never re-encoding a number).

# Makes an index live at least until pxat.
_STRETCH = """
local function stretch(index, pxat)
  local until_ = redis.call('PEXPIRETIME', index)
  if until_ < tonumber(pxat) then redis.call('PEXPIREAT', index, pxat) end
end
"""

# KEYS: throttle key. ARGV: the value expected ('' = none), the new one (its own expiry).
_THROTTLE = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[2])
return 1
"""

# KEYS: record key, index. ARGV: value, pxat, index member.
_PUT = _STRETCH + """
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
stretch(KEYS[2], ARGV[2])
return 1
"""

# KEYS: token key. ARGV: index key prefix, token id. Returns the record, now deleted.
_POP = """
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', ARGV[1] .. cjson.decode(value).user_id, ARGV[2])
end
return value
"""

# KEYS: index. ARGV: record key prefix, kind ('' = every kind).
_DROP = """
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local value = redis.call('GET', ARGV[1] .. member)
  if not value then
    redis.call('SREM', KEYS[1], member)
  elseif ARGV[2] == '' or cjson.decode(value).kind == ARGV[2] then
    redis.call('DEL', ARGV[1] .. member)
    redis.call('SREM', KEYS[1], member)
  end
end
return 0
"""

# KEYS: code key. ARGV: the value expected, the value to store (same expiry).
_SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""

# KEYS: code key, index. ARGV: digest, kind. Deletes the code if it still has that digest.
_FORGET = """
local value = redis.call('GET', KEYS[1])
if not value or cjson.decode(value).digest ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""

#: The Lua scripts of the throttle, token and code methods, by name (each write is one script).
ACCOUNT_SCRIPTS = {"throttle": _THROTTLE, "put": _PUT, "pop": _POP, "drop": _DROP, "swap": _SWAP, "forget": _FORGET}
#: How long an expired token or code is kept, so that using it says "expired", not "unknown".
EXPIRED_RETENTION = 24 * 60 * 60 * 1000


class RedisAccounts(ABC):
    """Throttles, one-time tokens and codes in Redis (keys expire by themselves: no purge needed)."""

    client: Any
    _scripts: dict[str, Any]
    _throttle_prefix: str
    _token_prefix: str
    _tokens_prefix: str
    _code_prefix: str
    _codes_prefix: str

    @abstractmethod
    def _then(self, value: Any, function: Callable[[Any], Any]) -> Any:
        """``function(value)``; for an awaitable, a coroutine of it (awaiting what it returns)."""

    def get_throttle(self, key: str) -> Any:
        return self._then(self.client.get(self._throttle_prefix + key),
                          lambda value: None if value is None else int(value))

    def set_throttle(self, key: str, expected: int | None, tat: int) -> Any:
        done = self._scripts["throttle"](keys=[self._throttle_prefix + key],
                                         args=["" if expected is None else str(expected), str(tat)])
        return self._then(done, lambda result: result == 1)

    def set_token(self, row: TokenRow) -> Any:
        done = self._scripts["put"](keys=[self._token_prefix + row.id, self._tokens_prefix + row.user_id],
                                    args=[_record(row), max(row.expires + EXPIRED_RETENTION, 1), row.id])
        return self._then(done, _nothing)

    def pop_token(self, token_id: str) -> Any:
        value = self._scripts["pop"](keys=[self._token_prefix + token_id], args=[self._tokens_prefix, token_id])
        return self._then(value, lambda found: None if found is None else TokenRow(**json.loads(found)))

    def delete_tokens(self, user_id: str, kind: str | None = None) -> Any:
        done = self._scripts["drop"](keys=[self._tokens_prefix + user_id], args=[self._token_prefix, kind or ""])
        return self._then(done, _nothing)

    def _code_key(self, kind: str, user_id: str) -> str:
        return f"{self._code_prefix}{kind}:{user_id}"

    def set_code(self, row: CodeRow) -> Any:
        # The index of a user's codes holds "kind:user", what follows the prefix in a code's key.
        done = self._scripts["put"](keys=[self._code_key(row.kind, row.user_id), self._codes_prefix + row.user_id],
                                    args=[_record(row), max(row.expires + EXPIRED_RETENTION, 1),
                                          f"{row.kind}:{row.user_id}"])
        return self._then(done, _nothing)

    def get_code(self, kind: str, user_id: str) -> Any:
        return self._then(self.client.get(self._code_key(kind, user_id)),
                          lambda value: None if value is None else CodeRow(**json.loads(value)))

    def count_code_attempt(self, row: CodeRow) -> Any:
        done = self._scripts["swap"](keys=[self._code_key(row.kind, row.user_id)],
                                     args=[_record(row), _record(row._replace(attempts=row.attempts + 1))])
        return self._then(done, lambda result: result == 1)

    def delete_code(self, row: CodeRow) -> Any:
        done = self._scripts["forget"](keys=[self._code_key(row.kind, row.user_id), self._codes_prefix + row.user_id],
                                       args=[row.digest, f"{row.kind}:{row.user_id}"])
        return self._then(done, lambda result: result == 1)

    def delete_codes(self, user_id: str, kind: str | None = None) -> Any:
        codes = self._scripts["drop"](keys=[self._codes_prefix + user_id], args=[self._code_prefix, kind or ""])
        return self._then(codes, _nothing)

    def delete_expired(self, now: int) -> Any:
        """Nothing to do: Redis expires throttles, tokens and codes by itself."""
        return self._then(0, lambda count: count)


def _record(row: TokenRow | CodeRow) -> str:
    return json.dumps(row._asdict(), separators=(",", ":"), ensure_ascii=False)


def _nothing(_: object) -> None:
    return None
