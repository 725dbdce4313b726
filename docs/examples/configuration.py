"""Every option of ``lucia()`` spelled out, with its default unless noted."""

from __future__ import annotations

from datetime import timedelta

from lucia_wsgi import Auth, lucia
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.passwords import hash_password, verify_password


def make_auth(path: str = "app.db") -> Auth:
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    return lucia(
        adapter=adapter,  # or {"user": user_store, "session": session_store}
        env="PROD",  # required: "DEV" over HTTP, "PROD" over HTTPS (Secure cookies, https origins)
        session_timeout={"active_period": timedelta(hours=24), "idle_period": timedelta(days=14)},
        csrf_protection=True,
        auto_database_cleanup=True,
        transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]},  # not a default
        session_cookie=[{"same_site": "lax", "path": "/"}],
        hash=(hash_password, verify_password),  # Lucia's scrypt
        generate_custom_user_id=None,  # the adapter picks ids
        clock=None,  # the system clock; a callable returning Unix ms in tests
        trusted_origins=["https://www.example.com"],  # not a default: another name of this site
        trust_proxy=False,
        renewal="rotate",  # or "extend"
        renewal_grace=timedelta(seconds=5),
        hash_session_ids=False,
        bcrypt_migration=False,
        max_concurrent_hashes=4,
        device_details=False,
        login_throttle={"capacity": 10, "refill_every": timedelta(minutes=1)},
    )
