"""The table, the targets of issue 5, and the JSON file."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import lucia_wsgi

from .harness import Result
from .memory import MemoryResult
from .server import ServerResult

__all__ = ["machine", "table", "targets", "write_json"]

Target = tuple[str, "float | None", str, float]
_PEERS = ("peer.beaker", "peer.flask_login", "peer.django")
_REPO = Path(__file__).resolve().parent.parent
_PACKAGES = ("lucia_wsgi", "WebOb", "Django", "Flask", "Flask-Login", "Beaker", "psycopg", "redis", "gunicorn")


def machine() -> dict[str, Any]:
    """Where and when the run happened."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions: dict[str, str | None] = {"lucia_wsgi": lucia_wsgi.__version__}
    for name in _PACKAGES[1:]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu, "cpus": os.cpu_count(), "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version, "packages": versions, "commit": _commit(),
    }


def _commit() -> str | None:
    """The checkout's commit (with ``+`` when it has local changes), if it is a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=_REPO, capture_output=True,
                              text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_REPO,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+" if dirty else "")


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: list[Result]) -> str:
    """One line per row: median µs per request, median ratio to its floor (quartiles)."""
    width = max(len(r.label) for r in results)
    lines = [f"{'row':<{width}}  {'µs/req':>9}  {'ratio':>7}  {'(q1-q3)':>13}  vs floor", "-" * (width + 54)]
    for r in results:
        if r.ratio is None:
            lines.append(f"{r.label:<{width}}  {'-':>9}  {'-':>7}  {'':>13}  skipped: {r.skipped}")
            continue
        spread = f"({_fmt(r.ratio_q1, '.2f')}-{_fmt(r.ratio_q3, '.2f')})"
        lines.append(f"{r.label:<{width}}  {r.median_us:>9.2f}  {r.ratio:>6.2f}x  {spread:>13}  {r.floor}")
    return "\n".join(lines)


def _ratio(by_key: dict[str, Result], key: str) -> float | None:
    found = by_key.get(key)
    return None if found is None else found.ratio


def _paired(by_key: dict[str, Result], key: str, base: str) -> float | None:
    a, b = by_key.get(key), by_key.get(base)
    if a is None or b is None or not a.samples_us or not b.samples_us:
        return None
    return statistics.median(x / y for x, y in zip(a.samples_us, b.samples_us, strict=True))


def _fastest_peer_speedup(by_key: dict[str, Result]) -> float | None:
    peers = [r for r in (_ratio(by_key, key) for key in _PEERS) if r is not None]
    mine = _ratio(by_key, "lucia.active.medium")
    return None if not peers or not mine else min(peers) / mine


def targets(results: list[Result], memory: MemoryResult | None, server: list[ServerResult] | None) -> list[Target]:
    """(name, measured value or None, comparison, limit) for each target of issue 5."""
    by_key = {r.key: r for r in results}
    demo = next((s.ratio for s in server or () if s.key == "demo"), None)
    return [
        ("validate_user, SQLite, active / floor", _ratio(by_key, "lucia.active.medium"), "<=", 1.0),
        ("fastest peer / validate_user (speed-up)", _fastest_peer_speedup(by_key), ">=", 6.0),
        ("renewal due / floor", _ratio(by_key, "lucia.renewal"), "<=", 2.0),
        ("anonymous request / floor", _ratio(by_key, "lucia.anonymous"), "<=", 0.3),
        ("largest DB / smallest DB", _paired(by_key, "lucia.active.large", "lucia.active.small"), "<=", 1.2),
        ("PostgreSQL / psycopg floor", _ratio(by_key, "lucia.postgres"), "<=", 1.3),
        ("Redis / redis-py floor", _ratio(by_key, "lucia.redis"), "<=", 1.3),
        ("gunicorn demo / hello requests/s", demo, ">=", 0.85),
        ("RSS growth, MiB", None if memory is None else memory.growth_mib, "<", 5.0),
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
    return "\n".join(f"{name:<{width}}  {_fmt(value, '8.2f'):>8}  {op} {limit:<5}  {verdict(value, op, limit)}"
                     for name, value, op, limit in rows)


def server_table(rows: list[ServerResult]) -> str:
    width = max(len(r.label) for r in rows)
    return "\n".join(f"{r.label:<{width}}  {_fmt(r.requests_per_s, '9.0f')} req/s  {_fmt(r.ratio, '5.2f')}x hello"
                     + (f"  ({r.errors})" if r.errors else "") for r in rows)


def write_json(path: Path, meta: dict[str, Any], results: list[Result], memory: MemoryResult | None,
               server: list[ServerResult] | None, target_rows: list[Target]) -> None:
    data = {
        "meta": meta,
        "rows": [dataclasses.asdict(r) for r in results],
        "memory": None if memory is None else {**dataclasses.asdict(memory), "growth_mib": memory.growth_mib},
        "server": None if server is None else [dataclasses.asdict(s) for s in server],
        "targets": [{"name": n, "value": v, "op": op, "limit": lim, "verdict": verdict(v, op, lim)}
                    for n, v, op, lim in target_rows],
        "argv": sys.argv[1:],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
