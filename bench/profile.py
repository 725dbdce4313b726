"""``--profile KEY``: where one row's time goes, in µs per request (cProfile).

The row is warmed up, timed once without the profiler (the honest figure),
then run under ``cProfile``. Three views, each divided by the number of
requests:

* the functions with the most own time (``tottime``; ``cumtime`` includes callees);
* own time summed by module (C functions by the type they belong to, so
  ``sqlite3.Connection`` is the SQL itself): an exact partition of the
  profiled request, generators included;
* the store calls the flows made (every function :func:`lucia_wsgi.flow.run`
  called as an effect), each including what it called (the SQL and the
  adapter's Python around it).

The profiler adds a fixed cost per call, so functions called often look
dearer than they are: compare the profiled total with the plain one.
"""

from __future__ import annotations

import cProfile
import pstats
import sysconfig
from collections import defaultdict
from pathlib import Path
from typing import Any

from .harness import Case, run_batch

__all__ = ["profile_case"]

_ROOTS = [str(Path(__file__).resolve().parent.parent) + "/"]
_STDLIB = sysconfig.get_paths()["stdlib"] + "/"
Func = tuple[str, int, str]
Stats = dict[Func, Any]


def _name(file: str, line: int, func: str) -> str:
    if file == "~":  # a builtin: cProfile puts its description in the name
        return func
    for root in _ROOTS:
        file = file.removeprefix(root)
    if file.startswith(_STDLIB):
        file = "stdlib/" + file.removeprefix(_STDLIB)
    return f"{file.rsplit('site-packages/', 1)[-1]}:{line}({func})"


def _module(file: str, func: str) -> str:
    """Where a function's own time is counted: its file, or for a C function the type it belongs to."""
    if file != "~":
        return _name(file, 0, "").removesuffix(":0()")
    if func.startswith("<method '") and " of '" in func:
        return "C: " + func.split(" of '", 1)[1].split("'", 1)[0]
    return "C: built-in functions"


def _by_module(stats: Stats, requests: int) -> list[str]:
    own: dict[str, float] = defaultdict(float)
    for (file, _, func), (_, _, tottime, _, _) in stats.items():
        own[_module(file, func)] += tottime
    total = sum(own.values())
    return [f"{seconds / requests * 1e6:>8.2f} {seconds / total:>6.1%}  {module}"
            for module, seconds in sorted(own.items(), key=lambda item: -item[1]) if seconds >= total / 500]


def _store_calls(stats: Stats, requests: int) -> list[str]:
    from lucia_wsgi import flow

    code = flow.run.__code__
    runner = (code.co_filename, code.co_firstlineno, code.co_name)
    calls = [(func, callers[runner]) for func, (_, _, _, _, callers) in stats.items()
             if runner in callers and func[0] != "~"]  # not the generators' send/throw
    return [f"{incl / requests * 1e6:>8.2f} {count / requests:>6.1f}  {_name(*func)}"
            for func, (count, _, _, incl) in sorted(calls, key=lambda item: -item[1][3])]


def profile_case(case: Case, requests: int, top: int = 25) -> str:
    """``case``'s ``top`` functions by own time, its own time by module, and its store calls, per request."""
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
    lines += ["", "own time by module (at least 0.2% of the request):", f"{'own µs':>8} {'share':>6}  module",
              *_by_module(stats, requests)]
    store = _store_calls(stats, requests)
    if store:
        lines += ["", "store calls made by the flows (including the SQL):", f"{'incl. µs':>8} {'calls':>6}  call",
                  *store]
    return "\n".join(lines)
