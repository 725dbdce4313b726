"""Pure: what a login view needs in any framework: a safe ``next=`` URL and the 401 body.

Signing in and out is :class:`~lucia_wsgi.AuthRequest`'s (``sign_in``,
``sign_out``); the Flask and Django integrations call it, and these.

A ``next`` URL is where a login view sends the browser once signed in, so it
is an open-redirect hazard on both ends. :func:`next_path` builds it from the
request as a local path (a request for ``//evil.example/`` must not become
``next=//evil.example/``, which a browser reads as another host), and
:func:`is_safe_next` is the check a login view runs before redirecting to
whatever ``next`` the query string holds.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from webob.acceptparse import create_accept_header

from .routes import to_json

__all__ = ["is_safe_next", "login_url_with_next", "next_path", "unauthorized_answer"]

# Path characters a URL may carry as they are (RFC 3986 pchar and "/").
_PATH_SAFE = "/!$&'()*+,;=:@~"
# The query string of a WSGI request is still percent-encoded: keep escapes.
_QUERY_SAFE = _PATH_SAFE + "%?[]"


def unauthorized_answer(accept: str | None) -> tuple[str, bytes]:
    """``login_required``'s 401 body for a request's ``Accept`` header, as ``(content type, body)``.

    JSON (``{"message": "unauthorized"}``, the routes' error shape) unless the
    client ranks plain text or HTML above JSON (a browser does), then plain text.
    """
    offers = create_accept_header(accept or None).acceptable_offers(["application/json", "text/plain", "text/html"])
    if offers and offers[0][0] == "application/json":
        return "application/json", to_json({"message": "unauthorized"})
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

