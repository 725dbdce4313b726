"""What the framework integrations share: signing in and out, and ``login_required``'s answers.

The Flask and Django integrations are thin: they find the request's
:class:`~lucia_wsgi.AuthRequest` and call these. The ``next=`` helpers are
pure string functions.

A ``next`` URL is where a login view sends the browser once signed in, so it
is an open-redirect hazard on both ends. :func:`next_path` builds it from the
request as a local path (a request for ``//evil.example/`` must not become
``next=//evil.example/``, which a browser reads as another host), and
:func:`is_safe_next` is the check a login view runs before redirecting to
whatever ``next`` the query string holds.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from webob.acceptparse import create_accept_header

if TYPE_CHECKING:
    from .auth import Auth
    from .session import Session
    from .wsgi import AuthRequest

__all__ = [
    "SIGNED_KEY",
    "Signed",
    "current_user",
    "is_safe_next",
    "is_signed_in",
    "login_url_with_next",
    "next_path",
    "sign_in",
    "sign_out",
    "unauthorized_answer",
]

# Path characters a URL may carry as they are (RFC 3986 pchar and "/").
_PATH_SAFE = "/!$&'()*+,;=:@~"
# The query string of a WSGI request is still percent-encoded: keep escapes.
_QUERY_SAFE = _PATH_SAFE + "%?[]"


#: Where :func:`sign_in`/:func:`sign_out` record, in the environ, what they made of the request.
SIGNED_KEY = "lucia.signed"


class Signed:
    """The request's session after :func:`sign_in` (or ``None`` after :func:`sign_out`).

    The user is read from the store only if asked for, once.
    """

    def __init__(self, auth: Auth, session: Session | None) -> None:
        self.auth = auth
        self.session = session

    @functools.cached_property
    def user(self) -> Any:
        return None if self.session is None else self.auth.get_user(self.session.user_id)


def _signed(request: AuthRequest) -> Signed | None:
    found = request.environ.get(SIGNED_KEY)
    return found if isinstance(found, Signed) else None


def current_user(request: AuthRequest) -> Any:
    """The request's user, or ``None``: its session's, or who :func:`sign_in` signed in since."""
    signed = _signed(request)
    return request.validate_user().user if signed is None else signed.user


def is_signed_in(request: AuthRequest) -> bool:
    """Whether the request has a session (its cookie's, or one :func:`sign_in` made since)."""
    signed = _signed(request)
    return request.validate() is not None if signed is None else signed.session is not None


def sign_in(request: AuthRequest, user_id: str) -> Session:
    """Create a session for ``user_id`` and queue its cookie on ``request``'s response."""
    session = request.auth.create_session(user_id)
    request.set_session(session)
    request.environ[SIGNED_KEY] = Signed(request.auth, session)
    return session


def sign_out(request: AuthRequest) -> bool:
    """End the session the request's cookie names (and one :func:`sign_in` made since); queue the blank cookie.

    Does what ``POST /api/auth/logout`` does: the id in the cookie is
    invalidated without validating (so renewing) it first, and the cookie is
    cleared only once that worked (a store failure propagates and leaves both
    alone). Returns whether the request carried a session cookie.

    Raises ``LuciaError("AUTH_INVALID_REQUEST")`` when an unsafe request fails
    the Origin check: a cross-site form must not sign the user out.
    """
    session_id = request.auth.validate_request_headers(request.environ)
    signed = _signed(request)
    doomed = [session_id] if session_id else []
    if signed is not None and signed.session is not None:
        doomed.append(signed.session.session_id)
    for doomed_id in doomed:
        request.auth.invalidate_session(doomed_id)
    if doomed:
        request.set_session(None)
    request.environ[SIGNED_KEY] = Signed(request.auth, None)
    return bool(session_id)


def unauthorized_answer(accept: str | None) -> tuple[str, bytes]:
    """``login_required``'s 401 body for a request's ``Accept`` header, as ``(content type, body)``.

    JSON (``{"message": "unauthorized"}``, the routes' error shape) unless the
    client ranks plain text or HTML above JSON (a browser does), then plain text.
    """
    offers = create_accept_header(accept or None).acceptable_offers(["application/json", "text/plain", "text/html"])
    if offers and offers[0][0] == "application/json":
        return "application/json", json.dumps({"message": "unauthorized"}).encode()
    return "text/plain; charset=utf-8", b"Unauthorized"


def next_path(path: str, query: str | bytes = "") -> str:
    """The local URL of a request, for ``next=``: its path and query, percent-encoded.

    ``path`` is the decoded path (``SCRIPT_NAME + PATH_INFO``), ``query`` the
    raw query string (bytes as received, or text). Leading slashes collapse
    to one, backslashes and control characters are escaped, so the result is
    always a path on this host (:func:`is_safe_next` holds for it).
    """
    local = "/" + quote(path, safe=_PATH_SAFE).lstrip("/")
    encoded = quote(query, safe=_QUERY_SAFE)
    return f"{local}?{encoded}" if encoded else local


def is_safe_next(url: str) -> bool:
    """Whether a ``next`` value is a path on this host, safe to redirect to.

    Only a URL starting with a single ``/`` qualifies: no scheme, no host, no
    ``//`` or ``/\\`` (browsers read both as another host), no backslash or
    control character anywhere (browsers drop tabs and newlines, so
    ``/\\t/evil.example`` is ``//evil.example``).
    """
    if not url.startswith("/") or url.startswith("//"):
        return False
    if any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return False
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc


def login_url_with_next(login_url: str, next_url: str, field: str = "next") -> str:
    """``login_url`` with ``field=next_url`` in its query (replacing any ``field`` there)."""
    parts = urlsplit(login_url)
    query = [(name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != field]
    query.append((field, next_url))
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))

