"""Django settings for the recipe tests (WSGI and ASGI): configured once per process."""

from __future__ import annotations


def configure_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, SECRET_KEY="recipe-test-only-" + "k" * 40, USE_TZ=True,
                           INSTALLED_APPS=[], DATABASES={})
        django.setup()
