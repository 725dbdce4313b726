"""The three mail senders: SMTP for production, the console for development, memory for tests."""

from __future__ import annotations

import os

from lucia_wsgi.mail import ConsoleSender, MailSender, MemorySender, SMTPSender


def production_sender() -> MailSender:
    """A relay on port 587, upgraded with STARTTLS; refuses to send in clear text."""
    return SMTPSender("smtp://mail.example.com:587?starttls=1", sender="Example <noreply@example.com>",
                      username="noreply", password=os.environ["SMTP_PASSWORD"])


def development_sender() -> MailSender:
    return ConsoleSender()  # prints each message on standard error


def test_sender() -> MemorySender:
    return MemorySender()  # .messages: a list of SentMail(to, subject, text)


def mail_code(send: MailSender, to: str, code: str) -> None:
    send(to, "Your sign-in code", f"{code} (valid for 10 minutes)")  # any sender: one plain-text message
