"""Peers doing the same job as lucia_wsgi: a valid signed-in session, a view reading the user id.

* Flask + Flask-Login: Flask's signed-cookie session, ``login_user`` once,
  then every request runs the ``user_loader``, a sqlite3 primary-key lookup
  on the benchmark database (one connection per thread). Defaults otherwise
  (session protection ``"basic"``).
* Beaker: ``SessionMiddleware`` with file sessions, ``save_accessed_time``
  off so a read does not write the session file back.
* Django: see :mod:`bench.peer_django`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lucia_wsgi.adapters.sqlite_threads import CloseWithThread

from .apps import respond
from .cases import expect_body, per_header, signed_in, skipped
from .harness import Case, Environ, Skip, base_environ, call

__all__ = ["flask_login_cases", "beaker_cases"]

_USER_BY_ID = 'SELECT id, username FROM "user" WHERE id = ?'


def _missing(error: ImportError) -> str:
    return f"not installed ({error.name}): pip install -e '.[bench]'"


def flask_login_cases(db_path: Path, uid: str) -> list[Case] | list[Skip]:
    key, label = "peer.flask_login", "Flask + Flask-Login, user_loader on sqlite3"
    try:
        from flask import Flask
        from flask_login import LoginManager, UserMixin, current_user, login_user
    except ImportError as error:
        return skipped(key, label, _missing(error), "package")

    class BenchUser(UserMixin):
        def __init__(self, user_id: str, username: str) -> None:
            self.id = user_id
            self.username = username

    app = Flask("lucia_wsgi_bench")
    app.secret_key = "benchmark-only-secret-key-0123456789abcdef"
    manager = LoginManager(app)
    local = threading.local()

    @manager.user_loader
    def load_user(user_id: str) -> BenchUser | None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(db_path, check_same_thread=False)
            local.closer = CloseWithThread(conn)
        row = conn.execute(_USER_BY_ID, (user_id,)).fetchone()
        return None if row is None else BenchUser(*row)

    @app.route("/")
    def whoami() -> str:
        return str(current_user.get_id()) if current_user.is_authenticated else "anonymous"

    @app.route("/login/<user_id>")
    def login(user_id: str) -> str:
        login_user(load_user(user_id))
        return "ok"

    client = app.test_client()
    login_environ = base_environ()
    client.get(f"/login/{uid}", environ_base={"REMOTE_ADDR": login_environ["REMOTE_ADDR"]},
               headers={"User-Agent": login_environ["HTTP_USER_AGENT"]})
    cookie = client.get_cookie("session")
    if cookie is None:
        raise RuntimeError("Flask-Login did not set a session cookie")
    return per_header(key, label, app.wsgi_app, signed_in("session", cookie.value), expect_body(uid))


def beaker_cases(workdir: Path, uid: str) -> list[Case] | list[Skip]:
    key, label = "peer.beaker", "Beaker file sessions (no write per request)"
    try:
        from beaker.middleware import SessionMiddleware
    except ImportError as error:
        return skipped(key, label, _missing(error), "package")

    def view(environ: Environ, start_response: Any) -> Iterable[bytes]:
        session = environ["beaker.session"]
        if environ["PATH_INFO"] == "/login":
            session["user_id"] = uid
            session.save()
            return respond(start_response, "ok")
        return respond(start_response, session.get("user_id", "anonymous"))

    options = {
        "session.type": "file",
        "session.data_dir": str(workdir / "beaker" / "data"),
        "session.lock_dir": str(workdir / "beaker" / "lock"),
        "session.key": "beaker.session.id",
        "session.auto": False,
        "session.save_accessed_time": False,
    }
    app = SessionMiddleware(view, options)
    _, headers, _ = call(app, base_environ("/login"))
    set_cookie = next((v for k, v in headers if k.lower() == "set-cookie"), "")
    name, _, rest = set_cookie.strip().partition("=")
    if name != "beaker.session.id":
        raise RuntimeError(f"Beaker did not set its session cookie: {headers!r}")
    return per_header(key, label, app, signed_in(name, rest.split(";", 1)[0]), expect_body(uid))
