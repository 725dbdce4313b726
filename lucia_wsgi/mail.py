"""Sending mail: the seam the account flows call to deliver links and codes.

An application hands the flows a *sender*: any callable ``send(to, subject,
text)`` that delivers one plain-text message or raises (``MailSender``). Three
ship here:

* ``SMTPSender``: the standard library's ``smtplib``, configured by a URL;
* ``ConsoleSender``: prints each message instead (development);
* ``MemorySender``: keeps each message in a list (your own tests).

All three refuse the same input, before any I/O: a ``to`` that is not one plain
address (``local@domain``), and a ``to`` or ``subject`` holding a line break or
another control character, which could otherwise end the header line and add
headers of the caller's choosing (``"Hi\\r\\nBcc: ..."``: header injection).
"""

from __future__ import annotations

import re
import smtplib
import ssl
import sys
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["ConsoleSender", "MailSender", "MemorySender", "SMTPSender", "SentMail", "compose"]


class MailSender(Protocol):
    """Deliver one plain-text message to the address ``to``, or raise.

    The parameters are positional-only, so any function of three strings fits.
    """

    def __call__(self, to: str, subject: str, text: str, /) -> None: ...


# Characters that can end a header line (CR, LF, NEL, U+2028...) or are no
# text at all (NUL, lone surrogates): refused in every header value.
_NOT_IN_HEADERS = frozenset({"Cc", "Cs", "Zl", "Zp"})

# A dot-atom address (RFC 5322 3.4.1, with RFC 6532's UTF-8), which nearly every
# real address is. Quoted local parts, comments and domain literals are refused
# rather than parsed: the standard library's address parser raises IndexError
# or TypeError on some malformed input, and accepts comments silently.
_ATOM = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\W\x00-\x7f])+"
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_ADDRESS = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@({_LABEL}(?:\.{_LABEL})*)")


def _one_line(value: str, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if any(unicodedata.category(char) in _NOT_IN_HEADERS for char in value):
        raise ValueError(f"{name} must be one line without control characters, got {value!r}")


def _address(value: str, name: str) -> Address:
    _one_line(value, name)
    match = _ADDRESS.fullmatch(value)
    if match is None or len(value) > 254:
        raise ValueError(f"{name} must be one address like user@example.com, got {value!r}")
    return Address(username=match[1], domain=match[2])


def _mailbox(value: str) -> Address:
    """The sender: ``noreply@example.com`` or ``Example <noreply@example.com>``."""
    _one_line(value, "sender")
    name, bracket, rest = value.partition("<")
    if not bracket:
        return _address(value, "sender")
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]
    if not rest.endswith(">") or '"' in name or "\\" in name:
        raise ValueError(f"sender must be an address or 'Name <address>', got {value!r}")
    address = _address(rest[:-1], "sender")
    return Address(display_name=name, username=address.username, domain=address.domain)


# Only 7-bit transfer encodings: non-ASCII text goes quoted-printable or base64,
# so delivery never depends on the server offering 8BITMIME.
_POLICY = policy.default.clone(cte_type="7bit")


