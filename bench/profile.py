"""``--profile KEY``: where one row's time goes, per function, in µs per request (cProfile).

The row is warmed up, timed once without the profiler (the honest figure),
then run under ``cProfile``; each function's own time (``tottime``) and time
including callees (``cumtime``) are divided by the number of requests. The
profiler adds a fixed cost per call, so functions called often look dearer
than they are: compare the profiled total with the plain one.
"""

from __future__ import annotations

import cProfile
import pstats
from pathlib import Path

from .harness import Case, run_batch

__all__ = ["profile_case"]

_ROOTS = [str(Path(__file__).resolve().parent.parent) + "/"]


def _name(file: str, line: int, func: str) -> str:
    if file == "~":  # a builtin: cProfile puts its description in the name
        return func
    for root in _ROOTS:
        file = file.removeprefix(root)
    return f"{file.rsplit('site-packages/', 1)[-1]}:{line}({func})"


def profile_case(case: Case, requests: int, top: int = 25) -> str:
    """The ``top`` functions of ``case`` by own time, per request."""
    run_batch(case.app, case.environs(max(10, requests // 10)))
    plain_us = run_batch(case.app, case.environs(requests)) / requests / 1000
    environs = case.environs(requests)
    profiler = cProfile.Profile()
    profiler.runcall(run_batch, case.app, environs)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    profiled_us = sum(tt for _, _, tt, _, _ in stats.values()) / requests * 1e6
    lines = [f"{case.label} [{case.header}]: {plain_us:.2f} µs/request without the profiler, "
             f"{profiled_us:.2f} under cProfile ({requests:,} requests)",
             f"{'own µs':>8} {'incl. µs':>9} {'calls':>6}  function (per request)"]
    by_own = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)
    for (file, line, func), (_, calls, own, incl, _) in by_own[:top]:
        lines.append(f"{own / requests * 1e6:>8.2f} {incl / requests * 1e6:>9.2f} {calls / requests:>6.1f}  "
                     f"{_name(file, line, func)}")
    return "\n".join(lines)
