"""Flask recipe: the middleware around ``app.wsgi_app``, views read ``request.environ``."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, request

from lucia_wsgi import Auth, LuciaError, LuciaMiddleware


def make_app(auth: Auth) -> Any:
    app = Flask(__name__)
    app.wsgi_app = LuciaMiddleware(app.wsgi_app, auth)  # type: ignore[method-assign]

    @app.get("/me")
    def me() -> str:
        session, user = request.environ["lucia.auth"].validate_user()
        if session is None:
            abort(401)
        return f"hello {user['username']}"

    @app.post("/login")
    def login() -> tuple[str, int]:
        lucia_request = request.environ["lucia.auth"]
        form = request.form
        try:
            user = auth.authenticate_user("username", form.get("username", ""), form.get("password", ""))
        except LuciaError:
            return "invalid username or password", 400
        lucia_request.set_session(auth.create_session(user["user_id"]))
        return "signed in", 200

    return app
