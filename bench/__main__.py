"""``python -m bench``: run the benchmark suite and print the table (see ``--help``)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from . import dbs
from .apps import COOKIE_NAME
from .asgi import asgi_cases
from .cases import Plan, sqlite_cases
from .harness import Case, Result, Skip, measure, summarize
from .headers import cookie_header, keyed
from .instructions import InstructionCounts, count_instructions, instructions_table
from .memory import MemoryResult, memory_growth
from .peer_django import django_cases
from .peers import beaker_cases, flask_login_cases
from .plot import plot_ratios
from .profile import profile_case
from .report import machine, server_table, table, write_json
from .server import ServerResult, run_servers
from .services import postgres_cases, redis_cases
from .targets import ACTIVE, Target, targets, targets_table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (small DBs, few rounds)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--server", action="store_true",
                        help="also run gunicorn + wrk (10 s per app in 5 rounds; 1 s quick)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 40; 5 quick)")
    parser.add_argument("--only", metavar="TEXT", help="run only rows whose key contains TEXT (and their floors)")
    parser.add_argument("--profile", metavar="KEY", help="cProfile row KEY (NAME/HEADER) instead, µs per step")
    parser.add_argument("--instructions", action="store_true",
                        help="only count instructions per request under callgrind (the full run does it too)")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw the ratios into FILE.png")
    parser.add_argument("--from-json", type=Path, metavar="RESULTS.json",
                        help="with --plot: draw a saved --json run instead of running the benchmark")
    return parser


def _build(plan: Plan, workdir: Path) -> list[Case | Skip]:
    medium = plan.sizes[1]
    medium_db = dbs.working_copy(medium, workdir)
    uid = dbs.user_id(medium // 2)
    rows: list[Case | Skip] = [*sqlite_cases(plan, medium_db), *asgi_cases(medium_db, medium)]
    rows += postgres_cases(medium)
    rows += redis_cases(medium, medium_db)
    rows += [*beaker_cases(workdir, uid), *flask_login_cases(medium_db, uid), *django_cases(workdir)]
    return rows


def _select(rows: list[Case | Skip], only: str | None) -> list[Case | Skip]:
    """Rows whose key contains ``only``, and their floors, and their floors' floors."""
    if not only:
        return rows
    floors = {row.key: row.floor for row in rows}
    wanted = {key for key in floors if only in key}
    while not {floors.get(key, key) for key in wanted} <= wanted:
        wanted |= {floors.get(key, key) for key in wanted}
    return [row for row in rows if row.key in wanted]


def _instructions(plan: Plan) -> InstructionCounts:
    return count_instructions(plan.sizes[1], *((100, 20) if plan.quick else (1_000, 200)))


def _title(meta: dict[str, object]) -> str:
    return (f"lucia_wsgi benchmark ({meta['mode']}, commit {meta['commit']}): {meta['python']}, "
            f"{meta['cpu']} x{meta['cpus']}, {meta['date']}")


def _plot_title(meta: dict[str, object]) -> str:
    date = str(meta["date"])[:10]
    return (f"lucia_wsgi: each row's time over its floor's\n"
            f"{meta['mode']} run, commit {meta['commit']}, {meta['python']}, {meta['cpu']} x{meta['cpus']}, {date}")


def _plot_saved(plot: Path, saved: Path) -> int:
    data = json.loads(saved.read_text(encoding="utf-8"))
    groups = plot_ratios(data["rows"], plot, _plot_title(data["meta"]))
    print(f"plotted {groups} rows of {saved} into {plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.from_json:
        if not args.plot:
            _parser().error("--from-json needs --plot")
        return _plot_saved(args.plot, args.from_json)
    plan = Plan.build(args.quick, args.rounds)
    if args.instructions:
        print(instructions_table(_instructions(plan)))
        return 0
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="lucia_bench_") as tmp:
        workdir = Path(tmp)
        log(f"building rows in {workdir} ({'quick' if plan.quick else 'full'} run)")
        rows = _select(_build(plan, workdir), args.only)
        cases = [row for row in rows if isinstance(row, Case)]
        if args.profile:
            case = next((c for c in cases if c.key == args.profile), None)
            if case is None:
                log(f"no row {args.profile!r}; rows: {', '.join(c.key for c in cases)}")
                return 2
            # Pooled (renewal) rows: warm-up + two runs must fit in a pool of max_batch * (rounds + 15).
            print(profile_case(case, min(2_000 if plan.quick else 50_000, case.max_batch * 9)))
            return 0
        samples = measure(cases, plan.rounds, plan.warmup_s, plan.batch_s, log)
        results = [summarize(row, samples) for row in rows]
        target = next((c for c in cases if c.key == keyed(ACTIVE, "alone")), None)
        memory = None if target is None else memory_growth(target, plan.memory_requests)
        server = None
        if args.server:
            header = cookie_header("crowded", COOKIE_NAME, dbs.session_id(plan.sizes[1] // 2))
            server = run_servers(workdir / f"sessions-{plan.sizes[1]}.db", header, *((1, 1) if plan.quick else (10, 5)))
    instructions = None if plan.quick or args.only else _instructions(plan)
    meta = {**machine(), "mode": "quick" if plan.quick else "full", "rounds": plan.rounds, "sizes": list(plan.sizes)}
    target_rows = targets(results, memory, server)
    _print(meta, results, memory, server, instructions, target_rows)
    if args.json:
        write_json(args.json, meta, results, memory, server, target_rows, instructions)
    if args.plot:
        plot_ratios([vars(r) for r in results], args.plot, _plot_title(meta))
    return 0


def _print(meta: dict[str, object], results: list[Result], memory: MemoryResult | None,
           server: list[ServerResult] | None, instructions: InstructionCounts | None,
           target_rows: list[Target]) -> None:
    print(_title(meta))
    print(table(results))
    if instructions is not None:
        print("\n" + instructions_table(instructions))
    if memory is not None:
        print(f"\nmemory: RSS {memory.rss_before_mib:.1f} -> {memory.rss_after_mib:.1f} MiB "
              f"({memory.growth_mib:+.2f} MiB) over {memory.requests:,} validated requests")
    if server is not None:
        print("\ngunicorn (2 sync workers) + wrk (16 connections), crowded header:\n" + server_table(server))
    print("\ntargets (issue 13):\n" + targets_table(target_rows))


if __name__ == "__main__":
    sys.exit(main())
