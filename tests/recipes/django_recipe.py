"""Django recipe: ``lucia_wsgi.django`` (the README's Django example).

This module is the ``ROOT_URLCONF``, and ``auth`` is what
``settings.LUCIA_AUTH`` names (the test puts its ``Auth`` there).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_POST

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.django import login_required, sign_in, sign_out

auth: Auth | None = None


@login_required
def me(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.lucia_user['username']}")


@require_POST
def login(request: HttpRequest) -> HttpResponse:
    form = request.POST
    try:
        user = request.lucia.auth.authenticate_user("username", form.get("username", ""), form.get("password", ""))
    except LuciaError:
        return HttpResponse("invalid username or password", status=400)
    sign_in(request, user["user_id"])
    return HttpResponse("signed in")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    return HttpResponse("signed out")


urlpatterns = [
    path("api/auth/", include("lucia_wsgi.django.urls")),
    path("me", me),
    path("login", login),
    path("logout", logout),
]


def make_app(lucia_auth: Auth) -> Any:
    """Django must be configured (``ROOT_URLCONF`` = this module, ``LUCIA_AUTH`` = its ``auth``) first."""
    from django.core.handlers.wsgi import WSGIHandler

    global auth
    auth = lucia_auth
    return WSGIHandler()