def compose(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    """The message ``SMTPSender`` sends: From, To, Subject, Date, Message-ID, UTF-8 text.

    Raises ValueError when ``sender`` or ``to`` is not one address, or ``to`` or
    ``subject`` is not one line; TypeError when an argument is not a string.
    """
    recipient = _check(to, subject, text)
    author = _mailbox(sender)
    message = EmailMessage(policy=_POLICY)
    message["From"] = author
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    # The sender's own domain: make_msgid() would otherwise ask DNS for ours.
    message["Message-ID"] = make_msgid(domain=author.domain if author.domain.isascii() else "localhost")
    message.set_content(text)
    return message


def _check(to: str, subject: str, text: str) -> Address:
    """The recipient, once ``to``, ``subject`` and ``text`` are known to make a safe message."""
    recipient = _address(to, "to")
    _one_line(subject, "subject")
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, not {type(text).__name__}")
    return recipient


class SMTPSender:
    """Send each message through the SMTP server a URL names.

    * ``smtp://host:port``: plain SMTP (port 25 by default); ``?starttls=1`` in
      the URL or ``starttls=True`` upgrades it with STARTTLS, which must then
      succeed (a server without it raises ``smtplib.SMTPNotSupportedError``);
    * ``smtps://host:port``: TLS from the first byte (port 465 by default).

    Credentials come from the URL (``smtp://user:pass@host:587?starttls=1``,
    percent-decoded) or from ``username`` and ``password``, and are refused on a
    connection without TLS. TLS checks the server's certificate and host name
    with ``ssl_context`` (default ``ssl.create_default_context()``).

    Each message opens its own connection and closes it: nothing to go stale
    between messages, nothing shared, so one sender serves every thread.

    Raises ValueError at construction for a bad URL or option (naming the
    problem, never echoing the password; TypeError for a ``sender`` that is
    not a string), and from a call for a bad ``to`` or
    ``subject`` before connecting. Delivery failures propagate as smtplib
    raises them: ``smtplib.SMTPException`` subclasses (recipient refused, login
    failed, no STARTTLS; ``SMTPServerDisconnected`` when an answer takes longer
    than ``timeout`` seconds), ``ssl.SSLError`` (certificate not trusted) and
    ``OSError`` (server unreachable, or no connection within ``timeout``).

    Example::

        send = SMTPSender("smtp://mail.example.com:587?starttls=1",
                          sender="Example <noreply@example.com>",
                          username="noreply", password=os.environ["SMTP_PASSWORD"])
        send("alice@example.com", "Your sign-in code", "12345678")
    """

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        timeout: float = 10.0,
        starttls: bool | None = None,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if not isinstance(url, str) or any(char.isspace() or not char.isprintable() for char in url):
            # urlsplit would drop tabs and line breaks, and keep spaces in the host name.
            raise ValueError("mail URL must be a string without spaces or control characters")
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"mail URL scheme must be smtp or smtps, not {parts.scheme!r}")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0 or not parts.hostname:
            raise ValueError("mail URL needs a host and, if any, a port from 1 to 65535")
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError("mail URL must have no path or fragment")
        if starttls is not None and not isinstance(starttls, bool):
            raise ValueError(f"starttls must be True, False or None, not {starttls!r}")
        url_starttls = _starttls_parameter(parts.query)
        if url_starttls is not None and starttls is not None:
            raise ValueError("starttls is given both in the mail URL and as a keyword")
        self._implicit_tls = parts.scheme == "smtps"
        self._starttls = bool(starttls if url_starttls is None else url_starttls)
        if self._implicit_tls and self._starttls:
            raise ValueError("smtps:// is TLS from the start; starttls is for smtp://")
        tls = self._implicit_tls or self._starttls

        if parts.username is not None or parts.password is not None:
            if username is not None or password is not None:
                raise ValueError("give the credentials in the mail URL or as keywords, not both")
            username, password = unquote(parts.username or ""), unquote(parts.password or "")
        if (username, password) != (None, None) and not (username and password):
            raise ValueError("SMTP login needs both a user name and a password")
        if username and not tls:
            raise ValueError("SMTP credentials are sent only over TLS: use smtps:// or starttls")
        if ssl_context is not None and not tls:
            raise ValueError("ssl_context is for smtps:// or starttls; this mail URL uses no TLS")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        _mailbox(sender)

        self._host = parts.hostname
        self._port = port or (465 if self._implicit_tls else 25)
        self._sender = sender
        self._timeout = timeout
        self._login = (username, password) if username and password else None
        self._ssl_context = (ssl_context or ssl.create_default_context()) if tls else None
        self._local_hostname = local_hostname

    def __call__(self, to: str, subject: str, text: str) -> None:
        """Deliver one message over a new connection (see the class for what it raises)."""
        message = compose(self._sender, to, subject, text)
        client: smtplib.SMTP
        if self._implicit_tls:
            client = smtplib.SMTP_SSL(self._host, self._port, self._local_hostname,
                                      timeout=self._timeout, context=self._ssl_context)
        else:
            client = smtplib.SMTP(self._host, self._port, self._local_hostname, timeout=self._timeout)
        with client:
            if self._starttls:
                client.starttls(context=self._ssl_context)
            if self._login is not None:
                client.login(*self._login)
            client.send_message(message)


def _starttls_parameter(query: str) -> bool | None:
    """``starttls=1`` or ``starttls=0`` from a mail URL's query, the only parameter."""
    pairs = parse_qsl(query, keep_blank_values=True)
    for key, _ in pairs:
        if key != "starttls":
            raise ValueError(f"mail URL parameter {key!r} is unknown (only starttls is)")
    if not pairs:
        return None
    if len(pairs) > 1 or pairs[0][1] not in ("0", "1"):
        raise ValueError("mail URL parameter starttls must appear once, as 0 or 1")
    return pairs[0][1] == "1"


@dataclass(frozen=True, kw_only=True)
class SentMail:
    """One message a ``MemorySender`` received."""

    to: str
    subject: str
    text: str


class MemorySender:
    """Keep each message in ``messages`` instead of sending it (for tests).

    Refuses what ``SMTPSender`` refuses, so a test catches a bad address early.
    """

    def __init__(self) -> None:
        self.messages: list[SentMail] = []

    def __call__(self, to: str, subject: str, text: str) -> None:
        _check(to, subject, text)
        self.messages.append(SentMail(to=to, subject=subject, text=text))


_console_lock = threading.Lock()


class ConsoleSender:
    """Print each message instead of sending it (development).

    Writes to ``stream``, by default to ``sys.stderr`` as it is at each call;
    messages from concurrent threads come out whole, one after the other.
    Refuses what ``SMTPSender`` refuses.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def __call__(self, to: str, subject: str, text: str) -> None:
        _check(to, subject, text)
        block = f"----- mail to {to}\nSubject: {subject}\n\n{text}\n----- end of mail\n"
        with _console_lock:
            stream = sys.stderr if self._stream is None else self._stream
            stream.write(block)
            stream.flush()
