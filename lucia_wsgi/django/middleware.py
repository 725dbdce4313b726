"""``lucia_wsgi.django.LuciaMiddleware``: ``request.lucia`` and ``request.lucia_user`` for Django views.

Cookies: Django writes ``Set-Cookie`` headers only from ``response.cookies``,
a :class:`~http.cookies.SimpleCookie` keyed by cookie name, so it holds one
cookie per name, while Lucia may queue several cookies of the same name (one
per ``session_cookie`` entry: other paths or domains). Each queued cookie
goes in as a :class:`LuciaMorsel` under its own key (the first under the
plain name, so ``response.cookies["auth_session"]`` finds it; later ones
under ``"auth_session; Domain=...; Path=..."``). Django's WSGI and ASGI
handlers and its test client write every morsel with its own name, so each
cookie is its own ``Set-Cookie`` header, byte for byte what the WSGI
middleware sends.
"""

from __future__ import annotations

from http.cookies import Morsel
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string

from ..auth import Auth
from ..cookies import http_date
from ..headers import private_cache_control, set_cookie_names
from ..wsgi import ENVIRON_KEY, AuthRequest

if TYPE_CHECKING:
    from collections.abc import Callable, Container

    from django.http import HttpRequest, HttpResponseBase

    from ..cookies import Cookie

__all__ = ["LuciaMiddleware", "LuciaMorsel", "get_auth", "lazy_user", "lucia_request", "set_cookies"]


def get_auth() -> Auth:
    """The :class:`~lucia_wsgi.Auth` that ``settings.LUCIA_AUTH`` names (a dotted path)."""
    path = getattr(settings, "LUCIA_AUTH", None)
    if not isinstance(path, str) or not path:
        raise ImproperlyConfigured(
            "settings.LUCIA_AUTH must be the dotted path of your Auth, like 'myproject.auth.auth'"
        )
    try:
        auth = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(f"settings.LUCIA_AUTH: cannot import {path!r} ({error})") from error
    if not isinstance(auth, Auth):
        raise ImproperlyConfigured(
            f"settings.LUCIA_AUTH: {path!r} is a {type(auth).__name__}, not the Auth lucia() returns"
        )
    return auth


def lazy_user(request: AuthRequest) -> Any:
    """``request.lucia_user``: the user or ``None``, looked up on first use."""
    return SimpleLazyObject(lambda: request.validate_user().user)


def lucia_request(request: HttpRequest) -> AuthRequest:
    """``request.lucia``, or a clear error when the middleware is not installed."""
    found = getattr(request, "lucia", None)
    if not isinstance(found, AuthRequest):
        raise ImproperlyConfigured("add 'lucia_wsgi.django.LuciaMiddleware' to settings.MIDDLEWARE")
    return found


class LuciaMorsel(Morsel[str]):
    """One Lucia cookie in ``response.cookies``, written as :meth:`lucia_wsgi.Cookie.serialize` writes it.

    Its attributes (``morsel["path"]``, ``["expires"]``...) are filled too, for
    code that inspects ``response.cookies``.
    """

    def __init__(self, cookie: Cookie) -> None:
        super().__init__()
        self._header = cookie.serialize()
        self.set(cookie.name, cookie.value, self._header.split(";", 1)[0].partition("=")[2])
        self["expires"] = http_date(cookie.expires)
        self["path"] = cookie.path or ""
        self["domain"] = cookie.domain or ""
        self["secure"] = cookie.secure
        self["httponly"] = cookie.http_only
        self["samesite"] = cookie.same_site or ""

    def OutputString(self, attrs: Container[str] | None = None) -> str:  # Morsel's method name
        # A copied or unpickled morsel loses _header: it is then written from
        # its attributes, in Python's spelling, which means the same cookie.
        header = getattr(self, "_header", None)
        return header if header is not None and attrs is None else super().OutputString(attrs)

    def output(self, attrs: Container[str] | None = None, header: str = "Set-Cookie:") -> str:
        # Django asks for output(header="") and uses the result as the header
        # value; Python's Morsel puts a space before it.
        value = self.OutputString(attrs)
        return f"{header} {value}" if header else value


def set_cookies(request: AuthRequest, response: HttpResponseBase) -> None:
    """Add ``request``'s session to a Django response, by the rules of :mod:`lucia_wsgi.headers`.

    The queued cookies go in, except those of a name the view set itself (its
    own cookie wins); a response that gets one is made ``Cache-Control:
    private``; ``Vary: Cookie`` when the session was read.
    """
    own = {morsel.key for morsel in response.cookies.values()} | set_cookie_names(response.items())
    cookies = [cookie for cookie in request.queued_cookies if cookie.name not in own]
    for index, cookie in enumerate(cookies):
        key = cookie.name if index == 0 else f"{cookie.name}; Domain={cookie.domain or ''}; Path={cookie.path or ''}"
        response.cookies[key] = LuciaMorsel(cookie)
    if cookies:
        response["Cache-Control"] = private_cache_control(response.get("Cache-Control"))
    if request.session_read:
        patch_vary_headers(response, ("Cookie",))
    # Cookies set from now on (a streaming body reading the session) cannot
    # reach the browser: AuthRequest then reads the session without renewing it.
    request.headers_sent = True


class LuciaMiddleware:
    """Django middleware: ``request.lucia`` (an :class:`~lucia_wsgi.AuthRequest`) and ``request.lucia_user``.

    ``settings.LUCIA_AUTH`` (the dotted path of your :class:`~lucia_wsgi.Auth`)
    is imported once, when Django loads its middleware. ``request.lucia`` is
    built on ``request.META`` (the WSGI environ; the same keys under Django's
    ASGI handler) and is also at ``request.META["lucia.auth"]``.
    ``request.lucia_user`` is the user or ``None``, read on first use (a lazy
    object as ``request.user`` is: test it with ``if request.lucia_user:``).
    The session's headers land on the response (see :func:`~lucia_wsgi.django.middleware.set_cookies`).

    A request that already carries an ``AuthRequest`` (the project's WSGI
    application is also wrapped in the WSGI :class:`~lucia_wsgi.LuciaMiddleware`)
    keeps it, and its cookies are left to that middleware.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.auth = get_auth()

    def __repr__(self) -> str:
        return f"<lucia_wsgi.django.LuciaMiddleware {self.auth!r}>"

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        meta: dict[str, Any] = request.META
        found = meta.get(ENVIRON_KEY)
        if isinstance(found, AuthRequest):
            auth_request, owned = found, False
        else:
            scope = getattr(request, "scope", None)
            if isinstance(scope, dict) and "wsgi.url_scheme" not in meta:
                # Under ASGI the scheme is in the scope, not in META: Lucia's
                # CSRF check builds the request's origin from it.
                meta["wsgi.url_scheme"] = scope.get("scheme") or "http"
            auth_request = meta[ENVIRON_KEY] = AuthRequest(self.auth, meta)
            owned = True
        request.lucia = auth_request
        request.lucia_user = lazy_user(auth_request)
        response = self.get_response(request)
        if owned:
            set_cookies(auth_request, response)
        return response
