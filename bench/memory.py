"""RSS growth over many validated requests through the middleware."""

from __future__ import annotations

import gc
import os
import resource
from dataclasses import dataclass

from .harness import Case, run_batch

__all__ = ["MemoryResult", "rss_bytes", "memory_growth"]

_CHUNK = 1_000


@dataclass
class MemoryResult:
    case: str
    warmup_requests: int
    requests: int
    rss_before_mib: float
    rss_after_mib: float

    @property
    def growth_mib(self) -> float:
        return self.rss_after_mib - self.rss_before_mib


def rss_bytes() -> int:
    """The resident set size now (Linux ``/proc``), else the peak RSS."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _serve(case: Case, requests: int) -> None:
    while requests > 0:
        size = min(_CHUNK, requests)
        run_batch(case.app, case.environs(size))
        requests -= size


def memory_growth(case: Case, requests: int) -> MemoryResult:
    """Serve ``requests`` requests after a warm-up of a tenth as many; RSS before and after."""
    warmup = max(_CHUNK, requests // 10)
    _serve(case, warmup)
    gc.collect()
    before = rss_bytes()
    _serve(case, requests)
    gc.collect()
    after = rss_bytes()
    return MemoryResult(case.key, warmup, requests, before / 2**20, after / 2**20)
