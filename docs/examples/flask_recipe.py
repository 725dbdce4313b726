"""Flask: ``lucia_wsgi.flask`` in an app factory; views use ``current_user``, ``sign_in``, ``sign_out``."""

from __future__ import annotations

from flask import Flask, request

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.flask import Lucia, current_user, login_required, sign_in, sign_out


def make_app(auth: Auth) -> Flask:
    app = Flask(__name__)
    Lucia(app, auth)  # or: lucia_ext = Lucia(auth) at import, then lucia_ext.init_app(app) here

    @app.get("/me")
    @login_required
    def me() -> str:
        return f"hello {current_user['username']}"

    @app.post("/login")
    def login() -> tuple[str, int]:
        form = request.form
        try:
            user = auth.authenticate_user("username", form.get("username", ""), form.get("password", ""))
        except LuciaError:
            return "invalid username or password", 400
        sign_in(user["user_id"])
        return "signed in", 200

    @app.post("/logout")
    def logout() -> str:
        sign_out()
        return "signed out"

    return app


def main() -> Flask:
    """The application on ``app.db``: ``waitress-serve --call flask_recipe:main``."""
    from app_auth import make_auth

    return make_app(make_auth("app.db"))
