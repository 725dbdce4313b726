"""Instructions per validated request, counted by callgrind: a figure machine noise does not move.

``python -m bench --instructions`` counts lucia's active-session row
(``validate_user()`` through the middleware) and its floor, and each renewal
row and its write floor (:data:`PAIRS`), with each header, each in a child
process of its own (this module) under ``valgrind
--tool=callgrind``, so one row's count never depends on another's. The child
builds the app, prepares every request up front, then serves a warm-up,
``N`` requests and ``2N`` requests, calling ``os.getppid()`` before each
stretch and after the last. ``--dump-before=getppid`` makes callgrind write
its counters at each of those calls, so every stretch is counted alone, and
a request costs ``(count(2N) - count(N)) / N``: start-up, warm-up and the
marker cancel out. Start-up's objects are frozen out of the cyclic
collector (``gc.freeze()``) and each stretch starts after a full
collection, so a collection of the whole heap never lands in one stretch
and not the other; the young collections a request's own garbage causes
are counted.

Same inputs every time: the cached database of the run's medium size, its
middle session, ``PYTHONHASHSEED=0``, fixed ``N``, and new ids drawn from a
seeded generator (:func:`_fixed_random_bytes`). A renewal row uses a
session up per request, so its child works on a private copy of that
database with one idle session per request made before start-up ends, each
on a user of its own, as :mod:`bench.cases` makes them; the WAL checkpoints
its commits cause are counted where they land (about twice as many in the
``2N`` stretch as in the ``N`` one), at the same requests in every run.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PAIRS", "ROWS", "InstructionCounts", "count_instructions", "instructions_table"]

#: The rows counted, (floor, lucia row): the active-session read and each renewal mode.
PAIRS = (("floor", "lucia.active.medium"), ("floor.write.rotate", "lucia.renewal.rotate"),
         ("floor.write.extend", "lucia.renewal.extend"))
ROWS = tuple(name for pair in PAIRS for name in pair)
_REPO = Path(__file__).resolve().parent.parent
_TOTALS = re.compile(r"^totals:\s*(\d+)", re.MULTILINE)


@dataclass
class InstructionCounts:
    """Instructions per request by row key (``NAME/HEADER``), or why there are none."""

    tool: str
    sessions: int
    requests: int
    per_request: dict[str, float] = field(default_factory=dict)
    skipped: str = ""


def _version(valgrind: str) -> str:
    out = subprocess.run([valgrind, "--version"], capture_output=True, text=True, check=False).stdout
    return out.strip() or "valgrind"


def count_instructions(sessions: int, requests: int, warmup: int) -> InstructionCounts:
    """Count ``ROWS`` with both headers on the cached ``sessions``-session database (two at a time)."""
    from . import dbs
    from .headers import HEADERS, keyed

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return InstructionCounts("callgrind", sessions, requests, skipped="valgrind not found")
    db = dbs.cached_db(sessions)
    keys = [(name, h) for name in ROWS for h in HEADERS]
    with ThreadPoolExecutor(max_workers=2) as pool:  # callgrind counts are the same however busy the cores are
        counts = list(pool.map(lambda key: _count(valgrind, db, sessions, requests, warmup, *key), keys))
    per_request = {keyed(*key): count for key, count in zip(keys, counts, strict=True)}
    return InstructionCounts(_version(valgrind), sessions, requests, per_request)


def _count(valgrind: str, db: Path, sessions: int, requests: int, warmup: int, name: str, header: str) -> float:
    """Instructions per request of one row and header, from its own child process."""
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="lucia_callgrind_") as tmp:
        out = Path(tmp) / "cg.out"
        command = [valgrind, "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}",
                   sys.executable, "-m", "bench.instructions", str(db), str(sessions), str(requests), str(warmup),
                   name, header]
        proc = subprocess.run(command, cwd=_REPO, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"callgrind run of {name}/{header} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        totals = {int(part.suffix[1:]): _total(part) for part in out.parent.glob("cg.out.*")}
    # Dump 1 is start-up, 2 the warm-up, 3 the N requests, 4 the 2N requests.
    if sorted(totals) != [1, 2, 3, 4]:
        raise RuntimeError(f"callgrind wrote dumps {sorted(totals)} for {name}/{header}, expected 1-4")
    return (totals[4] - totals[3]) / requests


def _total(path: Path) -> int:
    found = _TOTALS.search(path.read_text(encoding="utf-8", errors="replace"))
    if found is None:
        raise RuntimeError(f"no totals line in {path.name}")
    return int(found.group(1))


def instructions_table(counts: InstructionCounts) -> str:
    """Instructions per request of each row and header, and each lucia row's over its floor's."""
    from .headers import HEADERS, keyed

    title = "instructions per validated request"
    if counts.skipped:
        return f"{title}: skipped: {counts.skipped}"
    lines = [f"{title} ({counts.tool}, {counts.requests:,} vs {2 * counts.requests:,} requests, "
             f"{counts.sessions:,} sessions):", f"{'':<22}" + "".join(f"{h:>12}" for h in HEADERS)]
    for floor, lucia in PAIRS:
        for name in (floor, lucia):
            lines.append(f"{name:<22}" + "".join(f"{counts.per_request[keyed(name, h)]:>12,.0f}" for h in HEADERS))
        ratios = [counts.per_request[keyed(lucia, h)] / counts.per_request[keyed(floor, h)] for h in HEADERS]
        lines.append(f"{'  lucia / floor':<22}" + "".join(f"{r:>11.2f}x" for r in ratios))
    return "\n".join(lines)


def _app(name: str, db: str, sessions: int, header: str, total: int, workdir: Path) -> tuple[Any, list[Any], str]:
    """Row ``name``'s app, ``total`` requests for it, and the body each must answer."""
    from lucia_wsgi.adapters.sqlite import SQLiteAdapter

    from . import dbs
    from .apps import COOKIE_NAME, make_auth, make_lucia_app
    from .cases import RENEWALS
    from .floors import WRITES, Periods, make_read_floor, make_write_floor, now_ms
    from .harness import base_environ
    from .headers import cookie_header

    if name in ("floor", "lucia.active.medium"):
        i = sessions // 2
        app = make_read_floor(db) if name == "floor" else make_lucia_app(make_auth(SQLiteAdapter(db)))
        environ = base_environ(cookie=cookie_header(header, COOKIE_NAME, dbs.session_id(i)))
        return app, [environ.copy() for _ in range(total)], dbs.user_id(i)
    path = workdir / "sessions.db"
    shutil.copyfile(db, path)
    ids = dbs.add_idle_sessions(path, total, now_ms(), tag=f"{name}/{header}")
    options = next((options for key, _, _, options in RENEWALS if key == name), None)
    if options is not None:
        app = make_lucia_app(make_auth(SQLiteAdapter(path), **options))
    else:
        config = make_auth(SQLiteAdapter(path)).config
        app = make_write_floor(path, WRITES[name.removeprefix("floor.write.")][0],
                               Periods(config.active_period, config.idle_period))
    environs = [base_environ(cookie=cookie_header(header, COOKIE_NAME, sid)) for sid in ids]
    return app, environs, dbs.user_id(0)


