"""Django as a peer: database sessions and ``AuthenticationMiddleware``, startproject defaults.

Settings are configured in-process: the middleware list ``startproject``
writes, the auth, contenttypes, sessions and messages apps, a SQLite database
in the run's directory (migrated), one user with a session made as
``login()`` makes it. Everything else is Django's default, notably
``SESSION_ENGINE = "django.contrib.sessions.backends.db"`` and
``CONN_MAX_AGE = 0`` (a database connection per request). ``DEBUG`` is off.
The view reads ``request.user.pk``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cases import expect_body, per_header, signed_in, skipped
from .harness import Case, Skip

__all__ = ["django_cases"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


def whoami(request: Any) -> Any:
    from django.http import HttpResponse

    user = request.user
    return HttpResponse(str(user.pk) if user.is_authenticated else "anonymous", content_type="text/plain")


def __getattr__(name: str) -> Any:
    """``urlpatterns`` for ``ROOT_URLCONF``, built when Django asks (after set-up)."""
    if name == "urlpatterns":
        from django.urls import path

        return [path("", whoami)]
    raise AttributeError(name)


def _configure(workdir: Path) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only-secret-key-0123456789abcdef-0123456789",
        ALLOWED_HOSTS=["localhost", "127.0.0.1"],
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
                        "django.contrib.messages"],
        MIDDLEWARE=MIDDLEWARE,
        ROOT_URLCONF=__name__,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "django.sqlite3")}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        USE_TZ=True,
    )
    django.setup()


def django_cases(workdir: Path) -> list[Case] | list[Skip]:
    key = "peer.django"
    try:
        import django
        from django.conf import settings
    except ImportError as error:
        return skipped(key, "Django DB sessions + auth middleware", f"not installed ({error.name})", "package")
    label = f"Django {django.get_version()} DB sessions + auth middleware"
    if settings.configured:
        return skipped(key, label, "Django settings were already configured in this process", "package")
    _configure(workdir)
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench-user")  # no password: nothing to hash
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save(must_create=True)
    connections.close_all()
    cookie = signed_in(settings.SESSION_COOKIE_NAME, store.session_key or "")
    return per_header(key, label, WSGIHandler(), cookie, expect_body(str(user.pk)))
