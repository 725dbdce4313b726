"""Stores for users and sessions.

``MemoryAdapter`` and ``SQLiteAdapter`` need nothing beyond the standard
library. ``PostgresAdapter``/``AsyncPostgresAdapter`` (extra ``postgres``) and
``RedisSessionAdapter``/``AsyncRedisSessionAdapter`` (extra ``redis``) import
their drivers only when first used, by name: they
are left out of ``__all__`` so ``from lucia_wsgi.adapters import *`` works
without the drivers, and without its driver each raises an ``ImportError``
saying what to ``pip install``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Adapter, SessionAdapter, UserAdapter
from .memory import MemoryAdapter
from .sqlite import SQLiteAdapter

if TYPE_CHECKING:  # re-exported by name, not in __all__
    from .postgres import PostgresAdapter as PostgresAdapter
    from .postgres_async import AsyncPostgresAdapter as AsyncPostgresAdapter
    from .redis import RedisSessionAdapter as RedisSessionAdapter
    from .redis_async import AsyncRedisSessionAdapter as AsyncRedisSessionAdapter

__all__ = [
    "Adapter",
    "UserAdapter",
    "SessionAdapter",
    "MemoryAdapter",
    "SQLiteAdapter",
]

_LAZY = {"PostgresAdapter": ".postgres", "RedisSessionAdapter": ".redis",
         "AsyncPostgresAdapter": ".postgres_async", "AsyncRedisSessionAdapter": ".redis_async"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
