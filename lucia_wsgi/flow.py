"""Store work written once, run synchronously (WSGI) or awaited (ASGI).

Theory of operation
-------------------
Every method of :class:`~lucia_wsgi.Auth` that touches a store is written as
a *flow*: a generator that yields each store call as an *effect*, a tuple
``(function, *arguments)``, and receives its result (or has its exception
thrown in), as h11 and other sans-I/O libraries keep I/O out of their logic::

    @flowmethod
    def get_user(self, user_id: str) -> Flow[Any]:
        row = yield self._users.get_user, user_id
        ...

A *runner* performs the effects. :func:`run` calls them in turn on the
current thread; :class:`AsyncRunner` either hands the whole flow to a bounded
pool of worker threads (stores with blocking drivers: one thread hop per
call, however many queries it makes) or awaits each effect on the event loop
(``asyncio`` stores), sending CPU-heavy effects marked :class:`Offload` (the
password hash) to the pool. So the rules exist once, and the only difference
between the two shells is who performs the yielded calls.

:class:`flowmethod` turns such a generator into a method: on an object with
a synchronous runner it returns the result, on its ``.aio`` twin it returns a
coroutine.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import Executor
from typing import Any, Concatenate, Generic, NamedTuple, ParamSpec, TypeVar, overload

__all__ = ["AsyncRunner", "Flow", "FlowOwner", "Offload", "flowmethod", "run"]

R = TypeVar("R")
P = ParamSpec("P")

#: A flow returning ``R``: yields effects, receives their results.
Flow = Generator[Any, Any, R]


class Offload(NamedTuple):
    """An effect that is CPU work, not I/O (the password hash): off the event loop, always."""

    function: Callable[..., Any]
    args: tuple[Any, ...]

    def __call__(self) -> Any:
        return self.function(*self.args)


def offload(function: Callable[..., R], *args: Any) -> tuple[Offload]:
    """The effect ``yield offload(f, x)`` runs ``f(x)`` in a worker thread under asyncio."""
    return (Offload(function, args),)


def _perform(effect: tuple[Any, ...]) -> Any:
    return effect[0](*effect[1:])


def _outcome(function: Callable[..., R], *args: Any) -> tuple[R | None, BaseException | None]:
    """``function(*args)``'s result or exception, for the way back from a worker thread
    (asyncio would hand back a *new* ``TimeoutError``, without its traceback, for one raised there)."""
    try:
        return function(*args), None
    except BaseException as error:
        return None, error


def run(flow: Flow[R]) -> R:
    """Run ``flow`` to its end on this thread, performing each effect as it comes."""
    try:
        effect = next(flow)
        while True:
            try:
                result = effect[0](*effect[1:])
            except BaseException as error:  # the flow decides: it may catch, clean up, re-raise
                effect = flow.throw(error)
            else:
                effect = flow.send(result)
    except StopIteration as done:
        return done.value


class AsyncRunner:
    """Runs flows for asyncio code, never blocking the event loop.

    ``blocking`` is the set of objects whose methods block (synchronous
    stores). When every store of a flow blocks, the whole flow runs in one
    worker thread of ``executor``; otherwise effects on ``blocking`` objects
    and :class:`Offload` effects go to ``executor`` one by one and the rest
    are awaited.
    """

    def __init__(self, executor: Executor, blocking: frozenset[int], *, all_blocking: bool) -> None:
        self.executor = executor
        self._blocking = blocking  # ids of the blocking objects (adapters need not be hashable)
        self._all_blocking = all_blocking

    async def _in_thread(self, loop: asyncio.AbstractEventLoop, function: Callable[..., R], *args: Any) -> R:
        result, error = await loop.run_in_executor(self.executor, _outcome, function, *args)
        if error is not None:
            raise error  # the store's own exception, as the synchronous runner raises it
        return result  # type: ignore[return-value]

    async def __call__(self, flow: Flow[R]) -> R:
        loop = asyncio.get_running_loop()
        if self._all_blocking:
            return await self._in_thread(loop, run, flow)
        try:
            effect = next(flow)
            while True:
                try:
                    result = await self._perform(loop, effect)
                except BaseException as error:
                    effect = flow.throw(error)
                else:
                    effect = flow.send(result)
        except StopIteration as done:
            return done.value

    async def _perform(self, loop: asyncio.AbstractEventLoop, effect: tuple[Any, ...]) -> Any:
        function = effect[0]
        if type(function) is Offload or id(getattr(function, "__self__", None)) in self._blocking:
            return await self._in_thread(loop, _perform, effect)
        result = function(*effect[1:])
        if inspect.isawaitable(result):
            return await result
        return result


class FlowOwner:
    """Something whose :class:`flowmethod` methods run with ``_run_flow``.

    The synchronous side runs them with :func:`run`; an asynchronous twin
    overrides :attr:`is_async` and ``_run_flow``.
    """

    #: Whether the methods return coroutines (the ``.aio`` twins) rather than results.
    is_async = False

    def _run_flow(self, flow: Flow[R]) -> R:
        return run(flow)

    def _flow_self(self) -> Any:
        """The object the flows are methods of (the twin's synchronous original)."""
        return self


class flowmethod(Generic[P, R]):
    """A method written as a flow: returns ``R`` on a sync owner, a coroutine on an async one."""

    def __init__(self, function: Callable[Concatenate[Any, P], Flow[R]]) -> None:
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__
        self.__wrapped__ = function  # inspect.signature and Sphinx read the flow's signature

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, owner: None, cls: type) -> flowmethod[P, R]: ...

    @overload
    def __get__(self, owner: AsyncFlowOwner, cls: type) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __get__(self, owner: FlowOwner, cls: type) -> Callable[P, R]: ...

    def __get__(self, owner: FlowOwner | None, cls: type) -> Any:
        if owner is None:
            return self
        function, target, runner = self.function, owner._flow_self(), owner._run_flow
        runner_: Any = runner
        if owner.is_async:
            async def bound_async(*args: Any, **kwargs: Any) -> Any:
                return await runner_(function(target, *args, **kwargs))

            bound: Callable[..., Any] = bound_async
        else:
            def bound_sync(*args: Any, **kwargs: Any) -> Any:
                return runner(function(target, *args, **kwargs))

            bound = bound_sync
        functools.update_wrapper(bound, function)
        owner.__dict__[self.name] = bound  # cached: later look-ups are a plain attribute read
        return bound

    def flow(self, owner: Any, *args: P.args, **kwargs: P.kwargs) -> Flow[R]:
        """The generator itself, for composing flows (``yield from``)."""
        return self.function(owner, *args, **kwargs)


class AsyncFlowOwner(FlowOwner):
    """The awaitable twin of a :class:`FlowOwner`: the same flows, run by an :class:`AsyncRunner`."""

    is_async = True

    def __init__(self, original: FlowOwner, runner: AsyncRunner) -> None:
        self._original = original
        self._runner = runner

    def _flow_self(self) -> Any:
        return self._original

    def _run_flow(self, flow: Flow[R]) -> Any:  # a coroutine of R
        return self._runner(flow)
