"""The rows of the in-process benchmark: hello, floors and lucia_wsgi on SQLite."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lucia_wsgi.adapters.sqlite import SQLiteAdapter

from . import dbs
from .apps import COOKIE_NAME, hello_app, make_auth, make_floor, make_lucia_app, make_write_floor
from .harness import Case, Environ, base_environ

__all__ = ["Plan", "OTHER_COOKIES", "cookie_header", "repeat", "expect_body", "sqlite_cases"]

#: Cookies a real site sends besides the session cookie, before it.
OTHER_COOKIES = "theme=dark; lang=en-GB; _pk_id=8f41c2a7e5d3b9a1.1700000000"

Check = Callable[[str, list[tuple[str, str]], bytes], str]


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
            return cls(True, (100, 1_000, 10_000), rounds or 5, 0.05, 0.004, 20, 5_000)
        return cls(False, (1_000, 100_000, 1_000_000), rounds or 40, 0.5, 0.02, 200, 200_000)

    @property
    def renewal_pool(self) -> int:
        """Idle sessions enough for the check, the warm-up and every round (each is used once)."""
        return self.renewal_batch * (self.rounds + 15)

    @property
    def renewal_warmup(self) -> int:
        return 10 * self.renewal_batch


def cookie_header(name: str, value: str) -> str:
    return f"{OTHER_COOKIES}; {name}={value}"


def repeat(environ: Environ) -> Callable[[int], list[Environ]]:
    """Requests that are all alike: ``n`` shallow copies of ``environ``."""
    return lambda n: [environ.copy() for _ in range(n)]


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


def _pool(ids: list[str], header: Callable[[str], str]) -> Callable[[int], list[Environ]]:
    """Requests that each carry a session not used before (renewal uses a session up)."""
    remaining = iter(ids)

    def environs(n: int) -> list[Environ]:
        batch = [base_environ(cookie=header(sid)) for _, sid in zip(range(n), remaining, strict=False)]
        if len(batch) < n:
            raise RuntimeError("the renewal pool ran out: raise Plan.renewal_pool")
        return batch

    return environs


def _active(key: str, label: str, path: Path, n: int, floor: str = "floor") -> Case:
    i = n // 2
    environ = base_environ(cookie=cookie_header(COOKIE_NAME, dbs.session_id(i)))
    app = make_lucia_app(make_auth(SQLiteAdapter(path)))
    return Case(key, label, app, repeat(environ), expect_body(dbs.user_id(i)), floor=floor)


def sqlite_cases(plan: Plan, medium_db: Path) -> list[Case]:
    """hello, the two floors, and lucia_wsgi through ``LuciaMiddleware`` on SQLite.

    ``medium_db`` is a writable copy of the medium database (renewal writes to it).
    """
    small, medium, large = plan.sizes
    i = medium // 2
    header = cookie_header(COOKIE_NAME, dbs.session_id(i))
    logged_in = base_environ(cookie=header)
    cases = [
        Case("hello", "hello app (no auth at all)", hello_app, repeat(logged_in), expect_body("hello")),
        Case("floor", f"floor: http.cookies + sqlite3 PK lookup ({medium:,} sessions)", make_floor(medium_db),
             repeat(logged_in), expect_body(dbs.user_id(i))),
        Case("floor.split", "floor with a str.split cookie parse", make_floor(medium_db, "split"),
             repeat(logged_in), expect_body(dbs.user_id(i))),
    ]
    for key, n in (("small", small), ("medium", medium), ("large", large)):
        path = medium_db if n == medium else dbs.cached_db(n)
        cases.append(_active(f"lucia.active.{key}", f"lucia validate_user, active session ({n:,} sessions)", path, n))
    now = time.time_ns() // 1_000_000
    pool = dbs.add_idle_sessions(medium_db, plan.renewal_pool, now)
    write_pool = dbs.add_idle_sessions(medium_db, plan.renewal_pool, now, tag="write")
    auth = make_auth(SQLiteAdapter(medium_db))
    config = auth.config
    write_floor = make_write_floor(medium_db, config.active_period, config.idle_period, config.renewal_grace)
    cases += [
        Case("floor.write", "floor + a renewal's write (one SQLite transaction)", write_floor,
             _pool(write_pool, lambda sid: cookie_header(COOKIE_NAME, sid)), expect_body(dbs.user_id(0), True),
             max_batch=plan.renewal_batch, max_warmup=plan.renewal_warmup,
             note="each request renews a different idle session"),
        Case("lucia.renewal", f"lucia validate_user, renewal due ({medium:,})", make_lucia_app(auth),
             _pool(pool, lambda sid: cookie_header(COOKIE_NAME, sid)), expect_body(dbs.user_id(0), True),
             max_batch=plan.renewal_batch, max_warmup=plan.renewal_warmup,
             note="each request renews a different idle session"),
        Case("lucia.anonymous", "lucia validate_user, anonymous request", make_lucia_app(auth),
             repeat(base_environ(cookie=OTHER_COOKIES)), expect_body("anonymous")),
        Case("lucia.api_user", "lucia GET /api/auth/user, active session", make_lucia_app(auth),
             repeat(base_environ("/api/auth/user", cookie=header)), _json_user(dbs.user_id(i))),
    ]
    return cases
