"""Django views on ``lucia_wsgi.django``: ``request.lucia_user``, ``login_required``, ``sign_in``, ``sign_out``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from lucia_wsgi import LuciaError
from lucia_wsgi.django import login_required, sign_in, sign_out


@login_required
def me(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.lucia_user['username']}")  # type: ignore[attr-defined]


@require_POST
def login(request: HttpRequest) -> HttpResponse:
    form = request.POST
    auth = request.lucia.auth  # type: ignore[attr-defined]
    try:
        user = auth.authenticate_user("username", form.get("username", ""), form.get("password", ""))
    except LuciaError:
        return HttpResponse("invalid username or password", status=400)
    sign_in(request, user["user_id"])
    return HttpResponse("signed in")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    sign_out(request)  # a cross-site POST gets a 403 and ends nothing
    return HttpResponse("signed out")
