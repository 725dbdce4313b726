"""One SQLite connection per thread, and per process after ``fork()``.

``sqlite3`` connections must not be shared across threads, nor carried across
``fork()``: each thread opens its own on first use, closed when the thread (or
the adapter) goes away; a forked child (gunicorn ``--preload``) opens its own
and leaves the ones it inherited alone, neither used nor closed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

__all__ = ["MEMDB_VFS", "Closable", "CloseWithThread", "ThreadConnections", "keep_alive"]

# This process's id, kept current across fork() without a system call per use.
_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)

class Closable(Protocol):
    """A connection: ``sqlite3``'s, or any other driver's with a ``close()``."""

    def close(self) -> None: ...


#: Connections a forked child inherited, detached: referenced until the child
#: exits, never closed by us. Closing one in the child is what SQLite warns
#: against (it may release or checkpoint what the parent's open handle owns).
_INHERITED: list[Closable] = []

#: Every connection a CloseWithThread will close (see its __init__).
_OPEN: set[Closable] = set()


class CloseWithThread:
    """Held in thread-local storage: closes the thread's connection when the
    thread (or the adapter) goes away, instead of leaving it to the collector.
    In a forked child it detaches the parent's connection instead. Any
    driver's connection will do (the benchmark's PostgreSQL floor uses it)."""

    __slots__ = ("conn", "pid")

    def __init__(self, conn: Closable) -> None:
        self.conn = conn
        self.pid = _pid
        # Reachable from here until __del__ runs, so an adapter collected as
        # cyclic garbage never has its connection finalized first (which warns
        # "unclosed database" on Python 3.13+).
        _OPEN.add(conn)

    def __del__(self) -> None:
        _OPEN.discard(self.conn)
        # os.getpid(), not _pid: a child drops the parent's other threads'
        # thread-local data before the after-fork hooks run.
        if self.pid == os.getpid():
            self.conn.close()
        else:
            _INHERITED.append(self.conn)


#: SQLite's VFS for named in-memory databases that several connections share.
MEMDB_VFS = "memdb"


def _close_unless_inherited(conn: sqlite3.Connection, pid: int) -> None:
    if pid == os.getpid():
        conn.close()
    else:
        _INHERITED.append(conn)


class ThreadConnections:
    """This thread's connection from ``connect``, opened on first use (again in a forked child)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.closer.pid != _pid:
            conn = self._local.conn = self._connect()
            self._local.closer = CloseWithThread(conn)  # the one it replaces detaches the parent's
        return conn

    def close(self) -> None:
        """Close this thread's connection; in a forked child, detach the inherited one instead."""
        closer: CloseWithThread | None = getattr(self._local, "closer", None)
        self._local.conn = self._local.closer = None
        if closer is not None and closer.pid == _pid:
            closer.conn.close()


def keep_alive(owner: object, conn: sqlite3.Connection) -> None:
    """Hold ``conn`` open until ``owner`` is collected (an in-memory database lives while one is open)."""
    weakref.finalize(owner, _close_unless_inherited, conn, _pid)
