"""Flask recipe: ``lucia_wsgi.flask`` (the README's Flask example, inside an app factory)."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.flask import Lucia, current_user, login_required, sign_in, sign_out


def make_app(auth: Auth) -> Any:
    app = Flask(__name__)
    Lucia(app, auth)  # in an app factory: lucia_ext = Lucia(auth) at import, lucia_ext.init_app(app)

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
