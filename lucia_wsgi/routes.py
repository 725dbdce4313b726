"""``/api/auth/*``: Lucia's ``handleApiRoutes``, for any shell (JSON answers).

=======  ======================  =============================================
method   path                    answer
=======  ======================  =============================================
GET      ``{prefix}/user``       ``{"user": <user or null>}`` (renews idle sessions)
POST     ``{prefix}/logout``     invalidates the session, clears cookies, ``{}``
GET      ``{prefix}/client.js``  ES module with ``getUser()`` and ``signOut()``
=======  ======================  =============================================

Paths match exactly; anything else under the prefix is a 404, a known path
with another method a 405 with ``Allow``. A store failure is a 500
``{"message": "unknown"}``: the error is logged, never sent, and no cookie
changes. An answer is a :class:`RouteAnswer` computed by a flow, which the
WSGI and ASGI shells run and send.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, NamedTuple
from uuid import UUID

from .errors import LuciaError
from .request import RequestAuth

if TYPE_CHECKING:
    from .auth import Auth
    from .flow import Flow

__all__ = ["ApiRoutes", "RouteAnswer", "check_prefix", "to_json"]

logger = logging.getLogger(__name__)

_CLIENT_JS = resources.files(__package__).joinpath("static/client.js").read_bytes()
_CLIENT_JS_ETAG = '"' + hashlib.sha256(_CLIENT_JS).hexdigest()[:32] + '"'


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


def check_prefix(prefix: str) -> str:
    """Validate a URL prefix such as ``/api/auth``: leading ``/``, no trailing ``/``."""
    if not isinstance(prefix, str) or not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix must start with '/' and not end with it, not {prefix!r}")
    if any(c in prefix for c in "?#") or any(c.isspace() for c in prefix):
        raise ValueError(f"prefix must be a plain path, not {prefix!r}")
    return prefix


class RouteAnswer(NamedTuple):
    """A route's whole answer; the shell adds the request's session headers."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def json_answer(value: object, status: int = 200) -> RouteAnswer:
    body = to_json(value)
    return RouteAnswer(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                ("Cache-Control", "no-store")], body)


def _message(message: str, status: int) -> RouteAnswer:
    return json_answer({"message": message}, status)


Handler = Callable[[RequestAuth], "Flow[RouteAnswer]"]


class ApiRoutes:
    """The auth routes under ``prefix``: which path is which, and how each answers."""

    def __init__(self, auth: Auth, *, prefix: str = "/api/auth") -> None:
        self.auth = auth
        self.prefix = check_prefix(prefix)
        self._under = prefix + "/"
        self.routes: dict[str, tuple[tuple[str, ...], Handler]] = {
            "/user": (("GET", "HEAD"), self._user),
            "/logout": (("POST",), self._logout),
            "/client.js": (("GET", "HEAD"), self._client_js),
        }

    def __repr__(self) -> str:
        return f"<ApiRoutes prefix={self.prefix!r}>"

    def owns(self, path: str) -> bool:
        """Whether ``path`` is under the prefix (equal to it, or below prefix + ``/``)."""
        return path == self.prefix or path.startswith(self._under)

    def route_of(self, path: str) -> str:
        """The route part of a full path under the prefix (``/user``), ``""`` for another path."""
        return path[len(self.prefix):] if path.startswith(self._under) else ""

    def answer(self, request: RequestAuth, route: str, method: str) -> Flow[RouteAnswer]:
        """The answer to ``method route`` (``route`` relative to the prefix, e.g. ``/user``)."""
        found = self.routes.get(route)
        if found is None:
            return _message("not found", 404)
        methods, handler = found
        if method not in methods:
            answer = _message("method not allowed", 405)
            answer.headers.append(("Allow", ", ".join(methods)))
            return answer
        try:
            answer = yield from handler(request)
        except LuciaError as error:
            return _message(error.code, error.status_hint)
        # The one catch-all of the package: whatever a store raises (driver
        # errors have no common base class) becomes a JSON 500 here, logged
        # with its traceback but never sent to the client.
        except Exception:
            logger.exception("lucia_wsgi: %s %s%s failed", method, self.prefix, route)
            return _message("unknown", 500)
        if method == "HEAD":
            return answer._replace(body=b"")
        return answer

    def _user(self, request: RequestAuth) -> Flow[RouteAnswer]:
        result = yield from request._validate_flow()
        return json_answer({"user": result.user})

    def _logout(self, request: RequestAuth) -> Flow[RouteAnswer]:
        try:
            session_id = self.auth.validate_request_headers(request.environ)
        except LuciaError as error:
            return _message(error.code, 403)
        if session_id:
            # Whatever id the cookie holds goes, without validating (and so
            # renewing) it first; the cookies are cleared only once it is gone.
            yield from request._sign_out_flow()
        return json_answer({})

    def _client_js(self, request: RequestAuth) -> Flow[RouteAnswer]:
        headers = [("ETag", _CLIENT_JS_ETAG), ("Cache-Control", "public, max-age=3600"),
                   ("X-Content-Type-Options", "nosniff")]
        if _matches(request.environ.get("HTTP_IF_NONE_MATCH"), _CLIENT_JS_ETAG):
            return RouteAnswer(304, headers, b"")  # no content, so no Content-Type
        yield from ()  # no store work: a flow all the same
        return RouteAnswer(200, [("Content-Type", "text/javascript; charset=utf-8"),
                                 ("Content-Length", str(len(_CLIENT_JS))), *headers], _CLIENT_JS)


def _matches(if_none_match: object, etag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` with our ETag."""
    if not isinstance(if_none_match, str):
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
