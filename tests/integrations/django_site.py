"""A small Django project on lucia_wsgi.django (this module is its ``ROOT_URLCONF``).

``auth`` is what ``settings.LUCIA_AUTH`` names; the tests put each test's
``Auth`` there before Django loads its middleware.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_POST

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.django import login_required, next_url, sign_in, sign_out

auth: Auth | None = None


@login_required
def me(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.lucia_user['username']}")


@login_required(login_url="/login-form", redirect_field_name="to")
def settings_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("settings")


@login_required
async def async_me(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async hello")


async def async_whoami(request: HttpRequest) -> JsonResponse:
    """What the Django tutorial (docs/tutorials/django.rst) tells async views to do."""
    result = await sync_to_async(request.lucia.validate_user)()
    return JsonResponse({"user": result.user})


def whoami(request: HttpRequest) -> JsonResponse:
    user = request.lucia_user
    return JsonResponse({"user": dict(user) if user else None})


def twice(request: HttpRequest) -> JsonResponse:
    """Reads the user three ways; the store is asked once."""
    first = request.lucia_user["username"]
    second = request.lucia_user["username"]
    third = request.lucia.validate_user().user["username"]
    return JsonResponse({"names": [first, second, third], "meta": request.META["lucia.auth"] is request.lucia})


def public(request: HttpRequest) -> HttpResponse:
    return HttpResponse("no session needed")


def login_form(request: HttpRequest) -> HttpResponse:
    return HttpResponse("the login form")


@require_POST
def login(request: HttpRequest) -> HttpResponse:
    lucia_auth = request.lucia.auth
    form = request.POST
    try:
        user = lucia_auth.authenticate_user("username", form.get("username", ""), form.get("password", ""))
    except LuciaError:
        return HttpResponse("invalid username or password", status=400)
    sign_in(request, user["user_id"])
    return HttpResponseRedirect(next_url(request))


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    return HttpResponse("signed out")


def probe(request: HttpRequest) -> JsonResponse:
    """sign_in then sign_out in one request: request.lucia_user follows."""
    seen: list[Any] = [bool(request.lucia_user)]
    sign_in(request, request.GET["user_id"])
    seen.append(request.lucia_user["username"])
    sign_out(request)
    seen.append(bool(request.lucia_user))
    return JsonResponse({"seen": seen})


def cached(request: HttpRequest) -> HttpResponse:
    """A page marked for shared caches; with ``?user_id=`` it signs that user in."""
    if "user_id" in request.GET:
        sign_in(request, request.GET["user_id"])
    response = HttpResponse(f"hello {request.lucia_user['username'] if request.lucia_user else 'nobody'}")
    response["Cache-Control"] = "public, max-age=60, s-maxage=600"
    return response


def own_cookie(request: HttpRequest) -> HttpResponse:
    """Reads the session (an idle one queues its renewal), then deletes the cookie itself."""
    response = HttpResponse(f"was {request.lucia_user['username'] if request.lucia_user else 'nobody'}")
    response.delete_cookie("auth_session")
    return response


urlpatterns = [
    path("api/auth/", include("lucia_wsgi.django.urls")),
    path("me", me),
    path("settings", settings_page),
    path("async-me", async_me),
    path("whoami", whoami),
    path("async-whoami", async_whoami),
    path("twice", twice),
    path("public", public),
    path("login-form", login_form, name="login-form"),
    path("login", login),
    path("logout", logout),
    path("probe", probe),
    path("cached", cached),
    path("own-cookie", own_cookie),
]
