"""Django recipe: the tutorial's views and URLs (docs/examples/django_views.py, django_urls.py).

This module is the ``ROOT_URLCONF``, and ``auth`` is what
``settings.LUCIA_AUTH`` names (the test puts its ``Auth`` there).
"""

from __future__ import annotations

from typing import Any

from django_urls import urlpatterns

from lucia_wsgi import Auth

__all__ = ["auth", "make_app", "urlpatterns"]

auth: Auth | None = None


def make_app(lucia_auth: Auth) -> Any:
    """Django must be configured (``ROOT_URLCONF`` = this module, ``LUCIA_AUTH`` = its ``auth``) first."""
    from django.core.handlers.wsgi import WSGIHandler

    global auth
    auth = lucia_auth
    return WSGIHandler()
