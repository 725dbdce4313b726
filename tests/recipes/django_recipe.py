"""Django recipe: the middleware around Django's WSGI handler, views read ``request.META``.

This module is also the ``ROOT_URLCONF``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from lucia_wsgi import Auth, LuciaError, LuciaMiddleware


@require_GET
def me(request: HttpRequest) -> HttpResponse:
    session, user = request.META["lucia.auth"].validate_user()
    if session is None:
        return HttpResponse("sign in first", status=401)
    return HttpResponse(f"hello {user['username']}")


@require_POST
def login(request: HttpRequest) -> HttpResponse:
    lucia_request = request.META["lucia.auth"]
    auth = lucia_request.auth
    form = request.POST
    try:
        user = auth.authenticate_user("username", form.get("username", ""), form.get("password", ""))
    except LuciaError:
        return HttpResponse("invalid username or password", status=400)
    lucia_request.set_session(auth.create_session(user["user_id"]))
    return HttpResponse("signed in")


urlpatterns = [path("me", me), path("login", login)]


def make_app(auth: Auth) -> Any:
    """Django must be configured (``ROOT_URLCONF`` = this module) before this runs."""
    from django.core.handlers.wsgi import WSGIHandler

    return LuciaMiddleware(WSGIHandler(), auth)
