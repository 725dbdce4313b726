"""lucia_wsgi demo: sign up (with a verified email address), log in, forgotten passwords,
sign-in codes by mail, profile, devices and log out, on SQLite, served by waitress.

Run it with ``python demo_app.py [--db demo.db] [--host 127.0.0.1] [--port 8000]
[--smtp smtp://host:port] [--base-url URL]`` (``--port 0`` picks a free port;
without ``--smtp`` mail is printed). Tests import :func:`make_app` and drive it
with WebTest, no server needed.

Beside it: ``demo_flows.py`` (email verification, password reset, sign-in
codes), ``demo_pages.py`` (the HTML), ``demo_forms.py`` (reading input) and
``demo_mail.py`` (the mail and the outbox that sends it).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from webob import Request, Response

from demo_flows import AccountFlows
from demo_forms import DEVICE_ID, USERNAME, BadRequest, read_form, valid_email
from demo_pages import (
    EMAIL_RULE,
    LOGIN_FAILED,
    PASSWORD_MAX,
    PASSWORD_MIN,
    PASSWORD_RULE,
    SCRIPT,
    STYLE,
    USERNAME_RULE,
    error_list,
    escape,
    login_form,
    page,
    profile_body,
    redirect,
    signup_form,
    static,
    too_many,
)
from lucia_wsgi import AuthRequest, LuciaError, LuciaMiddleware, lucia
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.mail import ConsoleSender, MailSender, SMTPSender

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["LOGIN_FAILED", "DemoApp", "make_app", "main", "parse_args"]

MAIL_FROM = "lucia_wsgi demo <demo@localhost>"
USER_ATTRIBUTES = {"username": "TEXT", "email": "TEXT", "email_verified": "INTEGER"}

Handler = Callable[["DemoApp", Request, AuthRequest], Response]


class DemoApp(AccountFlows):
    """The pages; ``LuciaMiddleware`` around it provides ``environ["lucia.auth"]``.

    The account flows (email verification, password reset, sign-in codes) and
    the mail are :class:`~demo_flows.AccountFlows`'.
    """

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        # The raw path: WebOb's path_info raises on bytes that are not UTF-8 (GET /%80).
        route = ROUTES.get(environ.get("PATH_INFO", ""))
        if route is None:
            response = page("Not found", "<p>There is no such page.</p>", status=404)
        elif request.method not in route:
            response = page("Method not allowed", "<p>Use the forms.</p>", status=405)
            response.allow = tuple(route)
        else:
            try:
                response = self._answer(route[request.method], request)
            except BadRequest as error:
                response = page("Bad request", f"<p>{escape(error)}</p>", status=400)
            except LuciaError as error:
                if error.code != "AUTH_TOO_MANY_ATTEMPTS":
                    raise
                response = too_many(error.retry_after or 1)
        return response(environ, start_response)

    def _answer(self, handler: Handler, request: Request) -> Response:
        auth_request: AuthRequest = request.environ["lucia.auth"]
        if request.method == "POST":
            try:
                self.auth.validate_request_headers(request.environ)
            except LuciaError:
                return page("Forbidden", "<p>Cross-site form posts are refused.</p>", status=403)
        return handler(self, request, auth_request)

    # sign up and log in

    def home(self, request: Request, auth_request: AuthRequest) -> Response:
        return redirect("/profile")

    def signup_page(self, request: Request, auth_request: AuthRequest) -> Response:
        if auth_request.validate() is not None:
            return redirect("/profile")
        return page("Sign up", signup_form())

    def signup(self, request: Request, auth_request: AuthRequest) -> Response:
        form = read_form(request, ("username", "email", "password"))
        auth_request.throttle_client(self.login_ip)
        username, password = form["username"], form["password"]
        email = valid_email(form["email"])
        errors = []
        if not USERNAME.match(username):
            errors.append(f"Username: {USERNAME_RULE}.")
        if email is None:
            errors.append(f"Email address: {EMAIL_RULE}.")
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            errors.append(f"Password: {PASSWORD_RULE}.")
        status = 400
        if not errors:
            try:
                user = self.auth.create_user("username", username, password=password, attributes={
                    "username": username, "email": email, "email_verified": 0})
            except LuciaError as error:
                if error.code == "AUTH_DUPLICATE_PROVIDER_ID":
                    errors, status = ["That username is taken."], 409
                elif error.code == "AUTH_DUPLICATE_USER_DATA":  # the unique email column
                    errors, status = ["That email address is taken."], 409
                elif error.code == "AUTH_INVALID_PASSWORD":  # e.g. grows past 4096 bytes under NFKC
                    errors = [f"Password: {PASSWORD_RULE}."]
                else:
                    raise
            else:
                self.send_verification(user)
                auth_request.sign_in(user["user_id"])
                return redirect("/profile")
        body = error_list(errors) + signup_form(username, form["email"])
        return page("Sign up", body, status=status)

    def login_page(self, request: Request, auth_request: AuthRequest) -> Response:
        if auth_request.validate() is not None:
            return redirect("/profile")
        return page("Log in", login_form())

    def login(self, request: Request, auth_request: AuthRequest) -> Response:
        form = read_form(request, ("username", "password"))
        auth_request.throttle_client(self.login_ip)
        try:
            user = self.auth.authenticate_user("username", form["username"], form["password"])
        except LuciaError as error:
            if error.code == "AUTH_TOO_MANY_ATTEMPTS":  # this username's bucket: a 429, known user or not
                raise
            # One message whatever failed: unknown user, wrong, missing,
            # outdated or over-long password. Nothing to tell an attacker.
            return page("Log in", error_list([LOGIN_FAILED]) + login_form(), status=400)
        auth_request.sign_in(user["user_id"])
        return redirect("/profile")

    # profile and devices

    def profile(self, request: Request, auth_request: AuthRequest) -> Response:
        session, user = auth_request.validate_user()
        if session is None:
            return redirect("/login")
        devices = self.auth.get_user_sessions(session.user_id)
        return page("Profile", profile_body(user, session, devices), signed_in=True)

    def sign_out_device(self, request: Request, auth_request: AuthRequest) -> Response:
        device = read_form(request, ("device_id",))["device_id"]
        if not DEVICE_ID.match(device):
            raise BadRequest("device_id must be 20 lowercase hexadecimal digits")
        session = auth_request.validate()
        if session is None:
            return redirect("/login")
        # Only the user's own devices: another user's device id matches nothing.
        self.auth.invalidate_device(session.user_id, device)
        if device == session.device_id:  # this device (a hand-made post): a log-out
            auth_request.set_session(None)
            return redirect("/login")
        return redirect("/profile")

    def sign_out_other_devices(self, request: Request, auth_request: AuthRequest) -> Response:
        read_form(request, ())
        session = auth_request.validate()
        if session is None:
            return redirect("/login")
        self.auth.invalidate_all_user_sessions(session.user_id, keep=session.session_id)
        return redirect("/profile")

    def logout(self, request: Request, auth_request: AuthRequest) -> Response:
        session_id = self.auth.read_session_id(request.environ)
        if session_id:
            self.auth.invalidate_session(session_id)
            auth_request.set_session(None)
        return redirect("/login")

    def style(self, request: Request, auth_request: AuthRequest) -> Response:
        return static(STYLE, "text/css")

    def script(self, request: Request, auth_request: AuthRequest) -> Response:
        return static(SCRIPT, "text/javascript")


def _page(handler: Handler) -> dict[str, Handler]:
    return {"GET": handler, "HEAD": handler}


ROUTES: dict[str, dict[str, Handler]] = {
    "/": _page(DemoApp.home),
    "/signup": {**_page(DemoApp.signup_page), "POST": DemoApp.signup},
    "/login": {**_page(DemoApp.login_page), "POST": DemoApp.login},
    "/verify-email": {"GET": DemoApp.verify_email},  # not HEAD: a link checker's HEAD must not use the link
    "/verify-email/resend": {"POST": DemoApp.resend_verification},
    "/forgot-password": {**_page(DemoApp.forgot_page), "POST": DemoApp.forgot},
    "/reset-password": {**_page(DemoApp.reset_page), "POST": DemoApp.reset},
    "/signin-code": {**_page(DemoApp.code_request_page), "POST": DemoApp.code_request},
    "/signin-code/verify": {"POST": DemoApp.code_sign_in},
    "/profile": _page(DemoApp.profile),
    "/logout": {"POST": DemoApp.logout},
    "/devices/sign-out": {"POST": DemoApp.sign_out_device},
    "/devices/sign-out-others": {"POST": DemoApp.sign_out_other_devices},
    "/static/style.css": _page(DemoApp.style),
    "/static/demo.js": _page(DemoApp.script),
}


def _user(row: Any) -> dict[str, Any]:
    return {"user_id": row["id"], "username": row["username"], "email": row["email"],
            "email_verified": bool(row["email_verified"])}


def make_app(db_path: str | os.PathLike[str] = "demo.db", *, mail: MailSender | None = None,
             base_url: str = "http://127.0.0.1:8000", **options: Any) -> LuciaMiddleware:
    """The demo as a WSGI application on the SQLite file ``db_path`` (tables made if missing).

    ``mail`` is the ``send(to, subject, text)`` every message goes through
    (default :class:`~lucia_wsgi.mail.ConsoleSender`: printed); mailed links
    start with ``base_url``. ``options`` go to :func:`lucia_wsgi.lucia` (tests
    pass a cheap ``hash``). ``.app`` is the :class:`DemoApp` (``.app.close()``).
    """
    adapter = SQLiteAdapter(db_path)
    adapter.create_tables(user_attributes=USER_ATTRIBUTES)
    # One account per address (many may have none: accounts made before the column).
    adapter.connection.execute('CREATE UNIQUE INDEX IF NOT EXISTS user_email ON "user"(email)')
    settings: dict[str, Any] = {
        "adapter": adapter,
        "env": "DEV",  # plain HTTP on localhost; PROD for HTTPS (Secure cookies)
        "device_details": True,  # user agent and IP address for the Devices list
        "transform_user_data": _user,
        **options,
    }
    auth = lucia(**settings)
    return LuciaMiddleware(DemoApp(auth, adapter, ConsoleSender() if mail is None else mail, base_url), auth)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="lucia_wsgi demo: sign up, email verification, log in, password reset, sign-in codes, "
                    "profile, devices, log out.")
    parser.add_argument("--db", default="demo.db", help="SQLite file (default: demo.db)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--smtp", metavar="URL", help="send mail through this SMTP server (smtp://host:port, "
                        "smtps://..., ?starttls=1; see lucia_wsgi.mail.SMTPSender); default: print it")
    parser.add_argument("--mail-from", default=MAIL_FROM, help=f"the mail's sender (default: {MAIL_FROM})")
    parser.add_argument("--base-url", help="what mailed links start with (default: http://HOST:PORT)")
    args = parser.parse_args(argv)
    if args.base_url is not None and urlsplit(args.base_url).scheme not in ("http", "https"):
        parser.error(f"--base-url must start with http:// or https://, not {args.base_url!r}")
    try:
        args.mail = ConsoleSender() if args.smtp is None else SMTPSender(args.smtp, sender=args.mail_from)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: list[str] | None = None) -> None:
    from waitress import create_server

    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    app = make_app(args.db, mail=args.mail)
    server = create_server(app, host=args.host, port=args.port)
    assert isinstance(app.app, DemoApp)
    app.app.base_url = (args.base_url or f"http://{args.host}:{server.effective_port}").rstrip("/")
    print(f"lucia_wsgi demo on http://{args.host}:{server.effective_port}/ (database {args.db})", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        app.app.close()


if __name__ == "__main__":
    main()
