"""A small Flask site on lucia_wsgi.flask: an ``account`` blueprint and an app factory."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template_string, request

from lucia_wsgi import LuciaError
from lucia_wsgi.flask import Lucia, current_user, login_required, next_url, sign_in, sign_out

account = Blueprint("account", __name__, url_prefix="/account")


@account.get("/me")
@login_required
def me() -> str:
    return f"hello {current_user['username']}"


@account.get("/login")
def login_page() -> str:
    return "the login form"


@account.post("/login")
def login() -> Any:
    auth = current_app.extensions["lucia"].auth
    try:
        user = auth.authenticate_user("username", request.form.get("username", ""), request.form.get("password", ""))
    except LuciaError:
        return "invalid username or password", 400
    sign_in(user["user_id"])
    return redirect(next_url())


@account.post("/logout")
def logout() -> str:
    sign_out()
    return "signed out"


def create_app(lucia: Lucia) -> Flask:
    """The app factory: each call makes an app, all served by the one ``lucia``."""
    app = Flask(__name__)
    app.register_blueprint(account)

    @app.get("/")
    def home() -> str:
        return render_template_string("{{ current_user['username'] if current_user else 'nobody' }}")

    @app.get("/whoami")
    def whoami() -> Any:
        return jsonify(user=current_user._get_current_object())

    @app.get("/async")
    @login_required
    async def async_view() -> str:
        return f"async hello {current_user['username']}"

    @app.get("/files/<path:name>")
    @login_required
    def files(name: str) -> str:
        return name

    lucia.init_app(app)
    return app
