"""Django integration: middleware, ``login_required``, sign-in helpers and the ``/api/auth`` URLs.

::

    # settings.py
    LUCIA_AUTH = "myproject.auth.auth"      # the Auth that lucia(...) returns
    MIDDLEWARE = [..., "lucia_wsgi.django.LuciaMiddleware"]

    # urls.py
    urlpatterns = [path("api/auth/", include("lucia_wsgi.django.urls")), ...]

    # views.py
    from lucia_wsgi.django import login_required

    @login_required
    def me(request):
        return HttpResponse(f"hello {request.lucia_user['username']}")

Nothing to add to ``INSTALLED_APPS``: there are no models or templates.
"""

from __future__ import annotations

try:
    import django  # noqa: F401
except ImportError as error:  # tests/integrations/test_imports.py hides Django to check this
    raise ImportError("lucia_wsgi.django needs Django: pip install 'lucia_wsgi[django]'") from error

from .decorators import login_required
from .middleware import LuciaMiddleware, get_auth
from .signin import next_url, sign_in, sign_out

__all__ = ["LuciaMiddleware", "get_auth", "login_required", "next_url", "sign_in", "sign_out"]
