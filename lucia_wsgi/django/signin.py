"""Signing in and out from Django views, and the ``next`` a login view may redirect to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

from .. import login
from ..errors import LuciaError
from .middleware import lazy_user, lucia_request

if TYPE_CHECKING:
    from django.http import HttpRequest

    from ..session import Session

__all__ = ["next_url", "sign_in", "sign_out"]


def sign_in(request: HttpRequest, user_id: str) -> Session:
    """Create a session for ``user_id`` and set its cookie on the response.

    ``request.lucia_user`` is that user for the rest of the request. With
    ``lucia(device_details=True)`` the session records the request's
    ``User-Agent`` and client address.
    """
    auth_request = lucia_request(request)
    session = auth_request.sign_in(user_id)
    request.lucia_user = lazy_user(auth_request)
    return session


def sign_out(request: HttpRequest) -> None:
    """End the current session (as ``POST /api/auth/logout`` does) and clear its cookie.

    The cookie's session (its device: renewed ids too) is invalidated;
    ``request.lucia_user`` is ``None`` for the rest of the request. An unsafe
    request failing Lucia's Origin check raises ``PermissionDenied`` (a 403:
    a cross-site form must not sign the user out); a store failure propagates
    and leaves the session as it was.
    """
    auth_request = lucia_request(request)
    try:
        auth_request.auth.validate_request_headers(auth_request.environ)
    except LuciaError as error:
        raise PermissionDenied("the request's Origin does not match this site") from error
    auth_request.sign_out()
    request.lucia_user = lazy_user(auth_request)


def next_url(request: HttpRequest, default: str = "/", field: str = "next") -> str:
    """The request's ``next`` (form, else query) if it is a local path, else ``default``.

    Redirect there after signing in. Anything pointing off-site
    (``//evil.example``, ``https://...``, ``/\\evil``) gives ``default``.
    """
    value = request.POST.get(field) or request.GET.get(field) or ""
    return value if login.is_safe_next(value) else default
