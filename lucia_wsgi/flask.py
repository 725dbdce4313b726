"""Flask integration: ``Lucia(app, auth)``, ``current_user``, ``login_required``, ``sign_in``, ``sign_out``.

::

    from flask import Flask, redirect, request
    from lucia_wsgi import lucia
    from lucia_wsgi.adapters import SQLiteAdapter
    from lucia_wsgi.flask import Lucia, current_user, login_required, next_url, sign_in

    auth = lucia(adapter=SQLiteAdapter("app.db"), env="PROD")
    app = Flask(__name__)
    Lucia(app, auth, login_view="login_form")  # or Lucia(auth).init_app(app) in a factory

    @app.get("/me")
    @login_required
    def me():
        return f"hello {current_user['username']}"

    @app.get("/login")
    def login_form():
        return '<form method="post">...</form>'

    @app.post("/login")
    def login():
        user = auth.authenticate_user("username", request.form["username"], request.form["password"])
        sign_in(user["user_id"])
        return redirect(next_url())

``Lucia`` wraps ``app.wsgi_app`` in :class:`~lucia_wsgi.LuciaMiddleware`, so
the ``/api/auth`` routes answer beside the app and the cookies a request
queued reach its response. Everything here reads the request's
:class:`~lucia_wsgi.AuthRequest`, which validates the session once per request.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

try:
    from flask import current_app, redirect, request, url_for
except ImportError as error:  # tests/integrations/test_imports.py hides Flask to check this
    raise ImportError("lucia_wsgi.flask needs Flask: pip install 'lucia_wsgi[flask]'") from error
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.local import LocalProxy

from . import login
from .auth import Auth
from .errors import LuciaError
from .wsgi import ENVIRON_KEY, AuthRequest, LuciaMiddleware, check_prefix

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask

    from .session import Session

__all__ = ["Lucia", "current_user", "login_required", "next_url", "sign_in", "sign_out"]

F = TypeVar("F", bound="Callable[..., Any]")

#: The key of ``app.extensions`` holding the app's :class:`Lucia`.
EXTENSION_KEY = "lucia"


class Lucia:
    """Lucia for Flask apps: ``Lucia(app, auth)``, or ``Lucia(auth)`` then :meth:`init_app`.

    One object may serve several apps (each ``init_app`` wraps that app).

    :param login_view: where :func:`login_required` sends anonymous requests,
        with ``next=`` the page they asked for: an endpoint (``"auth.login"``)
        or a path (``"/login"``). ``None`` (the default) answers 401 instead.
        Settable later, as Flask-Login's ``login_manager.login_view``.
    :param api_prefix: where the ``/api/auth`` routes answer.
    """

    @overload
    def __init__(self, auth: Auth, /, *, login_view: str | None = None, api_prefix: str = "/api/auth") -> None: ...

    @overload
    def __init__(
        self, app: Flask, auth: Auth, /, *, login_view: str | None = None, api_prefix: str = "/api/auth"
    ) -> None: ...

    def __init__(self, *args: Any, login_view: str | None = None, api_prefix: str = "/api/auth") -> None:
        if len(args) not in (1, 2):
            raise TypeError(f"Lucia(auth) or Lucia(app, auth), not {len(args)} positional arguments")
        auth = args[-1]
        if not isinstance(auth, Auth):
            raise TypeError(f"Lucia needs the Auth that lucia(...) returns, not {type(auth).__name__}")
        self.auth = auth
        self.login_view = login_view
        self.api_prefix = check_prefix(api_prefix)
        if len(args) == 2:
            self.init_app(args[0])

    def __repr__(self) -> str:
        return f"<Lucia {self.auth!r} login_view={self.login_view!r}>"

    def init_app(self, app: Flask) -> None:
        """Wrap ``app.wsgi_app`` with the middleware and register ``app.extensions["lucia"]``.

        Also makes ``current_user`` available in templates.
        """
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(f"Lucia is already set up on app {app.name!r}")
        app.wsgi_app = LuciaMiddleware(app.wsgi_app, self.auth, api_prefix=self.api_prefix)  # type: ignore[method-assign]
        app.extensions[EXTENSION_KEY] = self
        app.context_processor(_template_context)


def _extension() -> Lucia:
    extension = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(extension, Lucia):
        raise RuntimeError("Lucia is not set up on this app: Lucia(app, auth) or Lucia(auth).init_app(app)")
    return extension


def _auth_request() -> AuthRequest:
    _extension()
    found = request.environ.get(ENVIRON_KEY)
    if not isinstance(found, AuthRequest):
        # app.test_request_context() builds a request without calling wsgi_app.
        raise RuntimeError("this request did not go through app.wsgi_app, so Lucia never saw it")
    return found


def _load_user() -> Any:
    return _auth_request().validate_user().user


#: The current request's user (what ``transform_user_data`` returns), or ``None``.
#:
#: A proxy, as Flask-Login's: test it with ``if current_user:`` (``current_user
#: is None`` is always false). The session is validated (and renewed if idle)
#: once per request; after :func:`sign_in` or :func:`sign_out` it is the new
#: user, or ``None``.
current_user: Any = LocalProxy(_load_user)


def _template_context() -> dict[str, Any]:
    return {"current_user": current_user}


def _refuse() -> Any:
    extension = _extension()
    if extension.login_view is None:
        content_type, body = login.unauthorized_answer(request.headers.get("Accept"))
        raise Unauthorized(response=current_app.response_class(body, 401, content_type=content_type))
    view = extension.login_view
    base = view if view.startswith("/") else url_for(view)
    target = login.next_path(request.script_root + request.path, request.query_string)
    return redirect(login.login_url_with_next(base, target))


def login_required(view: F) -> F:
    """Let only signed-in requests through to ``view``.

    Anonymous requests get a 401 (JSON ``{"message": "unauthorized"}``, or
    plain text for a client preferring text or HTML; an ``errorhandler(401)``
    replaces it), or, when :class:`Lucia` has a ``login_view``, a redirect to
    it with ``next=`` the local URL asked for. Async views work as in Flask.
    """

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if _auth_request().validate() is None:
            return _refuse()
        return current_app.ensure_sync(view)(*args, **kwargs)

    return cast(F, guarded)


def sign_in(user_id: str) -> Session:
    """Create a session for ``user_id`` and set its cookie on this response.

    ``current_user`` is that user for the rest of the request. With
    ``lucia(device_details=True)`` the session records the request's
    ``User-Agent`` and client address.
    """
    return _auth_request().sign_in(user_id)


def sign_out() -> None:
    """End the current session (as ``POST /api/auth/logout`` does) and clear its cookie.

    The cookie's session (its device: renewed ids too) is invalidated in the
    store, and ``current_user`` is ``None`` for the rest of the request. An
    unsafe request failing Lucia's Origin check is refused with a 403 (a
    cross-site form must not sign the user out); a store failure propagates
    and leaves the session as it was.
    """
    auth_request = _auth_request()
    try:
        auth_request.auth.validate_request_headers(auth_request.environ)
    except LuciaError as error:
        raise Forbidden("the request's Origin does not match this site") from error
    auth_request.sign_out()


def next_url(default: str = "/") -> str:
    """The request's ``next`` parameter (query or form) if it is a local path, else ``default``.

    Redirect there after signing in: ``redirect(next_url())``. Anything
    pointing off-site (``//evil.example``, ``https://...``, ``/\\evil``) gives
    ``default``.
    """
    value = request.values.get("next", "")
    return value if login.is_safe_next(value) else default
