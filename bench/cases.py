"""The rows of the in-process benchmark on SQLite: hello, the floors, lucia_wsgi; each with both headers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lucia_wsgi.adapters.sqlite import SQLiteAdapter

from . import dbs
from .apps import COOKIE_NAME, hello_app, make_auth, make_lucia_app
from .floors import WRITES, Periods, make_pk_floor, make_read_floor, make_write_floor
from .harness import Case, Environ, Skip, WSGIApp, base_environ
from .headers import HEADERS, cookie_header, keyed, other_cookies

__all__ = ["Plan", "RENEWALS", "Requests", "repeat", "signed_in", "per_header", "skipped", "expect_body",
           "sqlite_cases"]

Check = Callable[[str, list[tuple[str, str]], bytes], str]
Requests = Callable[[int], list[Environ]]

#: Renewal rows: (name, label, write floor, ``lucia()`` options). Each is
#: measured against ``floor.write.<write floor>`` (see :data:`bench.floors.WRITES`).
RENEWALS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("lucia.renewal.rotate", "lucia renewal, rotate (validate_user, idle session)", "rotate", {}),
    ("lucia.renewal.extend", 'lucia renewal, extend (renewal="extend")', "extend", {"renewal": "extend"}),
]


@dataclass(frozen=True)
class Plan:
    """How big and how long a run is."""

    quick: bool
    sizes: tuple[int, int, int]  # small, medium (the floor's), large
    rounds: int
    warmup_s: float
    batch_s: float
    renewal_batch: int
    memory_requests: int

    @classmethod
    def build(cls, quick: bool, rounds: int | None = None) -> Plan:
        if quick:
            return cls(True, (100, 1_000, 10_000), rounds or 5, 0.03, 0.003, 20, 5_000)
        return cls(False, (1_000, 100_000, 1_000_000), rounds or 40, 0.5, 0.02, 200, 200_000)

    @property
    def renewal_pool(self) -> int:
        """Idle sessions enough for the check, the warm-up and every round (each is used once)."""
        return self.renewal_batch * (self.rounds + 15)

    @property
    def renewal_warmup(self) -> int:
        return 10 * self.renewal_batch


def repeat(environ: Environ) -> Requests:
    """Requests that are all alike: ``n`` shallow copies of ``environ``."""
    return lambda n: [environ.copy() for _ in range(n)]


def signed_in(cookie_name: str, value: str, path: str = "/") -> Callable[[str], Requests]:
    """For each header, requests for ``path`` carrying the cookie ``cookie_name=value``."""
    return lambda header: repeat(base_environ(path, cookie=cookie_header(header, cookie_name, value)))


def per_header(name: str, label: str, app: WSGIApp, requests: Callable[[str], Requests], check: Check,
               floor: str = "floor", **options: Any) -> list[Case]:
    """Row ``name`` once per header, each against ``floor`` with the same header."""
    return [Case(keyed(name, h), label, app, requests(h), check, keyed(floor, h), h, **options) for h in HEADERS]


def skipped(name: str, label: str, reason: str, kind: str, floor: str = "floor") -> list[Skip]:
    """Row ``name`` skipped, once per header."""
    return [Skip(keyed(name, h), label, reason, kind, keyed(floor, h), h) for h in HEADERS]


def expect_body(expected: str, set_cookie: bool | None = False) -> Check:
    """A check: status 200, body ``expected``; Set-Cookie present iff ``set_cookie`` (None: either)."""

    def check(status: str, headers: list[tuple[str, str]], body: bytes) -> str:
        cookies = [v for k, v in headers if k.lower() == "set-cookie"]
        if not status.startswith("200"):
            return f"status {status}"
        if body.decode("utf-8", "replace") != expected:
            return f"body {body[:200]!r}, expected {expected!r}"
        if set_cookie is not None and bool(cookies) != set_cookie:
            return f"Set-Cookie {cookies!r}"
        return ""

    return check


def _json_user(expected_id: str) -> Check:
    def check(status: str, headers: list[tuple[str, str]], body: bytes) -> str:
        if not status.startswith("200"):
            return f"status {status}"
        data = json.loads(body)
        return "" if data == {"user": {"user_id": expected_id}} else f"body {data!r}"

    return check


def _pool(ids: list[str], header: str) -> Requests:
    """Requests that each carry a session not used before (renewal uses a session up)."""
    remaining = iter(ids)

    def environs(n: int) -> list[Environ]:
        batch = [base_environ(cookie=cookie_header(header, COOKIE_NAME, sid))
                 for _, sid in zip(range(n), remaining, strict=False)]
        if len(batch) < n:
            raise RuntimeError("the renewal pool ran out: raise Plan.renewal_pool")
        return batch

    return environs


class _Pools:
    """Idle sessions for the renewal rows: one pool per row and header, each on users of its own."""

    def __init__(self, plan: Plan, path: Path, users: int) -> None:
        self.plan, self.path, self.users = plan, path, users
        self.now, self.next_user = time.time_ns() // 1_000_000, 0

    def rows(self, name: str, label: str, app: WSGIApp, floor: str) -> list[Case]:
        cases = []
        for header in HEADERS:
            first, size = self.next_user, self.plan.renewal_pool
            ids = dbs.add_idle_sessions(self.path, size, self.now, tag=keyed(name, header), first_user=first)
            self.next_user += size
            cases.append(Case(keyed(name, header), label, app, _pool(ids, header),
                              expect_body(dbs.user_id(first % self.users), True), keyed(floor, header), header,
                              note="each request renews a different idle session",
                              max_batch=self.plan.renewal_batch, max_warmup=self.plan.renewal_warmup))
        return cases


def _active_rows(plan: Plan, medium_db: Path) -> list[Case]:
    cases = []
    for key, n in zip(("small", "medium", "large"), plan.sizes, strict=True):
        path = medium_db if n == plan.sizes[1] else dbs.cached_db(n)
        i = n // 2
        app = make_lucia_app(make_auth(SQLiteAdapter(path)))
        cases += per_header(f"lucia.active.{key}", f"lucia validate_user, active session ({n:,} sessions)", app,
                            signed_in(COOKIE_NAME, dbs.session_id(i)), expect_body(dbs.user_id(i)))
    return cases


def sqlite_cases(plan: Plan, medium_db: Path) -> list[Case]:
    """hello, the floors, and lucia_wsgi through ``LuciaMiddleware`` on SQLite, each with both headers.

    ``medium_db`` is a writable copy of the medium database (renewal writes to it).
    """
    medium = plan.sizes[1]
    i = medium // 2
    me, uid = signed_in(COOKIE_NAME, dbs.session_id(i)), dbs.user_id(i)
    cases = [
        *per_header("hello", "hello app (no auth at all)", hello_app, me, expect_body("hello")),
        *per_header("floor", f"floor: str.split + sqlite3 session JOIN user ({medium:,})",
                    make_read_floor(medium_db), me, expect_body(uid)),
        *per_header("floor.simplecookie", "old floor: http.cookies + sqlite3 session PK lookup",
                    make_pk_floor(medium_db), me, expect_body(uid)),
        *per_header("floor.pk", "str.split + sqlite3 session PK lookup (no JOIN)",
                    make_pk_floor(medium_db, "split"), me, expect_body(uid)),
        *_active_rows(plan, medium_db),
    ]
    auth = make_auth(SQLiteAdapter(medium_db))
    periods = Periods(auth.config.active_period, auth.config.idle_period)
    pools = _Pools(plan, medium_db, medium)
    for mode, (write, sql) in WRITES.items():
        cases += pools.rows(f"floor.write.{mode}", f"write floor, {mode}: floor + {sql}",
                            make_write_floor(medium_db, write, periods), "floor")
    for name, label, write_floor, options in RENEWALS:
        renewing = auth if not options else make_auth(SQLiteAdapter(medium_db), **options)
        cases += pools.rows(name, label, make_lucia_app(renewing), f"floor.write.{write_floor}")
    lucia_app = make_lucia_app(auth)
    cases += [
        *per_header("lucia.anonymous", "lucia validate_user, anonymous request", lucia_app,
                    lambda h: repeat(base_environ(cookie=other_cookies(h))), expect_body("anonymous")),
        *per_header("lucia.api_user", "lucia GET /api/auth/user, active session", lucia_app,
                    signed_in(COOKIE_NAME, dbs.session_id(i), "/api/auth/user"), _json_user(uid)),
    ]
    return cases
