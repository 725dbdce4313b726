"""Production stores: users in PostgreSQL, sessions in PostgreSQL or Redis, URLs from the environment."""

from __future__ import annotations

import os

from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import PostgresAdapter, RedisSessionAdapter


def make_auth(*, schema: str = "auth", prefix: str = "myapp:") -> Auth:
    """Build it in each worker process, after the fork (the pool starts threads)."""
    users = PostgresAdapter(os.environ["DATABASE_URL"], schema=schema, max_size=10)  # >= request threads
    users.create_tables(user_attributes={"username": "TEXT"})  # or once per release: lucia-wsgi init
    options = {
        "env": "PROD",
        "transform_user_data": lambda row: {"user_id": row["id"], "username": row["username"]},
        "hash_session_ids": True,  # unless a Lucia JavaScript app shares the sessions
    }
    redis_url = os.environ.get("REDIS_URL")
    if redis_url is None:
        return lucia(adapter=users, **options)  # users and sessions in PostgreSQL
    sessions = RedisSessionAdapter(redis_url, prefix=prefix)  # sessions in Redis, users in PostgreSQL
    return lucia(adapter={"user": users, "session": sessions}, **options)
