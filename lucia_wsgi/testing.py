"""Test helpers: an adapter wrapper that fails on chosen calls (fault injection).

Usage::

    store = FaultyAdapter(MemoryAdapter(), fail_on={"set_session": 1})
    auth = lucia(adapter=store, env="DEV")
    auth.create_session(user_id)  # raises InjectedFault("injected fault: set_session call 1")

The wrapper counts every call of the adapter protocol per method, raises on
the N-th call of the methods named in ``fail_on`` (before the wrapped store
sees the call, or after it completed with ``when="after"``: the write landed
but the caller never heard back), optionally after a delay (a timeout). It
offers the optional methods (``get_session_and_user_by_session_id``, the
renewal writes of :class:`~lucia_wsgi.adapters.base.RenewingSessionAdapter`,
the throttle, token and code methods of
:class:`~lucia_wsgi.adapters.base.AccountAdapter`) exactly when the wrapped
adapter does, so ``Auth`` takes the same code paths as with the bare store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from .adapters.base import AccountAdapter, CodeRow, JointAdapter, RenewingSessionAdapter, TokenRow, UserRow
from .session import SessionRow

__all__ = ["FaultyAdapter", "InjectedFault", "AdapterCall", "PROTOCOL_METHODS", "WRITE_METHODS", "WsgiAnswer",
           "call_wsgi"]

#: Every adapter method the wrapper counts and can fail.
PROTOCOL_METHODS = (
    "get_user", "get_user_by_provider_id", "set_user", "update_user", "delete_user",
    "get_session", "get_sessions_by_user_id", "set_session", "delete_session",
    "delete_sessions_by_user_id", "get_session_and_user_by_session_id",
    "renew_session", "confirm_session", "cut_sessions", "extend_session", "rekey_session",
    "get_throttle", "set_throttle", "set_token", "pop_token", "delete_tokens", "set_code", "get_code",
    "count_code_attempt", "delete_code", "delete_codes", "delete_expired",
)
#: The methods among them that change the store.
WRITE_METHODS = frozenset({
    "set_user", "update_user", "delete_user", "set_session", "delete_session",
    "delete_sessions_by_user_id", "renew_session", "confirm_session", "cut_sessions", "extend_session",
    "rekey_session", "set_throttle", "set_token", "pop_token", "delete_tokens", "set_code", "count_code_attempt",
    "delete_code", "delete_codes", "delete_expired",
})

Failure = BaseException | type[BaseException]


class InjectedFault(ConnectionError):
    """What :class:`FaultyAdapter` raises by default: it looks like a lost connection."""


class AdapterCall(NamedTuple):
    """One call seen by the wrapper: the method and its 1-based count for that method."""

    method: str
    n: int


class FaultyAdapter:
    """Wrap ``adapter``; fail the ``n``-th call of each method in ``fail_on``.

    ``fail_on`` maps a method name to a call number or a collection of them.
    ``exc`` is an exception instance or class (classes get a message naming
    the call). ``delay`` seconds pass before the failure. ``before_call(call)``
    runs before every counted call, failing or not (a seam for interleaving
    threads). Other attributes (``create_tables``, ``close``...) pass through.
    """

    def __new__(cls, adapter: Any, *args: Any, **kwargs: Any) -> FaultyAdapter:
        if cls is FaultyAdapter:
            cls = _variant(isinstance(adapter, JointAdapter), isinstance(adapter, RenewingSessionAdapter),
                           isinstance(adapter, AccountAdapter))
        return super().__new__(cls)

    def __init__(
        self,
        adapter: Any,
        fail_on: Mapping[str, int | Iterable[int]] | None = None,
        *,
        exc: Failure = InjectedFault,
        when: Literal["before", "after"] = "before",
        delay: float = 0.0,
        before_call: Callable[[AdapterCall], None] | None = None,
    ) -> None:
        if when not in ("before", "after"):
            raise ValueError("when must be 'before' or 'after'")
        self.adapter = adapter
        self.fail_on: dict[str, frozenset[int]] = {}
        for method, numbers in (fail_on or {}).items():
            self.fail(method, numbers)
        self.exc = exc
        self.when = when
        self.delay = delay
        self.before_call = before_call
        self.calls: list[AdapterCall] = []
        self.faults: list[AdapterCall] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<FaultyAdapter {self.adapter!r} fail_on={self.fail_on!r}>"

    def __getattr__(self, name: str) -> Any:
        if name == "adapter":  # not set yet: do not recurse
            raise AttributeError(name)
        return getattr(self.adapter, name)

    def fail(self, method: str, numbers: int | Iterable[int] = 1) -> None:
        """Also fail call(s) ``numbers`` of ``method`` (counted from the wrapper's creation)."""
        if method not in PROTOCOL_METHODS:
            raise ValueError(f"{method!r} is not an adapter method")
        wanted = frozenset([numbers] if isinstance(numbers, int) else numbers)
        self.fail_on[method] = self.fail_on.get(method, frozenset()) | wanted

    def reset(self) -> None:
        """Forget the calls and faults seen so far; call numbers start again at 1."""
        with self._lock:
            self.calls.clear()
            self.faults.clear()
            self._counts.clear()

    def heal(self) -> None:
        """Stop injecting faults (the counts go on)."""
        self.fail_on = {}

    def count(self, method: str | None = None) -> int:
        """How many calls the wrapper saw (of ``method``, or in all)."""
        if method is None:
            return len(self.calls)
        return self._counts.get(method, 0)

    def _error(self, call: AdapterCall) -> BaseException:
        if isinstance(self.exc, BaseException):
            return self.exc
        return self.exc(f"injected fault: {call.method} call {call.n}")

    def _call(self, method: str, *args: Any) -> Any:
        with self._lock:
            n = self._counts[method] = self._counts.get(method, 0) + 1
            call = AdapterCall(method, n)
            self.calls.append(call)
            failing = n in self.fail_on.get(method, ())
        if self.before_call is not None:
            self.before_call(call)
        if failing and self.when == "before":
            self._raise(call)
        result = getattr(self.adapter, method)(*args)
        if failing:
            self._raise(call)
        return result

    def _raise(self, call: AdapterCall) -> None:
        with self._lock:
            self.faults.append(call)
        if self.delay:
            time.sleep(self.delay)
        raise self._error(call)

    # the adapter protocol

    def get_user(self, user_id: str) -> UserRow | None:
        return self._call("get_user", user_id)

    def get_user_by_provider_id(self, provider_id: str) -> UserRow | None:
        return self._call("get_user_by_provider_id", provider_id)

    def set_user(self, user_id: str | None, values: Mapping[str, Any]) -> UserRow:
        return self._call("set_user", user_id, values)

    def update_user(self, user_id: str, values: Mapping[str, Any]) -> UserRow:
        return self._call("update_user", user_id, values)

    def delete_user(self, user_id: str) -> None:
        self._call("delete_user", user_id)

    def get_session(self, session_id: str) -> SessionRow | None:
        return self._call("get_session", session_id)

    def get_sessions_by_user_id(self, user_id: str) -> list[SessionRow]:
        return self._call("get_sessions_by_user_id", user_id)

    def set_session(self, row: SessionRow) -> None:
        self._call("set_session", row)

    def delete_session(self, *session_ids: str) -> None:
        self._call("delete_session", *session_ids)

    def delete_sessions_by_user_id(self, user_id: str) -> None:
        self._call("delete_sessions_by_user_id", user_id)


class _Joint(FaultyAdapter):
    def get_session_and_user_by_session_id(self, session_id: str) -> tuple[SessionRow, UserRow] | None:
        return self._call("get_session_and_user_by_session_id", session_id)


class _Renewing(FaultyAdapter):
    def renew_session(self, expected: SessionRow, successor: str, new: SessionRow, replaced: str | None) -> bool:
        return bool(self._call("renew_session", expected, successor, new, replaced))

    def confirm_session(self, session_id: str, predecessor_id: str, until: int) -> None:
        self._call("confirm_session", session_id, predecessor_id, until)

    def cut_sessions(self, session_ids: Sequence[str], until: int) -> None:
        self._call("cut_sessions", session_ids, until)

    def extend_session(self, expected: SessionRow, extended: SessionRow) -> bool:
        return bool(self._call("extend_session", expected, extended))

    def rekey_session(self, old_id: str, new_id: str) -> bool:
        return bool(self._call("rekey_session", old_id, new_id))


class _Accounts(FaultyAdapter):
    def get_throttle(self, key: str) -> int | None:
        return self._call("get_throttle", key)

    def set_throttle(self, key: str, expected: int | None, tat: int) -> bool:
        return bool(self._call("set_throttle", key, expected, tat))

    def set_token(self, row: TokenRow) -> None:
        self._call("set_token", row)

    def pop_token(self, token_id: str) -> TokenRow | None:
        return self._call("pop_token", token_id)

    def delete_tokens(self, user_id: str, kind: str | None = None) -> None:
        self._call("delete_tokens", user_id, kind)

    def set_code(self, row: CodeRow) -> None:
        self._call("set_code", row)

    def get_code(self, kind: str, user_id: str) -> CodeRow | None:
        return self._call("get_code", kind, user_id)

    def count_code_attempt(self, row: CodeRow) -> bool:
        return bool(self._call("count_code_attempt", row))

    def delete_code(self, row: CodeRow) -> bool:
        return bool(self._call("delete_code", row))

    def delete_codes(self, user_id: str, kind: str | None = None) -> None:
        self._call("delete_codes", user_id, kind)

    def delete_expired(self, now: int) -> int:
        return int(self._call("delete_expired", now))


_VARIANTS: dict[tuple[bool, bool, bool], type[FaultyAdapter]] = {}


def _variant(joint: bool, renewing: bool, accounts: bool) -> type[FaultyAdapter]:
    """The wrapper class offering exactly the optional methods the wrapped adapter has."""
    key = (joint, renewing, accounts)
    if key not in _VARIANTS:
        bases = tuple(base for wanted, base in zip(key, (_Joint, _Renewing, _Accounts), strict=True) if wanted)
        name = "".join(base.__name__ for base in bases)
        _VARIANTS[key] = type(name, bases, {"__module__": __name__}) if bases else FaultyAdapter
    return _VARIANTS[key]


class WsgiAnswer(NamedTuple):
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> WsgiAnswer:
    """Run a WSGI application as a server would: the whole body, then ``close()``."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return _discard

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return WsgiAnswer(started[0], started[1], body)


def _discard(data: bytes) -> None:
    """The ``write()`` callable: a body written through it is dropped."""
