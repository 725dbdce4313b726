"""``/api/auth/*``: Lucia's ``handleApiRoutes`` as a WSGI application (JSON, WebOb).

=======  ====================  =============================================
method   path                  answer
=======  ====================  =============================================
GET      ``{prefix}/user``     ``{"user": <user or null>}`` (renews idle sessions)
POST     ``{prefix}/logout``   invalidates the session, clears cookies, ``{}``
GET      ``{prefix}/client.js``  ES module with ``getUser()`` and ``signOut()``
=======  ====================  =============================================

Paths match exactly; anything else under the prefix is a 404, a known path
with another method a 405 with ``Allow``. A store failure is a 500
``{"message": "unknown"}``: the error is logged, never sent, and no cookie
changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING
from uuid import UUID

from webob import Response

from .auth import Auth
from .errors import LuciaError
from .wsgi import AuthRequest, check_prefix, cookie_start_response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ApiRoutes", "JsonResponse", "handle_api_routes", "to_json"]

logger = logging.getLogger(__name__)

_CLIENT_JS = resources.files(__package__).joinpath("static/client.js").read_bytes()
_CLIENT_JS_ETAG = hashlib.sha256(_CLIENT_JS).hexdigest()[:32]


def _jsonable(value: object) -> object:
    """``json.dumps`` fallback for what ``transform_user_data`` may return."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return {name: item for name, item in attributes.items() if not name.startswith("_")}
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_ENCODER = json.JSONEncoder(default=_jsonable, ensure_ascii=False, separators=(",", ":"))


def to_json(value: object) -> bytes:
    """JSON for a route body: dataclasses as objects, datetimes in ISO 8601."""
    return _ENCODER.encode(value).encode("utf-8")


class JsonResponse:
    """A JSON answer as a tiny WSGI application (no WebOb on the hot ``/user`` path)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, value: object, status: int = 200) -> None:
        self.body = to_json(value)
        self.status = f"{status} {HTTPStatus(status).phrase}"
        self.headers = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(self.body))),
            ("Cache-Control", "no-store"),
        ]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        start_response(self.status, self.headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [self.body]


def _message(message: str, status: int) -> JsonResponse:
    return JsonResponse({"message": message}, status)


App = Callable[["WSGIEnvironment", "StartResponse"], Iterable[bytes]]
Handler = Callable[[AuthRequest, "WSGIEnvironment"], App]


class ApiRoutes:
    """The WSGI application :func:`handle_api_routes` returns."""

    def __init__(self, auth: Auth, *, prefix: str = "/api/auth") -> None:
        self.auth = auth
        self.prefix = check_prefix(prefix)
        self._routes: dict[str, tuple[tuple[str, ...], Handler]] = {
            f"{prefix}/user": (("GET", "HEAD"), self._user),
            f"{prefix}/logout": (("POST",), self._logout),
            f"{prefix}/client.js": (("GET", "HEAD"), self._client_js),
        }

    def __repr__(self) -> str:
        return f"<ApiRoutes prefix={self.prefix!r}>"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # Standalone, the routes answer at their app-relative path, or, when
        # mounted by a dispatcher (SCRIPT_NAME = "/api/auth"), at the full path.
        request = AuthRequest(self.auth, environ)
        path = environ.get("PATH_INFO", "")
        if path not in self._routes:
            mounted = environ.get("SCRIPT_NAME", "") + path
            path = mounted if mounted in self._routes else path
        return self.respond(request, environ, cookie_start_response(request, start_response), path=path)

    def respond(
        self, request: AuthRequest, environ: WSGIEnvironment, start_response: StartResponse, *, path: str | None = None
    ) -> Iterable[bytes]:
        """Answer with ``request`` as the request's :class:`AuthRequest`.

        ``start_response`` must already add ``request``'s queued cookies
        (the middleware's does); ``path`` defaults to ``PATH_INFO``.
        """
        if path is None:
            path = environ.get("PATH_INFO", "")
        return self._dispatch(request, environ, path)(environ, start_response)

    def _dispatch(self, request: AuthRequest, environ: WSGIEnvironment, path: str) -> App:
        route = self._routes.get(path)
        if route is None:
            return _message("not found", 404)
        methods, handler = route
        if environ.get("REQUEST_METHOD") not in methods:
            response = _message("method not allowed", 405)
            response.headers.append(("Allow", ", ".join(methods)))
            return response
        try:
            return handler(request, environ)
        except LuciaError as error:
            return _message(error.code, error.status_hint)
        # The one catch-all of the package: whatever a store raises (driver
        # errors have no common base class) becomes a JSON 500 here, logged
        # with its traceback but never sent to the client.
        except Exception:
            logger.exception("lucia_wsgi: %s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            return _message("unknown", 500)

    def _user(self, request: AuthRequest, environ: WSGIEnvironment) -> App:
        return JsonResponse({"user": request.validate_user().user})

    def _logout(self, request: AuthRequest, environ: WSGIEnvironment) -> App:
        try:
            session_id = self.auth.validate_request_headers(environ)
        except LuciaError as error:
            return _message(error.code, 403)
        if session_id:
            # Whatever id the cookie holds goes, without validating (and so
            # renewing) it first; the cookies are cleared only once it is gone.
            self.auth.invalidate_session(session_id)
            request.set_session(None)
        return JsonResponse({})

    def _client_js(self, request: AuthRequest, environ: WSGIEnvironment) -> Response:
        response = Response(body=_CLIENT_JS, content_type="text/javascript", charset="utf-8",
                            conditional_response=True)
        response.etag = _CLIENT_JS_ETAG
        response.cache_control = "public, max-age=3600"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def handle_api_routes(auth: Auth, *, prefix: str = "/api/auth") -> ApiRoutes:
    """The auth routes under ``prefix`` as a WSGI application (what the middleware mounts).

    Standalone, it builds its own :class:`AuthRequest` and sets its cookies.
    """
    return ApiRoutes(auth, prefix=prefix)
