"""The account flows of ``demo_app.py``: email verification, forgotten passwords, sign-in codes.

:class:`AccountFlows` holds the throttles, token and code kinds and the
outbox, and the handlers of those pages; ``demo_app.DemoApp`` adds the rest.
Pages are coroutines, one copy for both shells (see ``demo_visit.py``): the
store calls they await are ``self.aio``'s. The numbers, and why, are in
docs/topics/demo.rst.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from webob import Response

from demo_forms import CODE, USERNAME, BadRequest, read_form, read_query, valid_email
from demo_mail import Outbox, code_mail, reset_mail, verify_mail
from demo_pages import (
    CODE_LENGTH,
    CODE_RULE,
    CODE_WRONG,
    EMAIL_RULE,
    LINK_GONE,
    PASSWORD_MAX,
    PASSWORD_MIN,
    PASSWORD_RULE,
    USERNAME_RULE,
    code_form,
    code_request_form,
    error_list,
    escape,
    forgot_form,
    new_code_form,
    page,
    paragraphs,
    redirect,
    reset_form,
)
from demo_visit import Aio, Visit
from lucia_wsgi import LuciaError
from lucia_wsgi.passwords import encode_password

if TYPE_CHECKING:
    from lucia_wsgi import Auth
    from lucia_wsgi.adapters import SQLiteAdapter
    from lucia_wsgi.mail import MailSender

# Per client address. Log-in, sign-up and sign-in code guesses share one
# bucket: 20 at once, then one every 5 seconds (720 an hour).
LOGIN_IP_CAPACITY, LOGIN_IP_REFILL = 20, timedelta(seconds=5)
# The forms that mail someone (reset link, sign-in code): 5 at once, then one a minute.
MAIL_IP_CAPACITY, MAIL_IP_REFILL = 5, timedelta(minutes=1)
VERIFY_EXPIRES = timedelta(hours=24)
RESET_EXPIRES = timedelta(minutes=30)
CODE_EXPIRES = timedelta(minutes=10)
_LINK_ERRORS = ("AUTH_INVALID_TOKEN", "AUTH_EXPIRED_TOKEN")


class AccountFlows:
    """The throttles, one-time tokens and codes, and the pages that use them.

    ``mail`` delivers every message, through :attr:`outbox` (off the request);
    links in it start with ``base_url``, never with the request's Host header,
    which a client chooses (a reset link pointing at an attacker's host would
    hand them the token). The outbox's jobs run on its own thread and call
    the synchronous objects; pages await :attr:`aio` (``asgi``: the ASGI
    shell's, see :class:`~demo_visit.Aio`).
    """

    #: Whether the pages are served by the ASGI shell (``demo_app.AsgiDemo``).
    asgi = False

    def __init__(self, auth: Auth, adapter: SQLiteAdapter, mail: MailSender, base_url: str) -> None:
        self.auth, self.adapter, self.mail = auth, adapter, mail
        self.base_url = base_url.rstrip("/")
        self.outbox = Outbox()
        self.login_ip = auth.throttle("login-ip", capacity=LOGIN_IP_CAPACITY, refill_every=LOGIN_IP_REFILL)
        self.mail_ip = auth.throttle("mail-ip", capacity=MAIL_IP_CAPACITY, refill_every=MAIL_IP_REFILL)
        # Issuing each is throttled per user by the library: 3 at once, then one every 5 minutes.
        self.verify_tokens = auth.tokens("verify-email", expires_in=VERIFY_EXPIRES)
        self.reset_tokens = auth.tokens("reset-password", expires_in=RESET_EXPIRES)
        self.codes = auth.codes("sign-in", expires_in=CODE_EXPIRES, length=CODE_LENGTH)
        self.aio = Aio(auth, verify_tokens=self.verify_tokens, reset_tokens=self.reset_tokens, codes=self.codes,
                       asgi=self.asgi)

    def close(self) -> None:
        """Finish the queued mail, then close this thread's database connection."""
        self.outbox.close()
        self.adapter.close()

    # accounts and mail

    def _link(self, path: str, **query: str) -> str:
        return f"{self.base_url}{path}?{urlencode(query)}"

    def user_by_email(self, email: str, *, verified: bool = False) -> Any:
        """The user whose address is ``email`` (only a verified one with ``verified``), or ``None``."""
        row = self.adapter.connection.execute(
            'SELECT id FROM "user" WHERE email = ? AND email_verified >= ?', (email, int(verified))).fetchone()
        return None if row is None else self.auth.get_user(row[0])

    async def send_verification(self, user: Any) -> None:
        """Issue a link verifying the user's address (throttled per user) and queue its mail."""
        token = await self.aio.verify_tokens.issue(user["user_id"], bound_to=user["email"])
        link = self._link("/verify-email", token=token, email=user["email"])
        subject, text = verify_mail(user["username"], user["email"], link, VERIFY_EXPIRES)
        self.outbox.put(lambda: self.mail(user["email"], subject, text))

    def _mail_reset_link(self, account: str) -> None:
        """Outbox job: a reset link for the account with this address or username, if there is one."""
        if "@" in account:
            user = self.user_by_email(account)
        else:
            try:
                user = self.auth.get_user_by_provider_id("username", account)
            except LuciaError:
                user = None
        if user is None or not user["email"]:
            return
        try:
            token = self.reset_tokens.issue(user["user_id"])
        except LuciaError:  # AUTH_TOO_MANY_ATTEMPTS: enough links are on their way
            return
        self.mail(user["email"], *reset_mail(user["username"], self._link("/reset-password", token=token),
                                             RESET_EXPIRES))

    def _mail_code(self, email: str) -> None:
        """Outbox job: a sign-in code to ``email`` if it is an account's verified address."""
        user = self.user_by_email(email, verified=True)
        if user is None:
            return
        try:
            code = self.codes.issue(user["user_id"])
        except LuciaError:  # AUTH_TOO_MANY_ATTEMPTS
            return
        self.mail(email, *code_mail(user["username"], code, CODE_EXPIRES))

    # email verification

    async def verify_email(self, visit: Visit) -> Response:
        link = read_query(visit, ("token", "email"))
        signed_in = await visit.lucia.validate() is not None
        try:
            user_id = await self.aio.verify_tokens.consume(link["token"], bound_to=link["email"])
        except LuciaError as error:
            if error.code not in _LINK_ERRORS:
                raise
            return page("Link not valid", paragraphs(LINK_GONE, "Log in and ask for a new one on your profile."),
                        status=400, signed_in=signed_in)
        user = await self.aio.auth.get_user(user_id)
        if user["email"] != link["email"]:
            return page("Link not valid", paragraphs("This link is for an address your account no longer uses."),
                        status=400, signed_in=signed_in)
        await self.aio.auth.update_user_attributes(user_id, {"email_verified": 1})
        return page("Email address confirmed", f"<p id=confirmed>{escape(link['email'])} is confirmed.</p>"
                    '<p><a href="/profile">Your profile</a></p>', signed_in=signed_in)

    async def resend_verification(self, visit: Visit) -> Response:
        read_form(visit, ())
        session, user = await visit.lucia.validate_user()
        if session is None:
            return redirect("/login")
        if not user["email"] or user["email_verified"]:
            return redirect("/profile")
        await self.send_verification(user)  # an empty bucket: AUTH_TOO_MANY_ATTEMPTS, the 429 page
        return page("Check your mail", paragraphs(f"We sent a new link to {user['email']}."), signed_in=True)

    # forgotten passwords

    async def forgot_page(self, visit: Visit) -> Response:
        return page("Forgot your password?", forgot_form())

    async def forgot(self, visit: Visit) -> Response:
        text = read_form(visit, ("account",))["account"]
        account = valid_email(text) or (text if USERNAME.match(text) else None)
        if account is None:  # decided by the text alone, never by the accounts
            body = error_list([f"Enter your email address, or your username ({USERNAME_RULE})."])
            return page("Forgot your password?", body + forgot_form(text), status=400)
        await visit.lucia.throttle_client(self.mail_ip)
        # The same answer and the same work whether or not the account exists:
        # the look-up, the link and the mail all happen in the outbox.
        self.outbox.put(lambda: self._mail_reset_link(account))
        return page("Check your mail", paragraphs(
            "If an account has that email address or username, we have mailed it a link to choose a new "
            f"password. The link works once, for {RESET_EXPIRES // timedelta(minutes=1)} minutes."))

    async def reset_page(self, visit: Visit) -> Response:
        return page("Choose a new password", reset_form(read_query(visit, ("token",))["token"]))

    async def reset(self, visit: Visit) -> Response:
        form = read_form(visit, ("token", "password"))
        password = form["password"]
        try:  # every rule before the token is used up: a refused password leaves the link working
            if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
                raise LuciaError("AUTH_INVALID_PASSWORD")
            encode_password(password)  # e.g. grows past 4096 bytes under NFKC
        except LuciaError:
            body = error_list([f"Password: {PASSWORD_RULE}."]) + reset_form(form["token"])
            return page("Choose a new password", body, status=400)
        try:
            user_id = await self.aio.reset_tokens.consume(form["token"])
        except LuciaError as error:
            if error.code not in _LINK_ERRORS:
                raise
            return page("Link not valid", paragraphs(LINK_GONE)
                        + '<p><a href="/forgot-password">Ask for a new link</a></p>', status=400)
        await self.aio.auth.update_user_password(user_id, password)  # ends every session of the user
        await self.aio.reset_tokens.revoke_all(user_id)  # and any other link still in a mailbox
        await visit.lucia.sign_in(user_id)
        return redirect("/profile")

    # sign-in codes

    async def code_request_page(self, visit: Visit) -> Response:
        return page("Email me a sign-in code", code_request_form())

    async def code_request(self, visit: Visit) -> Response:
        text = read_form(visit, ("email",))["email"]
        email = valid_email(text)
        if email is None:
            body = error_list([f"Email address: {EMAIL_RULE}."]) + code_request_form(text)
            return page("Email me a sign-in code", body, status=400)
        await visit.lucia.throttle_client(self.mail_ip)
        self.outbox.put(lambda: self._mail_code(email))  # the same answer and work, account or not
        return page("Enter your code", paragraphs(
            f"If {email} is the verified address of an account, we have mailed it a sign-in code. "
            f"It works once, for {CODE_EXPIRES // timedelta(minutes=1)} minutes.") + code_form(email))

    async def code_sign_in(self, visit: Visit) -> Response:
        form = read_form(visit, ("email", "code"))
        email = valid_email(form["email"])
        if email is None:
            raise BadRequest("the email field is not an address")
        await visit.lucia.throttle_client(self.login_ip)
        code = form["code"].strip()
        if not CODE.match(code):
            return page("Enter your code", error_list([f"Code: {CODE_RULE}."]) + code_form(email), status=400)
        user = await self.aio.run(self.user_by_email, email, verified=True)
        try:
            if user is None:
                raise LuciaError("AUTH_INVALID_TOKEN")  # answered as a wrong guess
            await self.aio.codes.consume(user["user_id"], code)
        except LuciaError as error:
            if error.code == "AUTH_INVALID_TOKEN":
                return page("Enter your code", error_list([CODE_WRONG]) + code_form(email), status=400)
            ended = {"AUTH_TOO_MANY_ATTEMPTS": "Too many wrong codes: this one no longer works.",
                     "AUTH_EXPIRED_TOKEN": "This code has expired."}.get(error.code)
            if ended is None:
                raise
            return page("Request a new code", error_list([ended]) + new_code_form(email), status=400)
        await visit.lucia.sign_in(user["user_id"])
        return redirect("/profile")
