"""Account flows as recipes: sign-up and log-in with throttles, email verification, password
reset, sign-in codes, and a devices list. Framework-neutral: each method takes the request's
:class:`~lucia_wsgi.AuthRequest` (``environ["lucia.auth"]``) and returns what a view renders.

Users sign in with their email address: the provider is ``"email"``, so finding the account of
an address is ``auth.get_user_by_provider_id("email", address)`` on any store.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from lucia_wsgi import Auth, AuthRequest, LuciaError, Session, lucia
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.mail import MailSender
from lucia_wsgi.passwords import encode_password

Job = Callable[[], None]


def make_auth(path: str = "accounts.db") -> Auth:
    adapter = SQLiteAdapter(path)
    adapter.create_tables(user_attributes={"email": "TEXT", "email_verified": "INTEGER NOT NULL DEFAULT 0"})
    return lucia(
        adapter=adapter,
        env="DEV",  # "PROD" behind HTTPS
        device_details=True,  # keep each session's User-Agent and IP address for the devices list
        transform_user_data=lambda row: {"user_id": row["id"], "email": row["email"],
                                         "email_verified": bool(row["email_verified"])},
    )


class Outbox:
    """Runs jobs (sending mail) one at a time on a thread of its own, off the request path."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def __call__(self, job: Job) -> None:
        self.jobs.put(job)

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            try:
                job()
            except OSError:  # smtplib's errors are OSErrors: log it, keep the outbox going
                logging.getLogger(__name__).exception("sending mail failed")

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()


def error_answer(error: LuciaError) -> tuple[int, list[tuple[str, str]]]:
    """The status and headers for a refused attempt: 429 with ``Retry-After`` when throttled."""
    if error.code == "AUTH_TOO_MANY_ATTEMPTS" and error.retry_after is not None:
        return 429, [("Retry-After", str(error.retry_after))]
    return error.status_hint, []


