"""``--server``: the hello app, the floor and a demo-style site under gunicorn, driven by wrk.

Each app runs under ``gunicorn`` with 2 sync workers on 127.0.0.1 and is
loaded by ``wrk`` (16 connections, 2 threads) for a fixed total time, split
into interleaved rounds, with the signed-in session's cookie in the crowded
header on every request. Requests per second are compared with the hello
app's; responses other than 2xx/3xx are reported.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerResult", "run_servers", "TARGETS"]

#: (key, label, gunicorn app spec)
TARGETS = (
    ("hello", "hello app", "bench.wsgi:hello()"),
    ("floor", "floor (str.split + sqlite3 session JOIN user)", "bench.wsgi:floor()"),
    ("demo", "demo-style site, lucia_wsgi middleware", "bench.wsgi:demo()"),
)
_REPO = Path(__file__).resolve().parent.parent


@dataclass
class ServerResult:
    key: str
    label: str
    requests_per_s: float | None = None
    ratio: float | None = None
    errors: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, cookie: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/", headers={"Cookie": cookie})
            status = conn.getresponse().status
            conn.close()
            if status != 200:
                raise RuntimeError(f"GET / answered {status}")
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start in time")


def _wrk(port: int, cookie: str, duration: int) -> tuple[float, str]:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", "16", "-d", f"{duration}s", "-H", f"Cookie: {cookie}", f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout
    found = re.search(r"Requests/sec:\s*([0-9.]+)", out)
    if found is None:
        raise RuntimeError(f"no Requests/sec in wrk output: {out!r}")
    bad = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    return float(found.group(1)), (f"{bad.group(1)} non-2xx/3xx responses" if bad else "")


def _start(spec: str, db: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    env = {**os.environ, "LUCIA_BENCH_DB": str(db), "PYTHONPATH": str(_REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync", "--bind",
         f"127.0.0.1:{port}", "--log-level", "warning", "--chdir", str(_REPO), spec],
        env=env,
    )
    return proc, port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_servers(db: Path, cookie: str, duration: int, rounds: int) -> list[ServerResult]:
    """Requests/s of each target and its ratio to hello's; needs ``wrk`` and gunicorn.

    All three servers run at once (idle ones cost nothing); each round loads
    each server in turn for ``duration / rounds`` seconds, and the ratios are
    medians of the per-round ratios, as in-process.
    """
    if shutil.which("wrk") is None:
        missing = "wrk is not installed (apt-get install wrk)"
        return [ServerResult(key, label, errors=missing) for key, label, _ in TARGETS]
    servers = []
    try:
        for _, _, spec in TARGETS:
            servers.append(_start(spec, db))
        for proc, port in servers:
            _wait_ready(port, cookie, proc)
        rates: list[list[float]] = [[] for _ in TARGETS]
        errors = ["" for _ in TARGETS]
        step = max(1, round(duration / rounds))
        for r in range(rounds):
            for i in [(r + k) % len(TARGETS) for k in range(len(TARGETS))]:
                rate, problem = _wrk(servers[i][1], cookie, step)
                rates[i].append(rate)
                errors[i] = errors[i] or problem
    finally:
        for proc, _ in servers:
            _stop(proc)
    results = []
    for (key, label, _), mine, problem in zip(TARGETS, rates, errors, strict=True):
        ratios = [a / b for a, b in zip(mine, rates[0], strict=True)]
        results.append(ServerResult(key, label, statistics.median(mine), statistics.median(ratios), problem))
    return results
