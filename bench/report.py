"""The table (a column group per header), the server table, and the JSON file."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import lucia_wsgi

from .harness import Result
from .headers import HEADERS, row_name
from .instructions import InstructionCounts
from .memory import MemoryResult
from .server import ServerResult
from .targets import Target, verdict

__all__ = ["machine", "table", "server_table", "write_json"]

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


def _groups(results: list[Result]) -> list[list[Result]]:
    """Results by row, in the order rows first appear, one per header."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(row_name(r.key), []).append(r)
    return list(groups.values())


def _cell(r: Result | None) -> str:
    if r is None or r.ratio is None or r.median_us is None:
        return f"{'-':>9} {'-':>7} {'':>13}"
    spread = f"({_fmt(r.ratio_q1, '.2f')}-{_fmt(r.ratio_q3, '.2f')})"
    return f"{r.median_us:>9.2f} {r.ratio:>6.2f}x {spread:>13}"


def table(results: list[Result]) -> str:
    """One line per row, a column group per header: median µs per request, median ratio (quartiles)."""
    width = max(len(r.label) for r in results)
    head = "  ".join(f"{h + ' µs':>9} {'ratio':>7} {'(q1-q3)':>13}" for h in HEADERS)
    lines = [f"{'row':<{width}}  {head}  vs floor", "-" * (width + 2 + 33 * len(HEADERS) + 10)]
    for group in _groups(results):
        by_header = {r.header: r for r in group}
        cells = "  ".join(_cell(by_header.get(h)) for h in HEADERS)
        problem = next((r.skipped for r in group if r.skipped), "")
        tail = f"skipped: {problem}" if problem else row_name(group[0].floor)
        lines.append(f"{group[0].label:<{width}}  {cells}  {tail}")
    return "\n".join(lines)


def server_table(rows: list[ServerResult]) -> str:
    width = max(len(r.label) for r in rows)
    return "\n".join(f"{r.label:<{width}}  {_fmt(r.requests_per_s, '9.0f')} req/s  {_fmt(r.ratio, '5.2f')}x hello"
                     + (f"  ({r.errors})" if r.errors else "") for r in rows)


def write_json(path: Path, meta: dict[str, Any], results: list[Result], memory: MemoryResult | None,
               server: list[ServerResult] | None, target_rows: list[Target],
               instructions: InstructionCounts | None = None) -> None:
    data = {
        "meta": meta,
        "rows": [dataclasses.asdict(r) for r in results],
        "instructions": None if instructions is None else dataclasses.asdict(instructions),
        "memory": None if memory is None else {**dataclasses.asdict(memory), "growth_mib": memory.growth_mib},
        "server": None if server is None else [dataclasses.asdict(s) for s in server],
        "targets": [{"name": n, "value": v, "op": op, "limit": lim, "verdict": verdict(v, op, lim)}
                    for n, v, op, lim in target_rows],
        "argv": sys.argv[1:],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
