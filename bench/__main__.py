"""``python -m bench``: run the benchmark suite and print the table (see ``--help``)."""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path

from . import dbs
from .apps import COOKIE_NAME
from .cases import Plan, cookie_header, sqlite_cases
from .harness import Case, Skip, measure, run_batch, summarize
from .memory import memory_growth
from .peer_django import django_case
from .peers import beaker_case, flask_login_case
from .report import machine, server_table, table, targets, targets_table, write_json
from .server import run_servers
from .services import postgres_cases, redis_cases


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run (small DBs, few rounds)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--server", action="store_true",
                        help="also run gunicorn + wrk (10 s per app in 5 rounds; 1 s quick)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 40; 5 quick)")
    parser.add_argument("--only", metavar="TEXT", help="run only rows whose key contains TEXT (and their floors)")
    parser.add_argument("--profile", metavar="KEY", help="cProfile row KEY instead of benchmarking, print the top")
    return parser


def _build(plan: Plan, workdir: Path) -> list[Case | Skip]:
    medium = plan.sizes[1]
    medium_db = dbs.working_copy(medium, workdir)
    uid = dbs.user_id(medium // 2)
    rows: list[Case | Skip] = [*sqlite_cases(plan, medium_db)]
    rows += postgres_cases(medium)
    rows += redis_cases(medium, medium_db)
    rows += [beaker_case(workdir, uid), flask_login_case(medium_db, uid), django_case(workdir)]
    return rows


def _select(rows: list[Case | Skip], only: str | None) -> list[Case | Skip]:
    if not only:
        return rows
    wanted = {row.key for row in rows if only in row.key}
    wanted |= {row.floor for row in rows if row.key in wanted}
    return [row for row in rows if row.key in wanted]


def _profile(case: Case, requests: int) -> None:
    run_batch(case.app, case.environs(requests // 10))
    environs = case.environs(requests)
    profiler = cProfile.Profile()
    profiler.runcall(run_batch, case.app, environs)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = Plan.build(args.quick, args.rounds)
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
            _profile(case, min(2_000 if plan.quick else 50_000, case.max_batch * 20))
            return 0
        samples = measure(cases, plan.rounds, plan.warmup_s, plan.batch_s, log)
        results = [summarize(row, samples) for row in rows]
        target = next((c for c in cases if c.key == "lucia.active.medium"), None)
        memory = None if target is None else memory_growth(target, plan.memory_requests)
        server = None
        if args.server:
            header = cookie_header(COOKIE_NAME, dbs.session_id(plan.sizes[1] // 2))
            server = run_servers(workdir / f"sessions-{plan.sizes[1]}.db", header, *((1, 1) if plan.quick else (10, 5)))
        meta = {**machine(), "mode": "quick" if plan.quick else "full", "rounds": plan.rounds,
                "sizes": list(plan.sizes)}
        target_rows = targets(results, memory, server)
    print(f"lucia_wsgi benchmark ({meta['mode']}, commit {meta['commit']}): {meta['python']}, "
          f"{meta['cpu']} x{meta['cpus']}, {meta['date']}")
    print(table(results))
    if memory is not None:
        print(f"\nmemory: RSS {memory.rss_before_mib:.1f} -> {memory.rss_after_mib:.1f} MiB "
              f"({memory.growth_mib:+.2f} MiB) over {memory.requests:,} validated requests")
    if server is not None:
        print("\ngunicorn (2 sync workers) + wrk (16 connections):\n" + server_table(server))
    print("\ntargets (issue 5):\n" + targets_table(target_rows))
    if args.json:
        write_json(args.json, meta, results, memory, server, target_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
