"""The store contents the fault-injection tests start from, and deterministic session ids."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import bcrypt

from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.session import SessionRow

from .support import FAST_HASH, T0, new_sqlite

NOW = T0
HOUR = 3_600_000


def _id(stem: str) -> str:
    return stem.ljust(40, "0")


ACTIVE = SessionRow(_id("ActiveAliceSession"), "alice", NOW + HOUR, NOW + 2 * HOUR)
IDLE = SessionRow(_id("IdleAliceSession"), "alice", NOW - HOUR, NOW + HOUR)
DEAD = SessionRow(_id("DeadAliceSession"), "alice", NOW - 2 * HOUR, NOW - HOUR)
BOB = SessionRow(_id("ActiveBobSession"), "bob", NOW + HOUR, NOW + 2 * HOUR)
BCRYPT_HASH = bcrypt.hashpw(b"carol-pw", bcrypt.gensalt(rounds=4)).decode("ascii")


def fill(store: Any) -> None:
    """alice (an active, an idle and a dead session), bob (one session), carol (a bcrypt hash)."""
    store.set_user("alice", {"provider_id": "username:alice", "hashed_password": FAST_HASH[0]("alice-pw"),
                             "username": "Alice"})
    store.set_user("bob", {"provider_id": "username:bob", "hashed_password": FAST_HASH[0]("bob-pw"),
                           "username": "Bob"})
    store.set_user("carol", {"provider_id": "username:carol", "hashed_password": BCRYPT_HASH, "username": "Carol"})
    for row in (ACTIVE, IDLE, DEAD, BOB):
        store.set_session(row)


def filled_store(kind: str, path: Path) -> Any:
    store = MemoryAdapter() if kind == "memory" else new_sqlite(path)
    fill(store)
    return store


class SessionIds:
    """Deterministic session ids (patched over ``generate_random_string`` in ``lucia_wsgi.auth``).

    A faulty run then writes exactly what the reference run wrote.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self, length: int, alphabet: str = "") -> str:
        return f"New{next(self._counter):0{length - 3}d}"
