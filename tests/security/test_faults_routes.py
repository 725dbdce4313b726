"""Every route and page request through every store failure point: a clear 500, no cookie change.

As in ``test_faults_auth``: a healthy run records the adapter calls a request
makes and the store before each; then the request runs once per call with the
store failing there. The routes must answer JSON 500 ``{"message": "unknown"}``
without the error text and without Set-Cookie; an application page sees the
exception from ``validate()`` with no cookie queued (a careful page answering
503 sends none); the store holds only completed steps, the cookie's session
still works, and the same request succeeds once the store is back. Every
point is injected through both middlewares (``shell``), which must make the
same store calls in the same order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from shells import Answer, Client, Inner, Reply, Shell, WsgiShell

from lucia_wsgi import LuciaError, lucia
from lucia_wsgi.testing import AdapterCall, FaultyAdapter, InjectedFault

from .support import FAST_HASH, Clock, Snapshot, Tally, snapshot
from .world import ACTIVE, DEAD, IDLE, NOW, SessionIds, filled_store

ORIGIN = {"Origin": "http://localhost"}


class CarefulPage:
    """An application page that reads the session and answers 503 when the store is down."""

    def __init__(self, careful: bool) -> None:
        self.careful = careful
        self.requests: list[Any] = []

    async def __call__(self, r: Inner) -> Reply:
        self.requests.append(r.lucia)
        try:
            user = (await r.validate_user()).user
        except (InjectedFault, TimeoutError, sqlite3.OperationalError):
            if not self.careful:
                raise
            return Reply(503, [("Content-Type", "text/plain")], b"try again soon")
        return Reply(200, [("Content-Type", "text/plain")],
                     b"anonymous" if user is None else f"user:{user['user_id']}".encode())


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    cookie: str
    healthy_status: int

    def send(self, app: Client) -> Answer:
        headers = {"Cookie": f"auth_session={self.cookie}", **(ORIGIN if self.method == "POST" else {})}
        return app.request(self.method, self.path, headers)


CALLS = [
    Call("user-active", "GET", "/api/auth/user", ACTIVE.id, 200),
    Call("user-idle-renews", "GET", "/api/auth/user", IDLE.id, 200),
    Call("user-dead", "GET", "/api/auth/user", DEAD.id, 200),
    Call("logout-active", "POST", "/api/auth/logout", ACTIVE.id, 200),
    Call("logout-idle", "POST", "/api/auth/logout", IDLE.id, 200),
    Call("page-idle-renews", "GET", "/page", IDLE.id, 200),
    Call("page-dead", "GET", "/page", DEAD.id, 200),
    Call("careful-page-idle-renews", "GET", "/careful", IDLE.id, 200),
]


def build(shell: Shell, store: Any, **faults: Any) -> tuple[Client, FaultyAdapter, dict[str, CarefulPage]]:
    faulty = FaultyAdapter(store, **faults)
    auth = lucia(adapter=faulty, env="DEV", hash=FAST_HASH, clock=Clock(NOW),
                 transform_user_data=lambda row: {"user_id": row["id"]})
    pages = {"/page": CarefulPage(careful=False), "/careful": CarefulPage(careful=True)}

    async def app(r: Inner) -> Reply:
        return await pages[r.path](r)

    return shell.serve(app, auth), faulty, pages


def reference(shell: Shell, call: Call, kind: str, path: Path) -> tuple[list[AdapterCall], list[Snapshot]]:
    store = filled_store(kind, path)
    states: list[Snapshot] = []
    app, recorder, _ = build(shell, store, before_call=lambda _: states.append(snapshot(store)))
    assert call.send(app).status == call.healthy_status
    states.append(snapshot(store))
    return recorder.calls, states


def _failure_points() -> Iterator[Any]:
    for call in CALLS:
        trace, _ = reference(WsgiShell(), call, "memory", Path())
        for index, adapter_call in enumerate(trace):
            yield pytest.param(call, index, adapter_call, id=f"{call.name}-{adapter_call.method}#{adapter_call.n}")


FAILURE_POINTS = list(_failure_points())
MODES = [
    pytest.param("before", InjectedFault, 0.0, id="connection-lost"),
    pytest.param("before", TimeoutError, 0.005, id="timeout"),
    pytest.param("after", InjectedFault, 0.0, id="reply-lost"),
]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize(("when", "exc_type", "delay"), MODES)
@pytest.mark.parametrize(("call", "index", "adapter_call"), FAILURE_POINTS)
def test_store_failure_in_a_request(
    shell: Shell, tmp_path: Path, session_ids: SessionIds, tally: Tally, call: Call, index: int,
    adapter_call: AdapterCall, when: str, exc_type: type[BaseException], delay: float, kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session_ids.reset()
    trace, states = reference(shell, call, kind, tmp_path / "reference.db")
    assert trace[index] == adapter_call, "this shell makes other store calls than the WSGI one"

    store = filled_store(kind, tmp_path / "faulty.db")
    error = exc_type(f"injected secret detail: {adapter_call.method}")
    app, faulty, pages = build(shell, store, fail_on={adapter_call.method: adapter_call.n}, exc=error, when=when,
                               delay=delay)
    session_ids.reset()
    if call.path == "/page":
        with pytest.raises(exc_type) as caught:
            call.send(app)
        assert caught.value is error
        (request,) = pages["/page"].requests
        assert request.queued_cookies == [], "a store failure queued a cookie"
        assert not any(name == "Set-Cookie" for name, _ in request.response_headers())
    else:
        response = call.send(app)
        assert response.set_cookies == [], "a store failure changed the cookie"
        assert "secret" not in response.text
        if call.path == "/careful":
            assert response.status == 503
        else:
            assert response.status == 500
            assert response.get("Content-Type") == "application/json"
            assert response.json() == {"message": "unknown"}
            assert "injected secret detail" in caplog.text, "the operator's log must name the error"
    assert faulty.faults == [adapter_call]
    tally.add("faults")

    completed = index + 1 if when == "after" else index
    assert snapshot(store) == states[completed]
    faulty.heal()
    auth = lucia(adapter=faulty, env="DEV", hash=FAST_HASH, clock=Clock(NOW))
    if when == "before" and call.cookie != DEAD.id:
        assert auth.get_session(call.cookie).user_id == "alice", "a failed request lost the session"
    if when == "before":
        assert call.send(app).status == call.healthy_status
    with pytest.raises(LuciaError):
        auth.get_session(DEAD.id)
