"""The ``Auth`` every tutorial uses: users and sessions in an SQLite file, usernames as attributes."""

from __future__ import annotations

from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import SQLiteAdapter


def make_auth(path: str = "app.db", *, env: str = "DEV") -> Auth:
    """``env="PROD"`` once the site is served over HTTPS (cookies get ``Secure``)."""
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"username": "TEXT"})  # harmless when they exist
    return lucia(
        adapter=adapter,
        env=env,
        transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]},
    )
