"""A real SMTP server for tests: aiosmtpd in this process, on 127.0.0.1, keeping what it receives.

``smtp_server(mailbox=None, **options)`` runs one for a ``with`` block and yields
its port and ``Mailbox`` (a subclass may refuse things); ``options`` go to
aiosmtpd (``tls_context``, ``require_starttls``, ``authenticator``,
``ssl_context`` for implicit TLS...). ``certificate(directory)``
makes a self-signed certificate (for ``localhost`` and ``127.0.0.1`` by default)
with the ``openssl`` command (``conftest.require_tool``: skipped, or failed under
LUCIA_REQUIRE_SERVICES=1, when it is missing).
"""

from __future__ import annotations

import email
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from conftest import require_tool


@dataclass(frozen=True, kw_only=True)
class Received:
    """One delivered message, as the server saw it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    tls: bool
    login: bytes | None


class Mailbox:
    """aiosmtpd handler: accepts every message and keeps it in ``received``."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        # Stored with local line endings, as a mail store would: get_content() then gives "\n".
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(message, EmailMessage)
        # The transport is the TLS one after STARTTLS and from the start with implicit TLS.
        tls = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(
            mail_from=envelope.mail_from or "", rcpt_tos=list(envelope.rcpt_tos), message=message, raw=raw,
            tls=tls, login=session.login_data if session.authenticated else None,
        ))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(mailbox: Mailbox | None = None, **options: Any) -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox() if mailbox is None else mailbox
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context (host name included) that trusts only this certificate."""
        return ssl.create_default_context(cafile=str(self.cert))


def certificate(directory: Path, host: str = "localhost") -> Certificate:
    """A self-signed certificate for ``host`` (and 127.0.0.1 when it is localhost), made by openssl."""
    openssl = require_tool("openssl", "apt-get install openssl; the TLS mail tests make their certificate with it")
    made = Certificate(directory / "cert.pem", directory / "key.pem")
    names = f"DNS:{host},IP:127.0.0.1" if host == "localhost" else f"DNS:{host}"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", f"/CN={host}", "-addext", f"subjectAltName={names}",
         "-keyout", str(made.key), "-out", str(made.cert)],
        check=True, capture_output=True,
    )
    return made
