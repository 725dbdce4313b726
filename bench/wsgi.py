"""WSGI entry points for ``--server`` mode: ``gunicorn 'bench.wsgi:floor()'``.

The database path comes from ``$LUCIA_BENCH_DB``; each worker opens its own
connections after the fork.
"""

from __future__ import annotations

import os
from typing import Any

from .apps import hello_app, make_demo_app
from .floors import make_read_floor

__all__ = ["hello", "floor", "demo"]


def hello() -> Any:
    return hello_app


def floor() -> Any:
    return make_read_floor(os.environ["LUCIA_BENCH_DB"])


def demo() -> Any:
    return make_demo_app(os.environ["LUCIA_BENCH_DB"])
