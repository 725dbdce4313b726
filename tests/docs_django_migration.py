"""Run by tests/test_docs.py::test_django_migration in a process of its own (Django is configured once per
process): docs/examples/migrate_django.py on a Django project with django.contrib.auth, in memory."""

from __future__ import annotations

import django
import migrate_django_settings
from django.conf import settings

settings.configure(
    DEBUG=False, SECRET_KEY="docs-test-only-" + "k" * 40, USE_TZ=True, ALLOWED_HOSTS=["testserver", "localhost"],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],  # fast; any of Django's hashers works
    MIDDLEWARE=migrate_django_settings.MIDDLEWARE, LUCIA_AUTH=migrate_django_settings.LUCIA_AUTH,
    ROOT_URLCONF=__name__,
)
django.setup()

import migrate_django  # noqa: E402
from django.contrib.auth import login as django_login  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

from lucia_wsgi.django import login_required, sign_out  # noqa: E402


@csrf_exempt
def old_login(request: HttpRequest) -> HttpResponse:
    django_login(request, User.objects.get(username="alice"))  # the way the project signed in before
    return HttpResponse("ok")


@login_required
def me(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello {request.lucia_user['username']}")  # type: ignore[attr-defined]


@csrf_exempt
def new_login(request: HttpRequest) -> HttpResponse:
    form = request.POST
    user = request.lucia.auth.authenticate_user("username", form["username"], form["password"])  # type: ignore[attr-defined]
    migrate_django.rehash_on_login(user["user_id"], form["password"])
    return HttpResponse("signed in")


@csrf_exempt
def logout(request: HttpRequest) -> HttpResponse:
    sign_out(request)
    return HttpResponse("signed out")


urlpatterns = [path("old-login", old_login), path("me", me), path("login", new_login), path("logout", logout)]

call_command("migrate", verbosity=0)
alice = User.objects.create_user("alice", password="correct horse")
migrate_django.import_users(User.objects.values_list("id", "username", "password"))

browser = Client()
browser.post("/old-login")
assert browser.get("/me").content == b"hello alice", "carried over"
assert "auth_session" in browser.cookies
assert browser.get("/me").content == b"hello alice"
assert not User.objects.get(username="alice").is_anonymous

other = Client()
assert other.post("/login", {"username": "alice", "password": "correct horse"}).content == b"signed in"
assert migrate_django.adapter.get_user(str(alice.pk))["hashed_password"].startswith("s2:")
answer = browser.post("/logout", HTTP_HOST="testserver", HTTP_ORIGIN="https://testserver")  # env="PROD": https
assert answer.content == b"signed out", (answer.status_code, answer.content)
print("carried over, re-hashed, signed out")
