"""What the pages of ``demo_app.py`` see, under either shell: one copy of them for WSGI and ASGI.

Every page is a coroutine (``async def``) written against three things:

* :class:`Visit`, the request: its environ, the form body the shell read, and
  ``visit.lucia``, the request's lucia object;
* :class:`Aio`, the store calls: ``aio.auth.create_user(...)``,
  ``aio.verify_tokens.issue(...)``, ..., and :meth:`Aio.run` for the demo's
  own blocking work (its one SQL query);
* the pure parts, called as they are: ``auth.validate_request_headers``,
  ``visit.lucia.set_session``, the page rendering and form reading.

Under ASGI (``demo_asgi.py``, ``LuciaASGIMiddleware``) ``visit.lucia`` is
``scope["lucia.auth"]``, an :class:`~lucia_wsgi.asgi.AsyncAuthRequest`, and
``aio.auth`` is ``auth.aio``: every store call runs in its worker threads
(SQLite blocks), and the page is awaited on the event loop, which never waits
for the database. Under WSGI (``demo_app.py``, ``LuciaMiddleware``) the same
names are the synchronous objects behind a coroutine's face
(:class:`InlineRequest`, :class:`Inline`): each awaited call runs on the
spot and never suspends, so :func:`run_now` runs a whole page on the
request's thread with one ``send``, no event loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from lucia_wsgi import AsyncAuth, Auth, AuthRequest, Session, SessionUser
    from lucia_wsgi.asgi import AsyncAuthRequest
    from lucia_wsgi.onetime import Throttle

__all__ = ["Aio", "Inline", "InlineRequest", "Visit", "run_now"]

P = ParamSpec("P")
T = TypeVar("T")


class InlineRequest:
    """A WSGI :class:`~lucia_wsgi.AuthRequest` with ``AsyncAuthRequest``'s face (what pages use of it)."""

    __slots__ = ("request",)

    def __init__(self, request: AuthRequest) -> None:
        self.request = request

    async def validate(self) -> Session | None:
        return self.request.validate()

    async def validate_user(self) -> SessionUser:
        return self.request.validate_user()

    async def sign_in(self, user_id: str) -> Session:
        return self.request.sign_in(user_id)

    async def throttle_client(self, throttle: Throttle) -> None:
        self.request.throttle_client(throttle)

    def set_session(self, session: Session | None) -> None:  # no store call: synchronous in both shells
        self.request.set_session(session)


class Inline:
    """A synchronous ``Auth``, ``TokenKind`` or ``CodeKind`` with the face of its ``.aio`` twin:
    each method returns a coroutine that calls the synchronous one when awaited, and never suspends."""

    __slots__ = ("_owner",)

    def __init__(self, owner: object) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, Any]]:
        method = getattr(self._owner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


class Aio:
    """The calls a page awaits that reach the database.

    With ``asgi`` they are the ``.aio`` twins (the store calls in
    ``auth.aio``'s worker threads) and :meth:`run` sends blocking work to
    those threads too; without, they are the synchronous objects,
    :class:`Inline`.
    """

    def __init__(self, auth: Auth, *, verify_tokens: Any, reset_tokens: Any, codes: Any, asgi: bool) -> None:
        self.asgi = asgi
        # Typed as what it is under ASGI; under WSGI an Inline of auth, with the same methods.
        self.auth: AsyncAuth = auth.aio if asgi else cast("AsyncAuth", Inline(auth))
        self.verify_tokens: Any = verify_tokens.aio if asgi else Inline(verify_tokens)
        self.reset_tokens: Any = reset_tokens.aio if asgi else Inline(reset_tokens)
        self.codes: Any = codes.aio if asgi else Inline(codes)
        self._executor: Executor | None = auth.aio.executor if asgi else None

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``function(...)``, blocking work: on the request's thread (WSGI) or a worker thread (ASGI)."""
        if self._executor is None:
            return function(*args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs))


class Visit:
    """One request, as a page sees it under either shell.

    ``environ`` is the WSGI environ, or under ASGI the one the middleware
    built from the scope (``visit.lucia.environ``): the method, path, query
    string, headers and client address, in the keys the pure functions read.
    ``body`` is the request body the shell read: ``None`` when it had no
    usable ``Content-Length`` or a longer one than a form may have
    (:func:`demo_forms.form_length`).
    """

    __slots__ = ("body", "environ", "lucia")

    def __init__(self, environ: Mapping[str, Any], body: bytes | None,
                 lucia: AsyncAuthRequest | InlineRequest) -> None:
        self.environ, self.body, self.lucia = environ, body, lucia

    @property
    def method(self) -> str:
        return str(self.environ.get("REQUEST_METHOD", ""))

    @property
    def path(self) -> str:
        """The path (raw: under WSGI, bytes that are not UTF-8 stay as latin-1 characters)."""
        return str(self.environ.get("PATH_INFO", ""))

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` without its parameters, as WebOb's ``request.content_type``."""
        return str(self.environ.get("CONTENT_TYPE") or "").split(";", 1)[0]


def run_now(page: Coroutine[Any, Any, T]) -> T:
    """Run a page to its end on this thread (WSGI): whatever it awaits is :class:`Inline`, done at once."""
    try:
        page.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    page.close()
    raise RuntimeError("a demo page awaited something that suspends: under WSGI every call must be Inline")
