"""The benchmark suite runs, prints every row with a ratio, and writes valid JSON.

No timing is asserted (CI machines are noisy): only that each row was
measured, its numbers are sane, and the table shows them.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool, service_unavailable

from bench import dbs
from bench.apps import make_auth, split_cookie
from bench.harness import Case, Skip, base_environ, call, run_batch, summarize
from lucia_wsgi.adapters.sqlite import SQLiteAdapter

REPO = Path(__file__).resolve().parent.parent

LOCAL_ROWS = ["hello", "floor", "floor.split", "lucia.active.small", "lucia.active.medium", "lucia.active.large",
              "floor.write", "lucia.renewal", "lucia.anonymous", "lucia.api_user"]
SERVICE_ROWS = ["floor.postgres", "lucia.postgres", "floor.redis", "lucia.redis"]
PEER_ROWS = ["peer.beaker", "peer.flask_login", "peer.django"]


def _run_bench(tmp: Path, *args: str) -> tuple[str, dict[str, Any]]:
    out = tmp / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json", str(out), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    return _run_bench(tmp_path_factory.mktemp("bench"))


def _row(quick_run: tuple[str, dict[str, Any]], key: str) -> dict[str, Any]:
    rows = {row["key"]: row for row in quick_run[1]["rows"]}
    assert key in rows, f"row {key} missing from the JSON"
    return rows[key]


def _assert_printed_with_ratio(stdout: str, row: dict[str, Any]) -> None:
    assert row["skipped"] == "", row["skipped"]
    assert math.isfinite(row["ratio"]) and row["ratio"] > 0
    assert row["median_us"] > 0 and row["rounds"] >= 3
    lines = [line for line in stdout.splitlines() if line.startswith(row["label"])]
    assert len(lines) == 1, f"{row['label']!r} printed {len(lines)} times"
    assert f"{row['ratio']:.2f}x" in lines[0]
    assert f"{row['median_us']:.2f}" in lines[0]


@pytest.mark.parametrize("key", [pytest.param(key, id=key) for key in LOCAL_ROWS])
def test_local_row_is_measured_and_printed(quick_run: tuple[str, dict[str, Any]], key: str) -> None:
    _assert_printed_with_ratio(quick_run[0], _row(quick_run, key))


@pytest.mark.services
@pytest.mark.parametrize("key", [pytest.param(key, id=key) for key in SERVICE_ROWS])
def test_service_row_is_measured_and_printed(quick_run: tuple[str, dict[str, Any]], key: str) -> None:
    row = _row(quick_run, key)
    if row["skip_kind"] == "service":
        service_unavailable(row["skipped"])
    _assert_printed_with_ratio(quick_run[0], row)


@pytest.mark.parametrize("key", [pytest.param(key, id=key) for key in PEER_ROWS])
def test_peer_row_is_measured_or_names_the_missing_package(quick_run: tuple[str, dict[str, Any]], key: str) -> None:
    row = _row(quick_run, key)
    if row["skipped"]:
        assert row["skip_kind"] == "package" and "not installed" in row["skipped"]
        assert f"skipped: {row['skipped']}" in quick_run[0]
    else:
        _assert_printed_with_ratio(quick_run[0], row)


def test_floor_is_its_own_unit(quick_run: tuple[str, dict[str, Any]]) -> None:
    assert _row(quick_run, "floor")["ratio"] == 1.0
    assert _row(quick_run, "lucia.postgres")["floor"] == "floor.postgres"


def test_json_has_machine_memory_and_every_target(quick_run: tuple[str, dict[str, Any]]) -> None:
    stdout, data = quick_run
    assert data["meta"]["mode"] == "quick" and data["meta"]["python"].startswith("CPython")
    assert data["memory"]["requests"] == 5_000 and data["memory"]["rss_after_mib"] > 0
    assert data["server"] is None
    assert len(data["targets"]) == 9
    for target in data["targets"]:
        assert target["verdict"] in ("holds", "MISSED", "not measured")
        assert target["name"] in stdout
    measured = {t["name"] for t in data["targets"] if t["verdict"] != "not measured"}
    assert "validate_user, SQLite, active / floor" in measured and "RSS growth, MiB" in measured


def test_server_mode_serves_every_app_under_gunicorn(tmp_path: Path) -> None:
    require_tool("wrk", "apt-get install wrk")
    stdout, data = _run_bench(tmp_path, "--server", "--only", "hello")
    assert [s["key"] for s in data["server"]] == ["hello", "floor", "demo"]
    for server in data["server"]:
        assert server["errors"] == "" and server["requests_per_s"] > 0
        assert f"{server['ratio']:.2f}x hello" in stdout
    assert data["server"][0]["ratio"] == 1.0


# The pieces, in-process.


@pytest.mark.parametrize(("header", "expected"), [
    pytest.param("auth_session=abc", "abc", id="alone"),
    pytest.param("a=1; auth_session=abc; b=2", "abc", id="middle"),
    pytest.param("a=1;auth_session = abc ", "abc", id="spaces"),
    pytest.param("auth_session=first; auth_session=second", "first", id="first-wins"),
    pytest.param("xauth_session=abc", "", id="longer-name"),
    pytest.param("", "", id="empty"),
])
def test_split_cookie(header: str, expected: str) -> None:
    assert split_cookie(header) == expected


def _case(key: str, floor: str = "floor") -> Case:
    return Case(key, key, lambda environ, start_response: [], lambda n: [], lambda s, h, b: "", floor=floor)


@pytest.mark.parametrize(("mine", "floor", "median_us", "ratio"), [
    pytest.param([5.0, 20.0, 60.0], [10.0, 20.0, 30.0], 20.0, 1.0, id="per-round-ratios"),
    pytest.param([4.0, 4.0, 4.0, 4.0], [2.0, 8.0, 8.0, 8.0], 4.0, 0.5, id="slow-floor-round"),
    pytest.param([3.0], [1.0], 3.0, 3.0, id="one-round"),
])
def test_summarize_takes_medians_of_per_round_ratios(mine: list[float], floor: list[float],
                                                     median_us: float, ratio: float) -> None:
    result = summarize(_case("x"), {"x": mine, "floor": floor})
    assert (result.median_us, result.ratio, result.rounds) == (median_us, ratio, len(mine))


def test_summarize_reports_skips_and_missing_floors() -> None:
    skipped = summarize(Skip("y", "y", "Redis is down", "service"), {})
    assert (skipped.ratio, skipped.skipped, skipped.skip_kind) == (None, "Redis is down", "service")
    orphan = summarize(_case("x", floor="floor.redis"), {"x": [1.0]})
    assert orphan.ratio is None and orphan.skip_kind == "floor"


def test_run_batch_consumes_and_closes_every_response() -> None:
    served: list[str] = []
    closed: list[str] = []

    class Body:
        def __init__(self, path: str) -> None:
            self.path = path

        def __iter__(self) -> Any:
            served.append(self.path)
            return iter([b"x"])

        def close(self) -> None:
            closed.append(self.path)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body(environ["PATH_INFO"])

    assert run_batch(app, [base_environ(f"/{i}") for i in range(3)]) > 0
    assert served == closed == ["/0", "/1", "/2"]


def test_benchmark_database_sessions_validate_and_renew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbs, "cache_dir", lambda: tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    path = dbs.working_copy(10, work)
    auth = make_auth(SQLiteAdapter(path))
    session, user = auth.validate_session_user(dbs.session_id(3))
    assert user == {"user_id": dbs.user_id(3)} and session is not None and not session.is_fresh
    now = 1_700_000_000_000
    idle = dbs.add_idle_sessions(path, 2, now)
    renewing = make_auth(SQLiteAdapter(path), clock=lambda: now)
    renewed = renewing.validate_session(idle[1])
    assert renewed.is_fresh and renewed.user_id == dbs.user_id(1)


def test_lucia_row_answers_the_signed_in_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.apps import make_lucia_app

    monkeypatch.setattr(dbs, "cache_dir", lambda: tmp_path)
    app = make_lucia_app(make_auth(SQLiteAdapter(dbs.cached_db(10))))
    status, headers, body = call(app, base_environ(cookie=f"auth_session={dbs.session_id(7)}"))
    assert (status, body) == ("200 OK", dbs.user_id(7).encode())
    assert ("Vary", "Cookie") in headers

