"""Pure throttling rules: a token bucket per key, kept as one number.

Theory of operation
-------------------
A bucket holds up to ``capacity`` tokens and gains one every
``refill_every`` milliseconds; an attempt takes one, or is refused with the
time until the next one. Refill, never a ban: an attacker hammering an
account gets one try per ``refill_every``, and nothing outlasts the attack:
once the attempts stop, the bucket fills again on its own. (While they go
on, the bucket cannot tell the owner's attempts from the attacker's.)

It is stored as the *theoretical arrival time* of the generic cell rate
algorithm (GCRA), the instant at which the bucket would be full again::

    tat' = max(tat, now) + refill_every      # the attempt's cost
    allowed  iff  tat' - now <= capacity * refill_every
    retry after   tat' - now - capacity * refill_every   (when refused)

One integer per key, so the store's compare-and-set makes taking a token
atomic across processes, and a row whose ``tat`` has passed is a full bucket,
which any cleanup may delete. Nothing here reads a clock: ``now`` is a
parameter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Bucket", "Take", "bucket_key", "retry_seconds", "take"]


@dataclass(frozen=True)
class Bucket:
    """A token bucket's shape: ``capacity`` tokens, one more every ``refill_every`` ms."""

    capacity: int
    refill_every: int

    def __post_init__(self) -> None:
        if type(self.capacity) is not int or self.capacity < 1:
            raise ValueError(f"capacity must be a positive int, not {self.capacity!r}")
        if type(self.refill_every) is not int or self.refill_every < 1:
            raise ValueError(f"refill_every must be a positive number of ms, not {self.refill_every!r}")


class Take(NamedTuple):
    """The outcome of one attempt: allowed or not, the bucket after it, the wait when refused (ms)."""

    allowed: bool
    tat: int
    retry_after: int


def take(bucket: Bucket, tat: int | None, now: int) -> Take:
    """Take one token from the bucket stored as ``tat`` (``None``: never used, i.e. full)."""
    after = max(now if tat is None else tat, now) + bucket.refill_every
    over = after - now - bucket.capacity * bucket.refill_every
    if over > 0:
        return Take(False, now if tat is None else tat, over)
    return Take(True, after, 0)


def retry_seconds(retry_after_ms: int) -> int:
    """The ``Retry-After`` for a wait: whole seconds, rounded up, at least 1."""
    return max(1, -(-retry_after_ms // 1000))


def bucket_key(name: str, key: str) -> str:
    """The stored key of ``key``'s bucket in throttle ``name``: a digest, so no email address is kept."""
    return f"{name}:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"
