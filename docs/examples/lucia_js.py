"""A Python service on the database of a Lucia 0.3 JavaScript app: both read each other's sessions."""

from __future__ import annotations

from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import SQLiteAdapter


def make_auth(path: str) -> Auth:
    adapter = SQLiteAdapter(path)  # the file the Lucia app's SQLite adapter writes
    adapter.create_tables()  # adds lucia_wsgi's nullable session columns; Lucia ignores them
    return lucia(
        adapter=adapter,
        env="PROD",  # as the JavaScript app's env: the same Secure flag on the cookie
        # The same periods as the app's sessionTimeout (these are Lucia's defaults too).
        session_timeout={"active_period": 24 * 60 * 60 * 1000, "idle_period": 14 * 24 * 60 * 60 * 1000},
        # The same cookie (Lucia's defaults); add "domain" here if the app sets one.
        session_cookie=[{"same_site": "lax", "path": "/"}],
        hash_session_ids=False,  # the default: Lucia stores plain ids, so must we
        renewal="rotate",  # the default: a renewed session gets a new id, as in Lucia
        transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]},
    )
