"""``lucia_wsgi.django.login_required``: only signed-in requests reach the view."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url

from .. import login
from .middleware import lucia_request

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest

__all__ = ["login_required"]

V = TypeVar("V", bound="Callable[..., Any]")


def _signed_in(request: HttpRequest) -> bool:
    return lucia_request(request).validate() is not None


def _refuse(request: HttpRequest, login_url: str | None, field: str) -> HttpResponse:
    if login_url is None and settings.is_overridden("LOGIN_URL"):
        login_url = settings.LOGIN_URL
    if not login_url:
        content_type, body = login.unauthorized_answer(request.headers.get("Accept"))
        return HttpResponse(body, status=401, content_type=content_type)
    target = login.next_path(request.path, request.META.get("QUERY_STRING", ""))
    return HttpResponseRedirect(login.login_url_with_next(str(resolve_url(login_url)), target, field))


@overload
def login_required(view: V, /) -> V: ...


@overload
def login_required(*, login_url: str | None = None, redirect_field_name: str = "next") -> Callable[[V], V]: ...


def login_required(
    view: V | None = None, /, *, login_url: str | None = None, redirect_field_name: str = "next"
) -> V | Callable[[V], V]:
    """Let only signed-in requests through; ``@login_required`` or ``@login_required(login_url=...)``.

    An anonymous request is redirected to ``login_url`` (a path, URL or URL
    name), else to ``settings.LOGIN_URL`` when your settings set it, with
    ``next=`` the local URL asked for; with neither it gets a 401 (JSON
    ``{"message": "unauthorized"}``, or plain text for a client preferring
    text or HTML). Django's default ``LOGIN_URL`` (``/accounts/login/``, the
    ``django.contrib.auth`` view) does not count. Works on async views too.
    """

    def decorate(view: V) -> V:
        if iscoroutinefunction(view):

            async def guarded_async(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if await sync_to_async(_signed_in)(request):
                    return await view(request, *args, **kwargs)
                return _refuse(request, login_url, redirect_field_name)

            return cast(V, markcoroutinefunction(functools.wraps(view)(guarded_async)))

        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if _signed_in(request):
                return view(request, *args, **kwargs)
            return _refuse(request, login_url, redirect_field_name)

        return cast(V, guarded)

    return decorate if view is None else decorate(view)
