"""The targets of issue 13, each checked per header, with held / missed verdicts.

A row a later change adds (``asgi.active``, the ASGI middleware) is a
target already; until it runs, its verdict is "not measured".
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from .harness import Result
from .headers import HEADERS, keyed
from .memory import MemoryResult
from .server import ServerResult

__all__ = ["Target", "PEERS", "ACTIVE", "ROW_LIMITS", "targets", "verdict", "targets_table"]

Target = tuple[str, "float | None", str, float]
PEERS = ("peer.beaker", "peer.flask_login", "peer.django")
ACTIVE = "lucia.active.medium"
ByKey = dict[str, Result]


def _ratio(by_key: ByKey, key: str) -> float | None:
    found = by_key.get(key)
    return None if found is None else found.ratio


def _paired(by_key: ByKey, key: str, base: str) -> float | None:
    """The median per-round ratio of two rows that are not each other's floor."""
    a, b = by_key.get(key), by_key.get(base)
    if a is None or b is None or not a.samples_us or not b.samples_us:
        return None
    return statistics.median(x / y for x, y in zip(a.samples_us, b.samples_us, strict=True))


def _fastest_peer_speedup(by_key: ByKey, header: str) -> float | None:
    peers = [r for r in (_ratio(by_key, keyed(key, header)) for key in PEERS) if r is not None]
    mine = _ratio(by_key, keyed(ACTIVE, header))
    return None if not peers or not mine else min(peers) / mine


#: The most each row may be, as a ratio to its own floor (drawn on the plot).
ROW_LIMITS = {
    **{f"lucia.active.{size}": 2.0 for size in ("small", "medium", "large")},
    "lucia.renewal.rotate": 1.3, "lucia.renewal.extend": 1.2, "asgi.active": 2.0,
    "lucia.postgres": 1.2, "lucia.redis": 1.2,
}


PerHeader = tuple[str, Callable[[ByKey, str], "float | None"], str, float]


def _within(name: str, row: str) -> PerHeader:
    """The target that row ``row``'s ratio to its floor is at most ``ROW_LIMITS[row]``."""
    return name, lambda by_key, header: _ratio(by_key, keyed(row, header)), "<=", ROW_LIMITS[row]


#: (name, value for a header, comparison, limit)
_PER_HEADER: list[PerHeader] = [
    _within("validate_user, SQLite, active / floor (stretch 1.5)", ACTIVE),
    ("largest DB / smallest DB (10^6 / 10^3)",
     lambda b, h: _paired(b, keyed("lucia.active.large", h), keyed("lucia.active.small", h)), "<=", 1.1),
    ("fastest peer / validate_user (speed-up)", _fastest_peer_speedup, ">=", 6.0),
    _within("renewal, rotate / its write floor", "lucia.renewal.rotate"),
    _within("renewal, extend / its write floor", "lucia.renewal.extend"),
    _within("ASGI validate_user / raw ASGI floor", "asgi.active"),
    _within("PostgreSQL / its floor", "lucia.postgres"),
    _within("Redis / its floor", "lucia.redis"),
]


def targets(results: list[Result], memory: MemoryResult | None, server: list[ServerResult] | None) -> list[Target]:
    """(name, measured value or None, comparison, limit) for each target, per header where it applies."""
    by_key = {r.key: r for r in results}
    rows: list[Target] = [(f"{name} [{h}]", value(by_key, h), op, limit)
                          for name, value, op, limit in _PER_HEADER for h in HEADERS]
    demo = next((s.ratio for s in server or () if s.key == "demo"), None)
    return [
        *rows,
        ("gunicorn demo / hello requests/s", demo, ">=", 0.85),
        ("RSS growth over the run, MiB", None if memory is None else memory.growth_mib, "<", 5.0),
    ]


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
}


def verdict(value: float | None, op: str, limit: float) -> str:
    if value is None:
        return "not measured"
    return "holds" if _COMPARE[op](value, limit) else "MISSED"


def targets_table(rows: list[Target]) -> str:
    width = max(len(name) for name, *_ in rows)
    return "\n".join(f"{name:<{width}}  {'-' if value is None else f'{value:8.2f}':>8}  {op} {limit:<5}  "
                     f"{verdict(value, op, limit)}" for name, value, op, limit in rows)
