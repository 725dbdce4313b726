"""Shared by the demo's WebTest tests: the app on a fresh database, its clock, its mail."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from wsgiref.validate import validator

import webtest

import demo_app
from lucia_wsgi.mail import MemorySender, SentMail

CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
ORIGIN = {"Origin": "http://localhost"}
FORM = "application/x-www-form-urlencoded"
PASSWORD = "correct horse"
BASE_URL = "http://demo.test:8000"


class Clock:
    """Unix ms, from the real time (the cookie jar drops cookies by the wall clock), moved by hand."""

    def __init__(self) -> None:
        self.now = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by // timedelta(milliseconds=1)


@dataclass
class Demo:
    """The demo on a database of its own, with a clock and a ``MemorySender`` to read the mail."""

    middleware: Any
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


def build(path: Path, **options: Any) -> Demo:
    clock = Clock()
    sender = MemorySender()
    middleware = demo_app.make_app(path, mail=sender, base_url=BASE_URL, hash=CHEAP_HASH, clock=clock, **options)
    return Demo(middleware, clock, sender)


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
