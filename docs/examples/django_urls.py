"""The project's URLs: lucia_wsgi's ``/api/auth/*`` routes beside the views."""

import django_views
from django.urls import include, path

urlpatterns = [
    path("api/auth/", include("lucia_wsgi.django.urls")),
    path("me", django_views.me),
    path("login", django_views.login),
    path("logout", django_views.logout),
]