class Accounts:
    def __init__(self, auth: Auth, send: MailSender, base_url: str, run_later: Callable[[Job], None]) -> None:
        self.auth, self.send, self.run_later = auth, send, run_later
        self.base_url = base_url.rstrip("/")  # links never start with the request's Host header
        # Per client address: 20 at once, then one every 5 seconds (720 an hour).
        self.login_ip = auth.throttle("login-ip", capacity=20, refill_every=timedelta(seconds=5))
        # The forms that mail someone who may not have asked: 5 at once, then one a minute.
        self.mail_ip = auth.throttle("mail-ip", capacity=5, refill_every=timedelta(minutes=1))
        # Issuing each is throttled per user by the library: 3 at once, then one every 5 minutes.
        self.verify_tokens = auth.tokens("verify-email", expires_in=timedelta(hours=24))
        self.reset_tokens = auth.tokens("reset-password", expires_in=timedelta(minutes=30))
        self.codes = auth.codes("sign-in", expires_in=timedelta(minutes=10), length=8, max_attempts=5)

    def link(self, path: str, **query: str) -> str:
        return f"{self.base_url}{path}?{urlencode(query)}"

    def user_by_email(self, email: str) -> Any:
        try:
            return self.auth.get_user_by_provider_id("email", email)
        except LuciaError:  # AUTH_INVALID_PROVIDER_ID: no such account
            return None

    # sign-up and log-in

    def sign_up(self, request: AuthRequest, email: str, password: str) -> Any:
        request.throttle_client(self.login_ip)  # AUTH_TOO_MANY_ATTEMPTS: answer error_answer(error)
        user = self.auth.create_user("email", email, password=password,
                                     attributes={"email": email, "email_verified": 0})
        request.sign_in(user["user_id"])
        self.send_verification(user)
        return user

    def log_in(self, request: AuthRequest, email: str, password: str) -> Any:
        request.throttle_client(self.login_ip)
        # authenticate_user also takes from the per-address bucket (login_throttle): 10 tries, then
        # one a minute. Show one message for every LuciaError but AUTH_TOO_MANY_ATTEMPTS.
        user = self.auth.authenticate_user("email", email, password)
        request.sign_in(user["user_id"])
        return user

    # email verification

    def send_verification(self, user: Any) -> None:
        token = self.verify_tokens.issue(user["user_id"], bound_to=user["email"])  # throttled per user
        link = self.link("/verify-email", token=token, email=user["email"])
        self.run_later(lambda: self.send(user["email"], "Confirm your address", f"Open {link} within 24 hours."))

    def verify_email(self, token: str, email: str) -> bool:
        """``GET /verify-email?token=...&email=...``: True when the link confirmed the address."""
        try:
            user_id = self.verify_tokens.consume(token, bound_to=email)  # once, in any browser
        except LuciaError:  # AUTH_INVALID_TOKEN (used, unknown, other address), AUTH_EXPIRED_TOKEN
            return False
        if self.auth.get_user(user_id)["email"] != email:  # the account changed address since
            return False
        self.auth.update_user_attributes(user_id, {"email_verified": 1})
        return True

    # password reset

    def forgot_password(self, request: AuthRequest, email: str) -> None:
        """``POST /forgot-password``: answer "check your mail" whether or not the account exists."""
        request.throttle_client(self.mail_ip)
        self.run_later(lambda: self._mail_reset_link(email))  # the look-up too: no timing difference

    def _mail_reset_link(self, email: str) -> None:
        user = self.user_by_email(email)
        if user is None:
            return
        try:
            token = self.reset_tokens.issue(user["user_id"])
        except LuciaError:  # AUTH_TOO_MANY_ATTEMPTS: enough links are on their way; say nothing
            return
        self.send(email, "Choose a new password", f"Open {self.link('/reset-password', token=token)}")

    def reset_password(self, request: AuthRequest, token: str, password: str) -> Session:
        """``POST /reset-password``: a refused password leaves the link working; raises LuciaError."""
        encode_password(password)  # every rule before the token is used up (AUTH_INVALID_PASSWORD)
        user_id = self.reset_tokens.consume(token)  # AUTH_INVALID_TOKEN, AUTH_EXPIRED_TOKEN
        self.auth.update_user_password(user_id, password)  # ends every session, an attacker's too
        self.reset_tokens.revoke_all(user_id)  # and the other links still in a mailbox
        return request.sign_in(user_id)

    # sign-in codes

    def request_code(self, request: AuthRequest, email: str) -> None:
        """``POST /signin-code``: answer with the code form whether or not the account exists."""
        request.throttle_client(self.mail_ip)
        self.run_later(lambda: self._mail_code(email))

    def _mail_code(self, email: str) -> None:
        user = self.user_by_email(email)
        if user is None or not user["email_verified"]:  # never to an address nobody proved
            return
        try:
            code = self.codes.issue(user["user_id"])  # replaces the user's previous code
        except LuciaError:  # AUTH_TOO_MANY_ATTEMPTS
            return
        self.send(email, "Your sign-in code", f"{code} (valid for 10 minutes)")

    def sign_in_with_code(self, request: AuthRequest, email: str, code: str) -> Session:
        """Raises ``AUTH_INVALID_TOKEN`` (wrong), ``AUTH_TOO_MANY_ATTEMPTS`` (void), ``AUTH_EXPIRED_TOKEN``."""
        request.throttle_client(self.login_ip)
        user = self.user_by_email(email)
        if user is None or not user["email_verified"]:
            raise LuciaError("AUTH_INVALID_TOKEN")  # answered as a wrong guess
        self.codes.consume(user["user_id"], code.strip())
        return request.sign_in(user["user_id"])

    # devices

    def devices(self, request: AuthRequest) -> list[dict[str, Any]]:
        """The signed-in devices of the request's user, this one first, for a profile page."""
        session, user = request.validate_user()
        if session is None:
            return []
        rows = [{"device_id": other.device_id, "this_device": other.device_id == session.device_id,
                 "signed_in": other.created_at, "last_seen": other.last_seen,
                 "user_agent": other.user_agent, "ip_address": other.ip_address}
                for other in self.auth.get_user_sessions(user["user_id"])]
        return sorted(rows, key=lambda row: not row["this_device"])

    def sign_out_device(self, request: AuthRequest, device_id: str) -> bool:
        """``POST /devices/sign-out``: only the user's own devices; an unknown id ends nothing."""
        session, user = request.validate_user()  # a POST: the Origin check guards it
        return session is not None and self.auth.invalidate_device(user["user_id"], device_id)

    def sign_out_others(self, request: AuthRequest) -> None:
        """``POST /devices/sign-out-others``: every session of the user but this device's."""
        session, user = request.validate_user()
        if session is not None:
            self.auth.invalidate_all_user_sessions(user["user_id"], keep=session.session_id)
