"""Timing WSGI apps in-process: warm-up, interleaved rounds, per-round ratios to a floor.

Every request is a plain call ``app(environ, start_response)`` whose iterable
is consumed and closed, as a WSGI server would. Environ dicts are prepared
before the clock starts (a fresh dict per request, so nothing an app caches
in ``environ`` carries over) and dropped once served, and each round times one batch of every case,
in a rotating order, so drift in the machine hits all of them alike. A case's
ratio is the median over rounds of (its time / its floor's time that round).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from lucia_wsgi.testing import call_wsgi

__all__ = ["Case", "Skip", "Result", "base_environ", "call", "measure", "summarize"]

Environ = dict[str, Any]
WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


def base_environ(path: str = "/", cookie: str | None = None, **extra: str) -> Environ:
    """A GET request to ``http://localhost:8000{path}`` as a WSGI server would pass it."""
    environ: Environ = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost:8000",
        "HTTP_USER_AGENT": "lucia-wsgi-bench/1", "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": BytesIO(b""),
        "wsgi.errors": BytesIO(), "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    environ.update(extra)
    return environ


def _write(data: bytes) -> None:
    """The ``write`` callable ``start_response`` returns; benchmarks ignore output."""


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    return _write


@dataclass
class Case:
    """One benchmark row: an app, where its requests come from, and its floor.

    ``key`` and ``floor`` name the header too (:func:`bench.headers.keyed`),
    ``header`` names it alone. ``environs(n)`` returns ``n`` fresh environ
    dicts (cases that use a request up, like renewal, hand out new ones each
    time). ``check(status, headers, body)`` returns an error message or
    ``""``; it runs on one request before timing, so a broken set-up fails
    loudly instead of timing an error page.
    """

    key: str
    label: str
    app: WSGIApp
    environs: Callable[[int], list[Environ]]
    check: Callable[[str, list[tuple[str, str]], bytes], str]
    floor: str = "floor"
    header: str = ""
    note: str = ""
    max_batch: int = 100_000
    max_warmup: int = 10_000_000


@dataclass
class Skip:
    """A row that cannot run here; ``kind`` is "service", "package" or "module"."""

    key: str
    label: str
    reason: str
    kind: str
    floor: str = "floor"
    header: str = ""


@dataclass
class Result:
    key: str
    label: str
    floor: str
    header: str = ""
    note: str = ""
    median_us: float | None = None
    ratio: float | None = None
    ratio_q1: float | None = None
    ratio_q3: float | None = None
    rounds: int = 0
    skipped: str = ""
    skip_kind: str = ""
    samples_us: list[float] = field(default_factory=list, repr=False)


def call(app: WSGIApp, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
    """One request, returning status, headers and body (for checks, not timing)."""
    return tuple(call_wsgi(app, environ))  # type: ignore[return-value]


def run_batch(app: WSGIApp, environs: list[Environ]) -> int:
    """Nanoseconds to serve every environ in turn; empties ``environs``.

    Each environ is dropped once served, as a server drops it, so what an app
    leaves in it (lucia's ``AuthRequest``, say) is freed at once instead of
    piling up until the batch ends.
    """
    start_response = _start_response
    environs.reverse()  # pop() from the end serves them in order
    pop = environs.pop
    started = time.perf_counter_ns()
    while environs:
        iterable = app(pop(), start_response)
        try:
            for _ in iterable:
                pass
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
    return time.perf_counter_ns() - started


def _calibrate(case: Case, warmup_s: float, batch_s: float) -> int:
    """Warm up for ``warmup_s`` (or ``max_warmup`` requests); a batch size lasting about ``batch_s``."""
    done, spent = 0, 0
    size = 10
    while spent < warmup_s * 1e9 and done < case.max_warmup:
        spent += run_batch(case.app, case.environs(size))
        done += size
        size = min(size * 2, case.max_batch)
    per_request = spent / done
    return max(1, min(case.max_batch, round(batch_s * 1e9 / per_request)))


def _rotations(keys: list[str], rounds: int) -> Iterator[list[str]]:
    for r in range(rounds):
        shift = r % len(keys)
        yield keys[shift:] + keys[:shift]


def measure(cases: list[Case], rounds: int, warmup_s: float, batch_s: float,
            progress: Callable[[str], None] = lambda line: None) -> dict[str, list[float]]:
    """Run ``rounds`` interleaved rounds; returns µs per request, per round, per case."""
    batches = {}
    for case in cases:
        status, headers, body = call(case.app, case.environs(1)[0])
        problem = case.check(status, headers, body)
        if problem:
            raise RuntimeError(f"{case.label}: set-up check failed: {problem}")
        batches[case.key] = _calibrate(case, warmup_s, batch_s)
        progress(f"warmed up {case.label} (batch {batches[case.key]})")
    by_key = {case.key: case for case in cases}
    samples: dict[str, list[float]] = {case.key: [] for case in cases}
    for number, order in enumerate(_rotations(list(by_key), rounds), start=1):
        for key in order:
            case, size = by_key[key], batches[key]
            samples[key].append(run_batch(case.app, case.environs(size)) / size / 1000)
        if number % 10 == 0:
            progress(f"round {number}/{rounds}")
    return samples


def summarize(case: Case | Skip, samples: dict[str, list[float]]) -> Result:
    """Median µs and median per-round ratio to the case's floor (quartiles too)."""
    if isinstance(case, Skip):
        return Result(case.key, case.label, case.floor, case.header, skipped=case.reason, skip_kind=case.kind)
    mine, floor = samples[case.key], samples.get(case.floor)
    result = Result(case.key, case.label, case.floor, case.header, note=case.note,
                    median_us=statistics.median(mine), rounds=len(mine), samples_us=list(mine))
    if floor is None:
        result.skipped = f"floor {case.floor!r} did not run"
        result.skip_kind = "floor"
        return result
    ratios = [a / b for a, b in zip(mine, floor, strict=True)]
    result.ratio = statistics.median(ratios)
    if len(ratios) >= 2:
        result.ratio_q1, _, result.ratio_q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return result
