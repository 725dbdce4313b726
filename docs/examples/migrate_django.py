"""From ``django.contrib.auth`` sessions to ``lucia_wsgi.django``: users, hashes and sign-ins carried over."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib import auth as django_auth
from django.contrib.auth.hashers import check_password
from django.http import HttpRequest, HttpResponse

from lucia_wsgi import lucia
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.django import sign_in
from lucia_wsgi.passwords import hash_password, verify_password


def is_django_hash(hashed: str) -> bool:
    """``pbkdf2_sha256$...``, ``argon2$...``: Lucia's hashes never have a ``$`` after the start."""
    return "$" in hashed and not hashed.startswith("$")


def verify_either(password: str, hashed: str) -> bool:
    if is_django_hash(hashed):  # an imported user who has not logged in since
        return check_password(password, hashed)  # Django's hashers, as settings.PASSWORD_HASHERS says
    return verify_password(password, hashed)


def make_adapter(path: str) -> SQLiteAdapter:
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    return adapter


adapter = make_adapter("lucia.db")
auth = lucia(adapter=adapter, env="PROD", hash=(hash_password, verify_either),  # settings.LUCIA_AUTH
             transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]})


def import_users(rows: Iterable[tuple[object, str, str]]) -> None:
    """Copy the old users, once: ``User.objects.values_list("id", "username", "password")``."""
    for user_id, username, password_hash in rows:
        adapter.set_user(str(user_id), {"provider_id": f"username:{username}",
                                        "hashed_password": password_hash, "username": username})


def rehash_on_login(user_id: str, password: str) -> None:
    """Call after ``authenticate_user`` succeeds: the hash moves to Lucia's format."""
    if is_django_hash(adapter.get_user(user_id)["hashed_password"]):
        adapter.update_user(user_id, {"hashed_password": hash_password(password)})


def carry_over_django_sessions(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[..., HttpResponse]:
    """Middleware, after ``SessionMiddleware``, ``AuthenticationMiddleware`` and lucia's: a browser
    signed in the Django way gets a lucia session, once, and its Django session ends."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and not request.lucia_user:  # type: ignore[attr-defined]
            user_id = str(request.user.pk)  # checked by Django, session hash included
            django_auth.logout(request)  # flushes the Django session
            sign_in(request, user_id)
        return get_response(request)

    return middleware
