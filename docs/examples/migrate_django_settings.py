"""settings.py during the migration: Django's auth stays until the bridge has carried everyone over."""

LUCIA_AUTH = "migrate_django.auth"

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lucia_wsgi.django.LuciaMiddleware",
    "migrate_django.carry_over_django_sessions",
]
