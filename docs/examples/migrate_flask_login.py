"""From Flask-Login to ``lucia_wsgi.flask``: users and hashes carried over, signed-in browsers kept in."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, request, session
from werkzeug.security import check_password_hash

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.flask import Lucia, current_user, login_required, sign_in, sign_out
from lucia_wsgi.passwords import hash_password, verify_password

# What Flask-Login's login_user() keeps in Flask's session cookie.
FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")


def is_werkzeug_hash(hashed: str) -> bool:
    """``scrypt:...$salt$hash`` or ``pbkdf2:...``: Lucia's hashes never have a ``$`` after the start."""
    return "$" in hashed and not hashed.startswith("$")


def verify_either(password: str, hashed: str) -> bool:
    if is_werkzeug_hash(hashed):  # an imported user who has not logged in since
        return check_password_hash(hashed, password)
    return verify_password(password, hashed)


def make_auth(path: str) -> tuple[Auth, SQLiteAdapter]:
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    auth = lucia(adapter=adapter, env="DEV", hash=(hash_password, verify_either),
                 transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]})
    return auth, adapter


def import_users(adapter: SQLiteAdapter, rows: Iterable[tuple[object, str, str]]) -> None:
    """Copy the old users, once: ``(id, username, password hash)`` rows keep their ids and hashes."""
    for user_id, username, password_hash in rows:
        adapter.set_user(str(user_id), {"provider_id": f"username:{username}",
                                        "hashed_password": password_hash, "username": username})


def make_app(auth: Auth, adapter: SQLiteAdapter, secret_key: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secret_key  # the old app's: its session cookies must still read
    Lucia(app, auth, login_view="login")  # was: login_manager.login_view = "login"

    @app.before_request
    def carry_over_flask_login_session() -> None:
        """A browser signed in with Flask-Login gets a lucia session, once; then the old keys go."""
        old_user_id = session.get("_user_id")
        if old_user_id is None:
            return
        for key in FLASK_LOGIN_KEYS:
            session.pop(key, None)
        if not current_user:
            try:
                sign_in(str(old_user_id))
            except LuciaError:  # AUTH_INVALID_USER_ID: a user the import left out
                pass

    @app.get("/me")
    @login_required  # was: flask_login.login_required
    def me() -> str:
        return f"hello {current_user['username']}"  # was: current_user.username

    @app.post("/login")
    def login() -> tuple[str, int]:
        username, password = request.form.get("username", ""), request.form.get("password", "")
        try:
            user = auth.authenticate_user("username", username, password)
        except LuciaError:
            return "invalid username or password", 400
        if is_werkzeug_hash(adapter.get_user(user["user_id"])["hashed_password"]):
            # Re-hash in Lucia's format while the password is at hand (update_user_password
            # would also end the user's sessions).
            adapter.update_user(user["user_id"], {"hashed_password": hash_password(password)})
        sign_in(user["user_id"])  # was: login_user(user)
        return "signed in", 200

    @app.post("/logout")
    def logout() -> str:
        sign_out()  # was: logout_user()
        return "signed out"

    return app
