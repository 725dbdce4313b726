"""Django ASGI recipe: the middleware around ``get_asgi_application()``, async views read ``request.scope``.

This module is also the ``ROOT_URLCONF``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import path

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.asgi import LuciaASGIMiddleware


async def me(request: HttpRequest) -> HttpResponse:
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    session, user = await request.scope["lucia.auth"].validate_user()  # type: ignore[attr-defined]
    if session is None:
        return HttpResponse("sign in first", status=401)
    return HttpResponse(f"hello {user['username']}")


async def login(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    lucia_request = request.scope["lucia.auth"]  # type: ignore[attr-defined]
    form = request.POST
    try:
        user = await lucia_request.auth.aio.authenticate_user("username", form.get("username", ""),
                                                              form.get("password", ""))
    except LuciaError:
        return HttpResponse("invalid username or password", status=400)
    await lucia_request.sign_in(user["user_id"])
    return HttpResponse("signed in")


urlpatterns = [path("me", me), path("login", login)]


def make_app(auth: Auth) -> Any:
    """Django must be configured (``ROOT_URLCONF`` = this module) before this runs."""
    from django.core.asgi import get_asgi_application

    return LuciaASGIMiddleware(get_asgi_application(), auth)
