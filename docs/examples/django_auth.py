"""The project's ``Auth``, where ``settings.LUCIA_AUTH`` points."""

from app_auth import make_auth

auth = make_auth("app.db")  # env="PROD" behind HTTPS
