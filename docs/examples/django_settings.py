"""The lines of a Django project's ``settings.py`` that lucia_wsgi needs (the rest is your project's)."""

# The Auth your project builds (django_auth.py: ``auth = make_auth(...)``), imported once,
# when Django loads its middleware.
LUCIA_AUTH = "django_auth.auth"

MIDDLEWARE = [
    ...,  # your project's middleware (SecurityMiddleware, CsrfViewMiddleware...)
    "lucia_wsgi.django.LuciaMiddleware",
]

ROOT_URLCONF = "django_urls"
