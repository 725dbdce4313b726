"""Shared by the demo's WebTest tests: the app on a fresh database, its clock, its mail, its shell.

The demo is served by two shells, WSGI (``make_app``) and ASGI
(``make_asgi_app``); a test given ``build(path, shell=...)`` drives either
with WebTest, the ASGI one through :class:`AsgiForWebTest`.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from wsgiref.validate import validator

import webtest

import demo_app
from lucia_wsgi.asgi import LuciaASGIMiddleware
from lucia_wsgi.mail import MemorySender, SentMail

CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
ORIGIN = {"Origin": "http://localhost"}
FORM = "application/x-www-form-urlencoded"
PASSWORD = "correct horse"
BASE_URL = "http://demo.test:8000"
#: The demo's two shells: the WSGI application, and the ASGI one.
DEMO_SHELLS = ("wsgi", "asgi")
#: The thread AsgiForWebTest runs its event loop on.
LOOP_THREAD = "demo-asgi-loop"


class Clock:
    """Unix ms, from the real time (the cookie jar drops cookies by the wall clock), moved by hand."""

    def __init__(self) -> None:
        self.now = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by // timedelta(milliseconds=1)


def _scope(environ: dict[str, Any]) -> dict[str, Any]:
    """The HTTP scope an ASGI server would make of the request WebTest put in ``environ``."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key
        else:
            continue
        headers.append((name.replace("_", "-").lower().encode("latin-1"), str(value).encode("latin-1")))
    raw_path = environ["PATH_INFO"].encode("latin-1")  # PEP 3333: the bytes, one character each
    address = environ.get("REMOTE_ADDR")
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": environ["REQUEST_METHOD"], "scheme": environ["wsgi.url_scheme"],
        "path": raw_path.decode("utf-8", "replace"), "raw_path": quote(raw_path).encode("ascii"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"), "root_path": environ.get("SCRIPT_NAME", ""),
        "headers": headers, "client": None if address is None else (address, 50_000),
        "server": (environ["SERVER_NAME"], int(environ["SERVER_PORT"])),
    }


class AsgiForWebTest:
    """The ASGI demo behind a WSGI face, for WebTest.

    Each request is sent to the ASGI application as a server would: the scope
    (raw header bytes, lowercase names), the body in messages of 1 KiB at
    most, on one event loop running in a thread of its own
    (:data:`LOOP_THREAD`) for every request. The messages it sends back are
    checked for their order and joined into the WSGI answer. ``auth`` and
    ``app`` are the middleware's (``app``: the ``AsgiDemo``).
    """

    def __init__(self, middleware: LuciaASGIMiddleware) -> None:
        self.middleware = middleware
        self.auth, self.app = middleware.auth, middleware.app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=LOOP_THREAD, daemon=True)
        self.thread.start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        exchange = asyncio.run_coroutine_threadsafe(self._exchange(_scope(environ), body), self.loop)
        status, headers, content = exchange.result(timeout=60)
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [content]

    async def _exchange(self, scope: dict[str, Any], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        chunks = [body[start:start + 1024] for start in range(0, len(body), 1024)] or [b""]
        messages = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
                    for index, chunk in enumerate(chunks)]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            expected = "http.response.start" if not sent else "http.response.body"
            assert message["type"] == expected, (message["type"], expected)
            assert not sent or sent[-1].get("more_body", False) or sent[-1]["type"] == "http.response.start"
            sent.append(message)

        await self.middleware(scope, receive, send)
        start, *rest = sent
        assert rest and not rest[-1].get("more_body", False), "the response did not end"
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]]
        return start["status"], headers, b"".join(message.get("body", b"") for message in rest)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@dataclass
class Demo:
    """The demo on a database of its own, with a clock and a ``MemorySender`` to read the mail."""

    middleware: Any  # a WSGI application: the WSGI demo, or AsgiForWebTest around the ASGI one
    clock: Clock
    sender: MemorySender = field(default_factory=MemorySender)

    @property
    def auth(self) -> Any:
        return self.middleware.auth

    def browser(self, address: str | None = None, user_agent: str | None = None) -> webtest.TestApp:
        """A client of its own (cookie jar, address, user agent)."""
        environ = {key: value for key, value in (("REMOTE_ADDR", address), ("HTTP_USER_AGENT", user_agent))
                   if value is not None}
        return webtest.TestApp(validator(self.middleware), extra_environ=environ)

    def mails(self) -> list[SentMail]:
        """Every message sent so far, once the outbox has run what was queued."""
        self.middleware.app.outbox.wait()
        return list(self.sender.messages)

    def mails_to(self, address: str) -> list[SentMail]:
        return [mail for mail in self.mails() if mail.to == address]

    def user(self, username: str) -> dict[str, Any] | None:
        row = self.auth.config.user_adapter.get_user_by_provider_id(f"username:{username}")
        return None if row is None else dict(row)

    def close(self) -> None:
        self.middleware.app.close()
        if isinstance(self.middleware, AsgiForWebTest):
            self.middleware.close()


def build(path: Path, *, shell: str = "wsgi", **options: Any) -> Demo:
    """The demo on the SQLite file ``path``, served by ``shell`` (one of :data:`DEMO_SHELLS`)."""
    clock = Clock()
    sender = MemorySender()
    settings: dict[str, Any] = {"mail": sender, "base_url": BASE_URL, "hash": CHEAP_HASH, "clock": clock, **options}
    if shell == "asgi":
        return Demo(AsgiForWebTest(demo_app.make_asgi_app(path, **settings)), clock, sender)
    assert shell == "wsgi", shell
    return Demo(demo_app.make_app(path, **settings), clock, sender)


def link_in(mail: SentMail) -> str:
    """The path and query of the one link in ``mail``, which must start with the demo's base URL."""
    (link,) = re.findall(r"https?://\S+", mail.text)
    assert link.startswith(BASE_URL + "/")
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def code_in(mail: SentMail) -> str:
    (code,) = re.findall(r"\b[0-9]{8}\b", mail.text)
    return code


def sign_up(app: webtest.TestApp, username: str, email: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    return app.post("/signup", {"username": username, "email": email, "password": password},
                    headers={**ORIGIN, **kwargs.pop("headers", {})}, **kwargs)


def log_in(app: webtest.TestApp, username: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    return app.post("/login", {"username": username, "password": password},
                    headers={**ORIGIN, **kwargs.pop("headers", {})}, **kwargs)


def is_signed_in(app: webtest.TestApp) -> bool:
    return app.get("/profile", status=(200, 303)).status_int == 200


def answer(response: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    """Everything a client sees of a response: status line, headers in order, body bytes."""
    return response.status, list(response.headerlist), response.body
