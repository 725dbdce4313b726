"""Tests that need a system tool use ``conftest.require_tool``: without it they skip with the
reason, and fail under ``LUCIA_REQUIRE_SERVICES=1`` (CI, whose ``.ci/run`` installs them all)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Each tool, a test that needs it, and what the skip says.
TOOLS = [
    pytest.param("wrk", "tests/test_bench.py::test_server_mode_serves_every_app_under_gunicorn",
                 "wrk is not on PATH (apt-get install wrk)", id="wrk"),
    pytest.param("openssl", "tests/test_mail.py::test_smtps_speaks_tls_from_the_first_byte",
                 "openssl is not on PATH (apt-get install openssl", id="openssl"),
    pytest.param("chromium", "tests/browser/test_demo_browser.py::test_sign_up_use_and_sign_out_in_chromium[asgi]",
                 "chromium is not on PATH (apt-get install chromium)", id="chromium"),
]


def _path_without(tool: str, tmp: Path) -> str:
    """``PATH`` with ``tool`` hidden: directories holding it are replaced by one of symlinks to the rest."""
    shadow = tmp / "bin"
    shadow.mkdir()
    kept = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or not (Path(directory) / tool).exists():
            kept.append(directory)
            continue
        for entry in Path(directory).iterdir():
            if entry.name != tool and not (shadow / entry.name).exists():
                (shadow / entry.name).symlink_to(entry)
    return os.pathsep.join([str(shadow), *kept])


@pytest.mark.parametrize(("required", "outcome"), [
    pytest.param("", r"^1 skipped in", id="skips-locally"),
    pytest.param("1", r"^1 (failed|error) in", id="fails-under-LUCIA_REQUIRE_SERVICES"),  # error: in a fixture
])
@pytest.mark.parametrize(("tool", "test", "reason"), TOOLS)
def test_a_missing_system_tool_skips_with_the_reason_or_fails_when_services_are_required(
        tmp_path: Path, tool: str, test: str, reason: str, required: str, outcome: str) -> None:
    env = {**os.environ, "PATH": _path_without(tool, tmp_path), "LUCIA_REQUIRE_SERVICES": required}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", test],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert re.search(outcome, proc.stdout, re.MULTILINE), proc.stdout[-3000:]
    assert reason in proc.stdout, proc.stdout[-3000:]
