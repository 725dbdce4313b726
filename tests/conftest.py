"""Shared test set-up: hypothesis profiles, service availability, common fixtures."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, settings
from shells import SHELLS, AsgiShell, Shell, WsgiShell

# The documentation's examples (docs/examples) are importable by name: the
# tutorials' applications are the recipes tests/recipes runs (after tests/'s
# own modules, so none of theirs is shadowed).
sys.path.append(str(Path(__file__).resolve().parents[1] / "docs" / "examples"))

class Clock:
    """An injected ``lucia(clock=...)``: Unix milliseconds, moved by the test (``clock.now += ...``)."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile("slow", max_examples=10_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="run the property and fuzz tests at full size (10,000 examples each)")


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile("slow" if config.getoption("--slow") else "default")


def services_required() -> bool:
    """CI sets LUCIA_REQUIRE_SERVICES=1: a missing service is a failure, not a skip."""
    return os.environ.get("LUCIA_REQUIRE_SERVICES") == "1"


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} (LUCIA_REQUIRE_SERVICES=1, so this is a failure)")
    pytest.skip(reason)


def require_tool(name: str, install: str) -> str:
    """The path of the system tool ``name`` on ``PATH``; a missing one is ``service_unavailable``.

    ``install`` says how to get it (``"apt-get install wrk"``); ``.ci/run``
    installs every tool a test asks for here.
    """
    path = shutil.which(name)
    if path is None:
        service_unavailable(f"{name} is not on PATH ({install})")
    return path


@pytest.fixture(scope="session", params=SHELLS)
def shell(request: pytest.FixtureRequest) -> Iterator[Shell]:
    """Each middleware in turn: a test taking ``shell`` checks its rule on WSGI and on ASGI (see shells.py)."""
    if request.param == "wsgi":
        yield WsgiShell()
        return
    asgi = AsgiShell()
    yield asgi
    asgi.close()
