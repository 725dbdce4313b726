"""LuciaASGIMiddleware under a real ASGI server: the Starlette recipe on uvicorn, over TCP.

The other ASGI tests build scopes themselves; here uvicorn does (its
``server``, ``client``, raw header bytes), and the answers cross a socket:
every ``Set-Cookie`` arrives as its own header, the Origin check sees the
host the client dialled, and the routes answer beside the app.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import starlette_recipe
import uvicorn
from conftest import Clock

from lucia_wsgi import lucia
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.config import DAY_MS

T0 = 1_700_000_000_000
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)



@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(tmp_path: Path, clock: Clock) -> Iterator[Any]:
    adapter = SQLiteAdapter(tmp_path / "auth.db")  # a blocking store: its calls run in worker threads
    adapter.create_tables(user_attributes={"username": "TEXT"})
    yield lucia(adapter=adapter, env="DEV", clock=clock, hash=CHEAP_HASH,
                session_cookie=[{"path": "/"}, {"path": "/admin"}],
                transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]})
    adapter.close()


@pytest.fixture
def base_url(auth: Any) -> Iterator[str]:
    """The Starlette recipe served by uvicorn on a free port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(starlette_recipe.make_app(auth), lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def session_cookies(response: httpx.Response) -> list[str]:
    return [value for value in response.headers.get_list("set-cookie") if value.startswith("auth_session=")]


def test_sign_in_renewal_and_log_out_over_a_socket(auth: Any, clock: Clock, base_url: str) -> None:
    auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    with httpx.Client(base_url=base_url) as client:
        signed_in = client.post("/login", json={"username": "alice", "password": "correct horse"})
        assert signed_in.text == "signed in"
        first, second = session_cookies(signed_in)  # one header per cookie option, across the wire
        assert "Path=/;" in first and "Path=/admin;" in second
        session_id = first.split(";")[0].removeprefix("auth_session=")
        client.cookies.clear()
        mine = {"Cookie": f"auth_session={session_id}"}

        clock.now = T0 + DAY_MS + 1
        renewed = client.get("/me", headers=mine)
        assert renewed.text == "hello alice"
        assert len(session_cookies(renewed)) == 2 and session_id not in renewed.headers["set-cookie"]
        assert renewed.headers["vary"] == "Cookie" and renewed.headers["cache-control"] == "private"
        client.cookies.clear()

        cross_site = client.post("/api/auth/logout", headers={**mine, "Origin": "http://evil.example"})
        assert cross_site.status_code == 403 and session_cookies(cross_site) == []
        logged_out = client.post("/api/auth/logout", headers={**mine, "Origin": base_url})
        assert logged_out.status_code == 200 and logged_out.json() == {}
        assert [value.split(";")[0] for value in session_cookies(logged_out)] == ["auth_session="] * 2
        client.cookies.clear()
        assert client.get("/me", headers=mine).status_code == 401
