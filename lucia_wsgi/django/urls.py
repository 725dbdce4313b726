"""``path("api/auth/", include("lucia_wsgi.django.urls"))``: ``user``, ``logout``, ``client.js``.

No trailing slashes, as in Lucia. Anything else under the prefix, the
prefix itself (``/api/auth/``) included, is the routes' JSON 404; the prefix
without its slash (``/api/auth``) is Django's own: ``CommonMiddleware``'s
``APPEND_SLASH`` redirects it, else Django's 404. The URL names are
``lucia:user``, ``lucia:logout`` and ``lucia:client_js``.
"""

from __future__ import annotations

from django.urls import path

from .views import route

app_name = "lucia"

urlpatterns = [
    path("user", route("user"), name="user"),
    path("logout", route("logout"), name="logout"),
    path("client.js", route("client.js"), name="client_js"),
    path("", route("other")),
    path("<path:rest>", route("other")),
]
