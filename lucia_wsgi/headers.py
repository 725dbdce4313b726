"""Pure: the response headers a request's session adds to the application's own.

Both shells (WSGI and ASGI) call :func:`session_headers` on the headers the
application started its response with; the rules:

* one ``Set-Cookie`` per queued cookie, except for a cookie name the
  application set itself (its own ``auth.create_session_cookies(...)`` wins
  over what ``validate()`` queued, or a fresh log-in would be undone);
* ``Vary: Cookie`` when the session was read, unless already there;
* a response that sets a session cookie is never cacheable by shared caches:
  ``Cache-Control`` becomes ``private`` (``public`` and ``s-maxage`` are
  dropped) unless it is already ``private`` or ``no-store``, and is added when
  missing, so a CDN can never hand one user's session to another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .cookies import Cookie

__all__ = ["private_cache_control", "session_headers", "set_cookie_names"]

Headers = list[tuple[str, str]]
_VARY = ("Vary", "Cookie")


def set_cookie_names(headers: Iterable[tuple[str, str]]) -> set[str]:
    """The names of the cookies ``Set-Cookie`` headers in ``headers`` set."""
    return {value.partition("=")[0].strip() for name, value in headers if name.lower() == "set-cookie"}


def _varies_on_cookie(headers: Iterable[tuple[str, str]]) -> bool:
    for name, value in headers:
        if name.lower() == "vary":
            tokens = {token.strip().lower() for token in value.split(",")}
            if "cookie" in tokens or "*" in tokens:
                return True
    return False


def private_cache_control(value: str | None) -> str:
    """``value`` as a ``Cache-Control`` no shared cache may store."""
    if value is None:
        return "private"
    directives = [part.strip() for part in value.split(",") if part.strip()]
    names = {part.partition("=")[0].strip().lower() for part in directives}
    if "private" in names or "no-store" in names:
        return value
    kept = [part for part in directives if part.partition("=")[0].strip().lower() not in ("public", "s-maxage")]
    return ", ".join(["private", *kept])


def session_headers(headers: Sequence[tuple[str, str]], cookies: Sequence[Cookie], *, vary: bool) -> Headers:
    """``headers`` (a new list) with the session's cookies and ``Vary``, by the rules above."""
    result = list(headers)
    if cookies:
        own = set_cookie_names(headers)
        added = [("Set-Cookie", cookie.serialize()) for cookie in cookies if cookie.name not in own]
        if added:
            cache = [i for i, (name, _) in enumerate(result) if name.lower() == "cache-control"]
            if not cache:
                result.append(("Cache-Control", "private"))
            for i in cache:
                result[i] = (result[i][0], private_cache_control(result[i][1]))
            result += added
    if vary and not _varies_on_cookie(headers):
        result.append(_VARY)
    return result
