"""lucia_wsgi.mail: composing, refusing header injection, and delivery to a real local SMTP server."""

from __future__ import annotations

import email
import io
import math
import smtplib
import socket
import ssl
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from hypothesis import given
from hypothesis import strategies as st
from smtp_server import Certificate, Mailbox, certificate, smtp_server

from lucia_wsgi.mail import ConsoleSender, MailSender, MemorySender, SentMail, SMTPSender, compose

SENDER = "Example <noreply@example.com>"
HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "Content-Type", "Content-Transfer-Encoding", "MIME-Version"]
LINE_ENDERS = ["\r\n", "\n", "\r", "\x85", "\u2028", "\u2029", "\x0b", "\x0c"]


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections (bound, never listening)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


def parse(message: EmailMessage) -> EmailMessage:
    """Render and parse back, as a reader would (UTF-8 headers, for international addresses)."""
    parsed = email.message_from_string(message.as_string(policy=message.policy.clone(utf8=True)), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


# --- composing (pure) -------------------------------------------------------------------------------------------

def test_compose_writes_exactly_the_documented_headers_and_a_utf8_text_body() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    message = parse(compose(SENDER, "alice@example.org", "Verify your email", "Open the link.\n"))
    assert list(message.keys()) == HEADERS
    assert (message["From"], message["To"], message["Subject"]) == (SENDER, "alice@example.org", "Verify your email")
    assert before <= message["Date"].datetime <= datetime.now(timezone.utc)
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@example.com>")
    assert (message.get_content_type(), message.get_content_charset()) == ("text/plain", "utf-8")
    assert message.get_content() == "Open the link.\n"


def test_every_message_gets_its_own_message_id() -> None:
    ids = {compose(SENDER, "alice@example.org", "s", "t")["Message-ID"] for _ in range(50)}
    assert len(ids) == 50


def test_non_ascii_text_is_sent_in_a_7bit_encoding_so_the_server_needs_no_8bitmime() -> None:
    raw = compose(SENDER, "alice@example.org", "Grüße ☃", "Grüße aus Köln ☃\n" * 3).as_bytes()
    assert raw.isascii()


@pytest.mark.parametrize("sender, display_name, addr_spec", [
    pytest.param("noreply@example.com", "", "noreply@example.com", id="address"),
    pytest.param("Example <noreply@example.com>", "Example", "noreply@example.com", id="name-address"),
    pytest.param('"Example, Inc." <noreply@example.com>', "Example, Inc.", "noreply@example.com", id="quoted-name"),
    pytest.param("Zoë <zoe@example.com>", "Zoë", "zoe@example.com", id="unicode-name"),
])
def test_sender_is_an_address_or_a_name_and_an_address(sender: str, display_name: str, addr_spec: str) -> None:
    [author] = parse(compose(sender, "alice@example.org", "s", "t"))["From"].addresses
    assert (author.display_name, author.addr_spec) == (display_name, addr_spec)


@pytest.mark.parametrize("to", [
    "alice@example.org", "first.last+tag@mail.example.co.uk", "o'brien@example.ie", "UPPER@EXAMPLE.ORG",
    "alice@localhost", "zoë@bücher.de", "x_y-z@a-b.example",
])
def test_a_plain_address_is_accepted_as_it_is(to: str) -> None:
    [recipient] = parse(compose(SENDER, to, "s", "t"))["To"].addresses
    assert recipient.addr_spec == to
    MemorySender()(to, "s", "t")


NOT_ONE_ADDRESS = [
    pytest.param("", id="empty"),
    pytest.param("alice", id="no-domain"),
    pytest.param("@example.org", id="no-local-part"),
    pytest.param("alice@", id="nothing-after-at"),
    pytest.param("alice@@example.org", id="two-ats"),
    pytest.param("alice@example.org, eve@evil.example", id="two-addresses-comma"),
    pytest.param("alice@example.org;eve@evil.example", id="two-addresses-semicolon"),
    pytest.param("alice@example.org eve@evil.example", id="two-addresses-space"),
    pytest.param("Alice <alice@example.org>", id="display-name"),
    pytest.param("undisclosed-recipients:;", id="group"),
    pytest.param(" alice@example.org", id="leading-space"),
    pytest.param("alice.@example.org", id="dot-at-end-of-local-part"),
    pytest.param("alice@example..org", id="empty-label"),
    pytest.param("alice@-example.org", id="label-starting-with-hyphen"),
    pytest.param('"alice smith"@example.org', id="quoted-local-part"),
    pytest.param("alice(comment)@example.org", id="comment"),
    pytest.param("alice@[127.0.0.1]", id="domain-literal"),
    pytest.param("a" * 243 + "@example.org", id="longer-than-254"),
]


@pytest.mark.parametrize("to", NOT_ONE_ADDRESS)
def test_to_must_be_exactly_one_plain_address(to: str) -> None:
    with pytest.raises(ValueError, match="to must be one address"):
        compose(SENDER, to, "s", "t")


@pytest.mark.parametrize("sender", [
    "", "noreply", "noreply@example.com, eve@evil.example", "Example <noreply@example.com", 'Ex"ample <a@b.c>',
    "Example <Other <noreply@example.com>>", "Example\r\nBcc: eve@evil.example <noreply@example.com>",
])
def test_a_bad_sender_is_refused_when_the_smtp_sender_is_made(sender: str) -> None:
    with pytest.raises(ValueError, match="sender must be"):
        SMTPSender("smtp://127.0.0.1", sender=sender)


@pytest.mark.parametrize("ender", [*LINE_ENDERS, "\x00", "\t", "\ud800"])
@pytest.mark.parametrize("field", ["to", "subject"])
def test_header_injection_through_to_or_subject_is_refused(field: str, ender: str) -> None:
    values = {"to": "alice@example.org", "subject": "Hello"}
    values[field] += ender + "Bcc: eve@evil.example"
    with pytest.raises(ValueError, match=f"{field} must be one line"):
        compose(SENDER, values["to"], values["subject"], "t")


@given(st.text(max_size=120))
def test_no_subject_can_add_a_header_and_an_accepted_one_arrives_unchanged(subject: str) -> None:
    one_line = all(unicodedata.category(char) not in {"Cc", "Cs", "Zl", "Zp"} for char in subject)
    try:
        message = parse(compose(SENDER, "alice@example.org", subject, "t"))
    except ValueError:
        assert not one_line
        return
    assert one_line
    assert list(message.keys()) == HEADERS
    assert message["Subject"] == subject.lstrip(" ")  # folding keeps everything but leading spaces


@given(st.text(alphabet=st.sampled_from(list("ab.@-+_,;:<>\"()[] é\r\n\x85")), max_size=16))
def test_an_accepted_to_is_always_exactly_that_one_address(to: str) -> None:
    try:
        message = parse(compose(SENDER, to, "s", "t"))
    except ValueError:
        return
    assert [address.addr_spec for address in message["To"].addresses] == [to]


@given(st.text(max_size=300).filter(lambda text: not any("\ud800" <= char <= "\udfff" for char in text)))
def test_any_text_arrives_with_only_its_line_endings_normalised(text: str) -> None:
    body = parse(compose(SENDER, "alice@example.org", "s", text)).get_content()
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert body == (expected if expected.endswith("\n") else expected + "\n")


# --- SMTPSender configuration -----------------------------------------------------------------------------------

BAD_CONFIGURATIONS = [
    pytest.param("http://127.0.0.1:25", {}, "scheme must be smtp or smtps, not 'http'", id="http"),
    pytest.param("mail.example.com", {}, "scheme must be smtp or smtps, not ''", id="no-scheme"),
    pytest.param("smtp://", {}, "needs a host", id="no-host"),
    pytest.param("smtp://:25", {}, "needs a host", id="port-only"),
    pytest.param("smtp://127.0.0.1:0", {}, "port from 1 to 65535", id="port-0"),
    pytest.param("smtp://127.0.0.1:65536", {}, "port from 1 to 65535", id="port-too-big"),
    pytest.param("smtp://127.0.0.1:abc", {}, "port from 1 to 65535", id="port-not-a-number"),
    pytest.param("smtp://127.0.0.1/mail", {}, "no path", id="path"),
    pytest.param("smtp://127.0.0.1#x", {}, "no path or fragment", id="fragment"),
    pytest.param("smtp://127.0.0.1?tls=1", {}, "parameter 'tls' is unknown", id="unknown-parameter"),
    pytest.param("smtp://127.0.0.1?starttls=yes", {}, "starttls must appear once, as 0 or 1", id="starttls-yes"),
    pytest.param("smtp://127.0.0.1?starttls=1&starttls=1", {}, "must appear once", id="starttls-twice"),
    pytest.param("smtp://127.0.0.1?starttls=1", {"starttls": True}, "both in the mail URL and as a keyword",
                 id="starttls-twice-over"),
    pytest.param("smtps://127.0.0.1?starttls=1", {}, "TLS from the start", id="smtps-with-starttls"),
    pytest.param("smtps://127.0.0.1", {"starttls": True}, "TLS from the start", id="smtps-with-starttls-keyword"),
    pytest.param("smtp://user@127.0.0.1?starttls=1", {}, "both a user name and a password", id="user-only"),
    pytest.param("smtp://user:@127.0.0.1?starttls=1", {}, "both a user name and a password", id="empty-password"),
    pytest.param("smtp://:secret@127.0.0.1?starttls=1", {}, "both a user name and a password", id="password-only"),
    pytest.param("smtp://127.0.0.1?starttls=1", {"password": "secret"}, "both a user name", id="password-keyword-only"),
    pytest.param("smtp://user:secret@127.0.0.1?starttls=1", {"username": "other"}, "not both", id="credentials-twice"),
    pytest.param("smtp://user:secret@127.0.0.1", {}, "only over TLS", id="credentials-in-clear"),
    pytest.param("smtp://127.0.0.1?starttls=0", {"username": "u", "password": "secret"}, "only over TLS",
                 id="keyword-credentials-in-clear"),
    pytest.param("smtp://127.0.0.1", {"ssl_context": ssl.create_default_context()}, "ssl_context is for",
                 id="ssl-context-without-tls"),
    pytest.param("smtp://127.0.0.1", {"timeout": 0}, "timeout must be a positive", id="timeout-0"),
    pytest.param("smtp://127.0.0.1", {"timeout": -1.0}, "timeout must be a positive", id="timeout-negative"),
    pytest.param("smtp://127.0.0.1", {"timeout": math.nan}, "timeout must be a positive", id="timeout-nan"),
    pytest.param("smtp://127.0.0.1", {"timeout": "10"}, "timeout must be a positive", id="timeout-a-string"),
    pytest.param("smtp://127.0.0.1", {"timeout": True}, "timeout must be a positive", id="timeout-a-bool"),
    pytest.param("smtp://127.0.0.1", {"starttls": "yes"}, "starttls must be True, False or None",
                 id="starttls-keyword-a-string"),
    pytest.param("smtp://local host:25", {}, "without spaces or control characters", id="space-in-host"),
    pytest.param("smtp://127.0.0.1:25\n", {}, "without spaces or control characters", id="trailing-newline"),
    pytest.param("smtp://user:sec\tret@127.0.0.1?starttls=1", {}, "without spaces or control characters",
                 id="tab-in-password"),
]


@pytest.mark.parametrize("url, keywords, problem", BAD_CONFIGURATIONS)
def test_a_bad_url_or_option_is_refused_at_construction_naming_the_problem(
    url: str, keywords: dict[str, Any], problem: str,
) -> None:
    with pytest.raises(ValueError, match="^[^\n]*" + problem.replace("?", r"\?")) as caught:
        SMTPSender(url, sender=SENDER, **keywords)
    assert "secret" not in str(caught.value)


class Connected(Exception):
    """Raised by the stand-in smtplib classes below, with what they were given."""


@pytest.mark.parametrize("url, client, host, port", [
    pytest.param("smtp://mail.example.com", "SMTP", "mail.example.com", 25, id="smtp-default-port"),
    pytest.param("smtps://mail.example.com", "SMTP_SSL", "mail.example.com", 465, id="smtps-default-port"),
    pytest.param("SMTP://Mail.Example.COM:2525/", "SMTP", "mail.example.com", 2525, id="case-and-slash"),
    pytest.param("smtp://[::1]:2525", "SMTP", "::1", 2525, id="ipv6"),
])
def test_url_forms_choose_the_client_host_and_port(
    monkeypatch: pytest.MonkeyPatch, url: str, client: str, host: str, port: int,
) -> None:
    def connect(*args: object, **kwargs: object) -> None:
        raise Connected(client, args[:2])

    monkeypatch.setattr(smtplib, client, connect)
    with pytest.raises(Connected) as caught:
        SMTPSender(url, sender=SENDER)("alice@example.org", "s", "t")
    assert caught.value.args == (client, (host, port))


# --- delivery to a real server ----------------------------------------------------------------------------------

def test_plain_smtp_delivers_the_message_to_the_server() -> None:
    with smtp_server() as (port, mailbox):
        SMTPSender(f"smtp://127.0.0.1:{port}", sender=SENDER)("alice@example.org", "Verify", "Open the link.\n")
    [received] = mailbox.received
    assert (received.mail_from, received.rcpt_tos) == ("noreply@example.com", ["alice@example.org"])
    assert (received.tls, received.login) == (False, None)
    assert list(received.message.keys()) == HEADERS
    assert (received.message["To"], received.message["Subject"]) == ("alice@example.org", "Verify")
    assert received.message.get_content() == "Open the link.\n"


@pytest.mark.parametrize("subject, text", [
    pytest.param("Vérifiez votre adresse", "Bonjour Zoë,\nCliquez ici.\n", id="latin"),
    pytest.param("登录代码 🔑", "您的代码是 12345678\n", id="cjk-emoji"),
    pytest.param("Ünïcödé " * 20 + "end", "é" * 2000 + "\n", id="folded-subject-long-line"),
    pytest.param("Windows", "one\r\ntwo\r\n", id="crlf-text"),
])
def test_unicode_subject_and_text_arrive_unchanged(subject: str, text: str) -> None:
    with smtp_server() as (port, mailbox):
        SMTPSender(f"smtp://127.0.0.1:{port}", sender="Zoë <noreply@example.com>")("alice@example.org", subject, text)
    [received] = mailbox.received
    assert received.raw.isascii()
    assert received.message["Subject"] == subject
    assert received.message["From"].addresses[0].display_name == "Zoë"
    assert received.message.get_content() == text.replace("\r\n", "\n")


def test_an_international_address_is_sent_with_smtputf8() -> None:
    with smtp_server() as (port, mailbox):
        SMTPSender(f"smtp://127.0.0.1:{port}", sender=SENDER)("zoë@bücher.de", "s", "t")
    [received] = mailbox.received
    assert received.rcpt_tos == ["zoë@bücher.de"]
    assert received.message["To"] == "zoë@bücher.de"


@pytest.mark.parametrize("query, keywords", [
    pytest.param("?starttls=1", {}, id="url"),
    pytest.param("", {"starttls": True}, id="keyword"),
])
def test_starttls_upgrades_the_connection_before_the_message(
    cert: Certificate, query: str, keywords: dict[str, Any],
) -> None:
    with smtp_server(tls_context=cert.server_context(), require_starttls=True) as (port, mailbox):
        send = SMTPSender(f"smtp://127.0.0.1:{port}{query}", sender=SENDER, ssl_context=cert.client_context(),
                          **keywords)
        send("alice@example.org", "s", "t")
    [received] = mailbox.received
    assert received.tls


def test_a_server_requiring_starttls_refuses_a_sender_without_it(cert: Certificate) -> None:
    with smtp_server(tls_context=cert.server_context(), require_starttls=True) as (port, mailbox):
        with pytest.raises(smtplib.SMTPSenderRefused):
            SMTPSender(f"smtp://127.0.0.1:{port}", sender=SENDER)("alice@example.org", "s", "t")
    assert mailbox.received == []


def test_starttls_the_server_does_not_offer_fails_rather_than_sending_in_clear() -> None:
    with smtp_server() as (port, mailbox):
        with pytest.raises(smtplib.SMTPNotSupportedError):
            SMTPSender(f"smtp://127.0.0.1:{port}?starttls=1", sender=SENDER)("alice@example.org", "s", "t")
    assert mailbox.received == []


def test_smtps_speaks_tls_from_the_first_byte(cert: Certificate) -> None:
    with smtp_server(ssl_context=cert.server_context()) as (port, mailbox):
        SMTPSender(f"smtps://127.0.0.1:{port}", sender=SENDER, ssl_context=cert.client_context())(
            "alice@example.org", "s", "t")
    [received] = mailbox.received
    assert received.tls


@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
def test_by_default_a_certificate_no_authority_vouches_for_is_refused(cert: Certificate, scheme: str) -> None:
    if scheme == "smtps":
        server, url = smtp_server(ssl_context=cert.server_context()), "smtps://127.0.0.1:{port}"
    else:
        server, url = smtp_server(tls_context=cert.server_context()), "smtp://127.0.0.1:{port}?starttls=1"
    with server as (port, mailbox):
        with pytest.raises(ssl.SSLCertVerificationError):
            SMTPSender(url.format(port=port), sender=SENDER)("alice@example.org", "s", "t")
    assert mailbox.received == []


def test_a_certificate_for_another_host_name_is_refused(tmp_path: Path) -> None:
    other = certificate(tmp_path, host="mail.elsewhere.test")
    with smtp_server(ssl_context=other.server_context()) as (port, mailbox):
        with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
            SMTPSender(f"smtps://127.0.0.1:{port}", sender=SENDER, ssl_context=other.client_context())(
                "alice@example.org", "s", "t")
    assert mailbox.received == []


LOGIN, PASSWORD = "al@ice", "p:ss w/rd%"
URL_LOGIN = "al%40ice:p%3Ass%20w%2Frd%25"


def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (LOGIN.encode(), PASSWORD.encode())
    # handled=False: aiosmtpd then answers a failure with 535 itself.
    return AuthResult(success=good, handled=False, auth_data=data if good else None)


# aiosmtpd sees TLS only when it came from STARTTLS, so with implicit TLS it must
# be told not to insist on it (the connection is TLS all the same: received.tls).
STARTTLS_AUTH: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
SMTPS_AUTH: dict[str, Any] = {"authenticator": authenticator, "auth_require_tls": False}


@pytest.mark.parametrize("url, keywords, server", [
    pytest.param(f"smtp://{URL_LOGIN}@127.0.0.1:{{port}}?starttls=1", {}, STARTTLS_AUTH, id="starttls-url"),
    pytest.param("smtp://127.0.0.1:{port}?starttls=1", {"username": LOGIN, "password": PASSWORD}, STARTTLS_AUTH,
                 id="starttls-keywords"),
    pytest.param(f"smtps://{URL_LOGIN}@127.0.0.1:{{port}}", {}, SMTPS_AUTH, id="smtps-url"),
])
def test_smtp_login_over_tls_with_percent_decoded_credentials(
    cert: Certificate, url: str, keywords: dict[str, Any], server: dict[str, Any],
) -> None:
    tls = {"ssl_context": cert.server_context()} if url.startswith("smtps") else {"tls_context": cert.server_context()}
    with smtp_server(**tls, **server) as (port, mailbox):
        send = SMTPSender(url.format(port=port), sender=SENDER, ssl_context=cert.client_context(), **keywords)
        send("alice@example.org", "s", "t")
    [received] = mailbox.received
    assert (received.tls, received.login) == (True, LOGIN.encode())


def test_a_wrong_password_raises_smtps_authentication_error_and_sends_nothing(cert: Certificate) -> None:
    with smtp_server(tls_context=cert.server_context(), **STARTTLS_AUTH) as (port, mailbox):
        send = SMTPSender(f"smtp://{LOGIN.replace('@', '%40')}:wrong@127.0.0.1:{port}?starttls=1", sender=SENDER,
                          ssl_context=cert.client_context())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            send("alice@example.org", "s", "t")
    assert mailbox.received == []


class RefusingMailbox(Mailbox):
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        return "550 no such user here"


def test_a_refused_recipient_raises_smtplibs_error() -> None:
    with smtp_server(RefusingMailbox()) as (port, mailbox):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
            SMTPSender(f"smtp://127.0.0.1:{port}", sender=SENDER)("nobody@example.org", "s", "t")
    assert caught.value.recipients == {"nobody@example.org": (550, b"no such user here")}
    assert mailbox.received == []


def test_a_server_that_never_answers_times_out_after_timeout_seconds() -> None:
    errors: list[BaseException] = []

    def send(port: int) -> None:
        try:
            SMTPSender(f"smtp://127.0.0.1:{port}", sender=SENDER, timeout=0.3)("alice@example.org", "s", "t")
        except smtplib.SMTPServerDisconnected as error:
            errors.append(error)

    with socket.socket() as silent:  # accepts connections (the backlog does), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        thread = threading.Thread(target=send, args=(silent.getsockname()[1],), daemon=True)
        thread.start()
        thread.join(5)  # without the timeout the sender would wait forever: fail, do not hang
        elapsed = time.monotonic() - started
    assert not thread.is_alive()
    assert 0.25 <= elapsed < 3
    assert len(errors) == 1 and "timed out" in str(errors[0])


def test_an_unreachable_server_raises_oserror(closed_port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        SMTPSender(f"smtp://127.0.0.1:{closed_port}", sender=SENDER)("alice@example.org", "s", "t")


@pytest.mark.parametrize("to, subject", [
    pytest.param("alice@example.org\r\nBcc: eve@evil.example", "s", id="to-crlf"),
    pytest.param("alice@example.org, eve@evil.example", "s", id="to-two-addresses"),
    pytest.param("alice@example.org", "Hi\nBcc: eve@evil.example", id="subject-lf"),
    pytest.param("alice@example.org", "Hi\u2028Bcc: eve@evil.example", id="subject-line-separator"),
])
def test_a_bad_to_or_subject_is_refused_before_connecting(closed_port: int, to: str, subject: str) -> None:
    # The server is unreachable: had the sender connected first, this would be ConnectionRefusedError.
    with pytest.raises(ValueError, match="must be one"):
        SMTPSender(f"smtp://127.0.0.1:{closed_port}", sender=SENDER)(to, subject, "t")


def test_one_sender_serves_many_threads_one_connection_per_message() -> None:
    with smtp_server() as (port, mailbox):
        send = SMTPSender(f"smtp://127.0.0.1:{port}", sender=SENDER)
        threads = [threading.Thread(target=send, args=(f"user{n}@example.org", f"code {n}", f"{n}\n"))
                   for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted((r.rcpt_tos[0], r.message["Subject"], r.message.get_content()) for r in mailbox.received) == sorted(
        (f"user{n}@example.org", f"code {n}", f"{n}\n") for n in range(8))


# --- ConsoleSender and MemorySender -----------------------------------------------------------------------------

def console_block(to: str, subject: str, text: str) -> str:
    return f"----- mail to {to}\nSubject: {subject}\n\n{text}\n----- end of mail\n"


def test_console_sender_prints_the_message() -> None:
    stream = io.StringIO()
    ConsoleSender(stream)("alice@example.org", "Your code", "12345678")
    assert stream.getvalue() == console_block("alice@example.org", "Your code", "12345678")


def test_console_sender_writes_to_stderr_as_it_is_at_each_call(capsys: pytest.CaptureFixture[str]) -> None:
    send = ConsoleSender()
    capsys.readouterr()
    send("alice@example.org", "Grüße", "Hallo ☃")
    assert capsys.readouterr() == ("", console_block("alice@example.org", "Grüße", "Hallo ☃"))


class SlowStream(io.StringIO):
    """Writes one character at a time, letting other threads run in between."""

    def write(self, text: str) -> int:
        for char in text:
            super().write(char)
            time.sleep(0)
        return len(text)


def test_console_sender_keeps_messages_from_concurrent_threads_whole() -> None:
    stream = SlowStream()
    senders = [ConsoleSender(stream), ConsoleSender(stream)]  # two senders, one stream: still whole

    def send_some(n: int) -> None:
        for i in range(5):
            senders[n % 2](f"user{n}@example.org", f"code {n}.{i}", f"line one\nline {n}.{i}")

    threads = [threading.Thread(target=send_some, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blocks = [block + "----- end of mail\n" for block in stream.getvalue().split("----- end of mail\n")[:-1]]
    assert sorted(blocks) == sorted(console_block(f"user{n}@example.org", f"code {n}.{i}", f"line one\nline {n}.{i}")
                                    for n in range(6) for i in range(5))


@pytest.mark.parametrize("make", [
    pytest.param(lambda: ConsoleSender(io.StringIO()), id="console"),
    pytest.param(MemorySender, id="memory"),
])
def test_development_senders_refuse_what_smtp_refuses(make: Callable[[], MailSender]) -> None:
    send = make()
    with pytest.raises(ValueError, match="to must be one address"):
        send("alice@example.org, eve@evil.example", "s", "t")
    with pytest.raises(ValueError, match="subject must be one line"):
        send("alice@example.org", "Hi\r\nBcc: eve@evil.example", "t")


@pytest.mark.parametrize("make", [
    pytest.param(lambda: ConsoleSender(io.StringIO()), id="console"),
    pytest.param(MemorySender, id="memory"),
    pytest.param(lambda: SMTPSender("smtp://127.0.0.1:1", sender=SENDER), id="smtp"),
    pytest.param(lambda: partial(compose, SENDER), id="compose"),
])
@pytest.mark.parametrize("field", ["to", "subject", "text"])
def test_every_sender_refuses_an_argument_that_is_not_a_string_by_name(make: Callable[[], MailSender],
                                                                      field: str) -> None:
    values: dict[str, Any] = {"to": "alice@example.org", "subject": "Hello", "text": "Hi"}
    values[field] = None
    with pytest.raises(TypeError, match=f"^{field} must be a string, not NoneType"):
        make()(values["to"], values["subject"], values["text"])


def test_a_sender_that_is_not_a_string_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"^sender must be a string, not NoneType"):
        SMTPSender("smtp://127.0.0.1", sender=None)  # type: ignore[arg-type]


def test_memory_sender_keeps_each_message_in_order() -> None:
    send = MemorySender()
    send("alice@example.org", "Verify", "link")
    send("bob@example.org", "Code", "1234")
    assert send.messages == [SentMail(to="alice@example.org", subject="Verify", text="link"),
                             SentMail(to="bob@example.org", subject="Code", text="1234")]