def _fixed_random_bytes() -> None:
    """Draw ``secrets.token_bytes`` from a seeded generator, so every run writes the same ids.

    New session ids land at random places in the session table's B-tree,
    so with the CSPRNG each run splits different pages and checkpoints the
    WAL at different requests: renewal counts moved by up to 2% between
    runs. Seeded bytes make the inputs the same every time; what the
    generator itself costs is a C call either way.
    """
    import random
    import secrets

    secrets.token_bytes = random.Random(0).randbytes  # type: ignore[assignment]


def _child(db: str, sessions: int, requests: int, warmup: int, name: str, header: str) -> int:
    """Serve the stretches described in the module docstring; 1 if the app answers wrongly."""
    from .harness import call, run_batch

    _fixed_random_bytes()
    with tempfile.TemporaryDirectory(prefix="lucia_callgrind_db_") as tmp:
        app, environs, expected = _app(name, db, sessions, header, 1 + warmup + 3 * requests, Path(tmp))
        status, _, body = call(app, environs.pop(0))  # the check uses up the first request
        if (status, body) != ("200 OK", expected.encode()):
            print(f"{name}/{header} answered {status} {body[:100]!r}", file=sys.stderr)
            return 1
        stretches = [environs[:warmup], environs[warmup:warmup + requests], environs[warmup + requests:]]
        del environs
        gc.collect()
        gc.freeze()  # start-up's objects: a full collection would walk them at an arbitrary request
        for stretch in stretches:
            gc.collect()  # every stretch starts from the same collector state
            os.getppid()  # the marker: callgrind dumps its counters here
            run_batch(app, stretch)
        os.getppid()
    return 0


if __name__ == "__main__":
    _db, _sessions, _requests, _warmup, _name, _header = sys.argv[1:7]
    sys.exit(_child(_db, int(_sessions), int(_requests), int(_warmup), _name, _header))
