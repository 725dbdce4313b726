"""Django in-process for the tests: settings configured once, a project per test, an ASGI driver."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import django
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.test.utils import override_settings

SITE = "integrations.django_site"
MIDDLEWARE = "lucia_wsgi.django.LuciaMiddleware"


def configure() -> None:
    """Configure Django once per process (the recipes' tests may have done it already)."""
    if not settings.configured:
        settings.configure(DEBUG=False, SECRET_KEY="integration-test-only-" + "k" * 40, USE_TZ=True,
                           INSTALLED_APPS=[], DATABASES={})
        django.setup()


@contextmanager
def project(**overrides: Any) -> Iterator[None]:
    """Settings of the test project (``integrations.django_site``), with ``overrides``."""
    configure()
    options: dict[str, Any] = {
        "ROOT_URLCONF": SITE,
        "LUCIA_AUTH": f"{SITE}.auth",
        "MIDDLEWARE": [MIDDLEWARE],
        "ALLOWED_HOSTS": ["localhost", "testserver"],
        **overrides,
    }
    with override_settings(**options):
        yield


class Answer(NamedTuple):
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def asgi_call(handler: Any, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"",
              query: str = "", scheme: str = "http") -> Answer:
    """One request through an ASGI application (Django's ``ASGIHandler``), answered in full."""
    raw_headers = [(b"host", b"localhost"), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": scheme,
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": raw_headers, "client": ("127.0.0.1", 50000),
        "server": ("localhost", 443 if scheme == "https" else 80),
    }

    async def run() -> Answer:
        communicator = ApplicationCommunicator(handler, scope)
        await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await communicator.receive_output(5)
        chunks = []
        while True:
            message = await communicator.receive_output(5)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await communicator.wait(5)
        answered = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]]
        return Answer(start["status"], answered, b"".join(chunks))

    return asyncio.run(run())
