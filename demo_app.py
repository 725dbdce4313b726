"""lucia_wsgi demo: sign up (with a verified email address), log in, forgotten passwords,
sign-in codes by mail, profile, devices and log out, on SQLite, served by waitress
(WSGI) or, with ``--asgi``, by uvicorn (ASGI).

Run it with ``python demo_app.py [--asgi] [--db demo.db] [--host 127.0.0.1]
[--port 8000] [--smtp smtp://host:port] [--base-url URL] [--active-period SECONDS]``
(``--port 0`` picks a free port; without ``--smtp`` mail is printed). Tests
import :func:`make_app` (WSGI, driven with WebTest) and :func:`make_asgi_app`
(ASGI), no server needed.

The pages are written once (coroutines, see ``demo_visit.py``) and served
by two thin shells: :class:`WsgiDemo` under ``LuciaMiddleware``,
:class:`AsgiDemo` under ``LuciaASGIMiddleware``. Beside it: ``demo_flows.py``
(email verification, password reset, sign-in codes), ``demo_pages.py`` (the
HTML), ``demo_forms.py`` (reading input), ``demo_mail.py`` (the mail and the
outbox that sends it), ``demo_visit.py`` (what a page sees of either shell)
and ``demo_asgi.py`` (the ASGI plumbing and uvicorn).
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from webob import Response

from demo_asgi import Receive, Send, lifespan, listening_socket, read_body, send_response, uvicorn_server
from demo_flows import AccountFlows
from demo_forms import DEVICE_ID, USERNAME, BadRequest, form_length, read_form, valid_email
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
from demo_visit import InlineRequest, Visit, run_now
from lucia_wsgi import Auth, LuciaError, LuciaMiddleware, lucia
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.asgi import AsyncAuthRequest, LuciaASGIMiddleware
from lucia_wsgi.mail import ConsoleSender, MailSender, SMTPSender

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["LOGIN_FAILED", "AsgiDemo", "DemoApp", "WsgiDemo", "make_app", "make_asgi_app", "main", "parse_args"]

MAIL_FROM = "lucia_wsgi demo <demo@localhost>"
USER_ATTRIBUTES = {"username": "TEXT", "email": "TEXT", "email_verified": "INTEGER"}

Page = Callable[["DemoApp", Visit], Awaitable[Response]]


class DemoApp(AccountFlows):
    """The pages, written once for both shells (coroutines, see ``demo_visit.py``).

    :class:`WsgiDemo` serves them under ``LuciaMiddleware``, :class:`AsgiDemo`
    under ``LuciaASGIMiddleware``; :meth:`answer` is what both call. The
    account flows (email verification, password reset, sign-in codes) and
    the mail are :class:`~demo_flows.AccountFlows`'.
    """

    async def answer(self, visit: Visit) -> Response:
        """The response to one request: its page's, or a 404, 405, 400, 403 or 429 page."""
        # The raw PATH_INFO (WebOb's path_info would raise on bytes that are not UTF-8: GET /%80).
        route = ROUTES.get(visit.path)
        if route is None:
            return page("Not found", "<p>There is no such page.</p>", status=404)
        if visit.method not in route:
            response = page("Method not allowed", "<p>Use the forms.</p>", status=405)
            response.allow = tuple(route)
            return response
        try:
            return await self._answer(route[visit.method], visit)
        except BadRequest as error:
            return page("Bad request", f"<p>{escape(error)}</p>", status=400)
        except LuciaError as error:
            if error.code != "AUTH_TOO_MANY_ATTEMPTS":
                raise
            return too_many(error.retry_after or 1)

    async def _answer(self, handler: Page, visit: Visit) -> Response:
        if visit.method == "POST":
            try:
                self.auth.validate_request_headers(visit.environ)
            except LuciaError:
                return page("Forbidden", "<p>Cross-site form posts are refused.</p>", status=403)
        return await handler(self, visit)

    # sign up and log in

    async def home(self, visit: Visit) -> Response:
        return redirect("/profile")

    async def signup_page(self, visit: Visit) -> Response:
        if await visit.lucia.validate() is not None:
            return redirect("/profile")
        return page("Sign up", signup_form())

    async def signup(self, visit: Visit) -> Response:
        form = read_form(visit, ("username", "email", "password"))
        await visit.lucia.throttle_client(self.login_ip)
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
                user = await self.aio.auth.create_user("username", username, password=password, attributes={
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
                await self.send_verification(user)
                await visit.lucia.sign_in(user["user_id"])
                return redirect("/profile")
        body = error_list(errors) + signup_form(username, form["email"])
        return page("Sign up", body, status=status)

    async def login_page(self, visit: Visit) -> Response:
        if await visit.lucia.validate() is not None:
            return redirect("/profile")
        return page("Log in", login_form())

    async def login(self, visit: Visit) -> Response:
        form = read_form(visit, ("username", "password"))
        await visit.lucia.throttle_client(self.login_ip)
        try:
            user = await self.aio.auth.authenticate_user("username", form["username"], form["password"])
        except LuciaError as error:
            if error.code == "AUTH_TOO_MANY_ATTEMPTS":  # this username's bucket: a 429, known user or not
                raise
            # One message whatever failed: unknown user, wrong, missing,
            # outdated or over-long password. Nothing to tell an attacker.
            return page("Log in", error_list([LOGIN_FAILED]) + login_form(), status=400)
        await visit.lucia.sign_in(user["user_id"])
        return redirect("/profile")

    # profile and devices

    async def profile(self, visit: Visit) -> Response:
        session, user = await visit.lucia.validate_user()
        if session is None:
            return redirect("/login")
        devices = await self.aio.auth.get_user_sessions(session.user_id)
        return page("Profile", profile_body(user, session, devices), signed_in=True)

    async def sign_out_device(self, visit: Visit) -> Response:
        device = read_form(visit, ("device_id",))["device_id"]
        if not DEVICE_ID.match(device):
            raise BadRequest("device_id must be 20 lowercase hexadecimal digits")
        session = await visit.lucia.validate()
        if session is None:
            return redirect("/login")
        # Only the user's own devices: another user's device id matches nothing.
        await self.aio.auth.invalidate_device(session.user_id, device)
        if device == session.device_id:  # this device (a hand-made post): a log-out
            visit.lucia.set_session(None)
            return redirect("/login")
        return redirect("/profile")

    async def sign_out_other_devices(self, visit: Visit) -> Response:
        read_form(visit, ())
        session = await visit.lucia.validate()
        if session is None:
            return redirect("/login")
        await self.aio.auth.invalidate_all_user_sessions(session.user_id, keep=session.session_id)
        return redirect("/profile")

    async def logout(self, visit: Visit) -> Response:
        session_id = self.auth.read_session_id(visit.environ)
        if session_id:
            await self.aio.auth.invalidate_session(session_id)
            visit.lucia.set_session(None)
        return redirect("/login")

    async def style(self, visit: Visit) -> Response:
        return static(STYLE, "text/css")

    async def script(self, visit: Visit) -> Response:
        return static(SCRIPT, "text/javascript")


class WsgiDemo(DemoApp):
    """The demo as a WSGI application; ``LuciaMiddleware`` around it provides ``environ["lucia.auth"]``."""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = form_length(environ)
        body = None if length is None else environ["wsgi.input"].read(length)
        visit = Visit(environ, body, InlineRequest(environ["lucia.auth"]))
        response = run_now(self.answer(visit))
        return response(environ, start_response)


class AsgiDemo(DemoApp):
    """The demo as an ASGI application; ``LuciaASGIMiddleware`` around it provides ``scope["lucia.auth"]``.

    The pages' store calls run in ``auth.aio``'s worker threads
    (:attr:`~demo_flows.AccountFlows.aio`), never on the event loop.
    """

    asgi = True

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":  # a WebSocket: the demo has none, the handshake is refused
            await receive()
            await send({"type": "websocket.close"})
            return
        lucia_request: AsyncAuthRequest = scope["lucia.auth"]
        environ = lucia_request.environ  # what the middleware read of the scope, in WSGI's keys
        visit = Visit(environ, await read_body(receive, form_length(environ)), lucia_request)
        await send_response(send, await self.answer(visit), environ)

    def close(self) -> None:
        """Finish the queued mail, close this thread's connection, then end the worker threads (and theirs)."""
        super().close()
        self.auth.aio.executor.shutdown()


def _page(handler: Page) -> dict[str, Page]:
    return {"GET": handler, "HEAD": handler}


ROUTES: dict[str, dict[str, Page]] = {
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


def open_auth(db_path: str | os.PathLike[str], **options: Any) -> tuple[Auth, SQLiteAdapter]:
    """The demo's :class:`~lucia_wsgi.Auth` on the SQLite file ``db_path`` (tables made if missing)."""
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
    return lucia(**settings), adapter


def make_app(db_path: str | os.PathLike[str] = "demo.db", *, mail: MailSender | None = None,
             base_url: str = "http://127.0.0.1:8000", **options: Any) -> LuciaMiddleware:
    """The demo as a WSGI application on the SQLite file ``db_path`` (tables made if missing).

    ``mail`` is the ``send(to, subject, text)`` every message goes through
    (default :class:`~lucia_wsgi.mail.ConsoleSender`: printed); mailed links
    start with ``base_url``. ``options`` go to :func:`lucia_wsgi.lucia` (tests
    pass a cheap ``hash``). ``.app`` is the :class:`WsgiDemo` (``.app.close()``).
    """
    auth, adapter = open_auth(db_path, **options)
    return LuciaMiddleware(WsgiDemo(auth, adapter, ConsoleSender() if mail is None else mail, base_url), auth)


def make_asgi_app(db_path: str | os.PathLike[str] = "demo.db", *, mail: MailSender | None = None,
                  base_url: str = "http://127.0.0.1:8000", **options: Any) -> LuciaASGIMiddleware:
    """The demo as an ASGI application, as :func:`make_app` makes the WSGI one; ``.app`` is the :class:`AsgiDemo`."""
    auth, adapter = open_auth(db_path, **options)
    return LuciaASGIMiddleware(AsgiDemo(auth, adapter, ConsoleSender() if mail is None else mail, base_url), auth)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="lucia_wsgi demo: sign up, email verification, log in, password reset, sign-in codes, "
                    "profile, devices, log out.")
    parser.add_argument("--db", default="demo.db", help="SQLite file (default: demo.db)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--asgi", action="store_true",
                        help="serve the same pages as an ASGI application on uvicorn, under LuciaASGIMiddleware "
                             "(default: WSGI on waitress, under LuciaMiddleware); every page works on both")
    parser.add_argument("--active-period", type=_seconds, metavar="SECONDS",
                        help="a session is renewed (a new id in its cookie) on the first request this long "
                             "after it began (default: lucia's active period, 1 day); a few seconds shows "
                             "renewal on a reload")
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


def _seconds(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) >= 1):
        raise argparse.ArgumentTypeError(f"a whole number of seconds, at least 1, not {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    options: dict[str, Any] = {}
    if args.active_period is not None:
        options["session_timeout"] = {"active_period": timedelta(seconds=args.active_period)}
    middleware: LuciaMiddleware | LuciaASGIMiddleware
    run: Callable[[], None]
    if args.asgi:
        middleware = make_asgi_app(args.db, mail=args.mail, **options)
        uvicorn = uvicorn_server(middleware)
        sock = listening_socket(args.host, args.port)
        port, server = sock.getsockname()[1], "ASGI on uvicorn, "
        run = functools.partial(uvicorn.run, sockets=[sock])
    else:
        from waitress import create_server

        middleware = make_app(args.db, mail=args.mail, **options)
        waitress = create_server(middleware, host=args.host, port=args.port)
        port, server, run = waitress.effective_port, "", waitress.run
    demo = middleware.app
    assert isinstance(demo, DemoApp)
    demo.base_url = (args.base_url or f"http://{args.host}:{port}").rstrip("/")
    print(f"lucia_wsgi demo on http://{args.host}:{port}/ ({server}database {args.db})", flush=True)
    try:
        run()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()


if __name__ == "__main__":
    main()
