"""Stores for users and sessions.

``MemoryAdapter`` and ``SQLiteAdapter`` need nothing beyond the standard
library. ``PostgresAdapter`` (extra ``postgres``) and ``RedisSessionAdapter``
(extra ``redis``) import their drivers only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Adapter, SessionAdapter, UserAdapter
from .memory import MemoryAdapter
from .sqlite import SQLiteAdapter

if TYPE_CHECKING:
    from .postgres import PostgresAdapter
    from .redis import RedisSessionAdapter

__all__ = [
    "Adapter",
    "UserAdapter",
    "SessionAdapter",
    "MemoryAdapter",
    "SQLiteAdapter",
    "PostgresAdapter",
    "RedisSessionAdapter",
]

_LAZY = {"PostgresAdapter": ".postgres", "RedisSessionAdapter": ".redis"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
