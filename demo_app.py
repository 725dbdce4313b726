"""lucia_wsgi demo: sign up, log in, profile, devices and log out on SQLite, served by waitress.

Run it with ``python demo_app.py [--db demo.db] [--host 127.0.0.1] [--port 8000]``
(``--port 0`` picks a free port). Tests import :func:`make_app` and drive it
with WebTest, no server needed.
"""

from __future__ import annotations

import argparse
import html
import os
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from webob import Request, Response

from lucia_wsgi import AuthRequest, LuciaError, LuciaMiddleware, lucia
from lucia_wsgi.adapters import SQLiteAdapter

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from lucia_wsgi import Auth, Session

USERNAME = re.compile(r"[a-z0-9_-]{3,31}\Z")
USERNAME_RULE = "3 to 31 characters: lowercase letters, digits, _ and -"
PASSWORD_MIN, PASSWORD_MAX = 8, 255
PASSWORD_RULE = f"{PASSWORD_MIN} to {PASSWORD_MAX} characters"
# Enough for any password the log-in form must answer with the generic
# message (the library refuses those over 4096 bytes), small enough to read.
MAX_FORM_BYTES = 16 * 1024
LOGIN_FAILED = "Invalid username or password."
DEVICE_ID = re.compile(r"[0-9a-f]{20}\Z")  # Session.device_id: 20 lowercase hex digits

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

STYLE = """\
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem; color: #222; }
nav a { margin-right: 1rem; }
label { display: block; margin: 1rem 0 .25rem; }
input { width: 100%; padding: .5rem; box-sizing: border-box; }
button { margin-top: 1rem; padding: .5rem 1rem; }
.rule { color: #666; font-size: .9rem; }
.error { color: #a00; border: 1px solid #a00; padding: .5rem; }
dt { font-weight: bold; margin-top: .5rem; }
.devices { list-style: none; padding: 0; }
.devices > li { border: 1px solid #ccc; padding: .5rem 1rem 1rem; margin: 1rem 0; }
.devices dd { overflow-wrap: anywhere; }
"""

SCRIPT = """\
import { signOut } from "/api/auth/client.js";

const form = document.querySelector("form[data-sign-out]");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await signOut();
      window.location.assign("/login");
    } catch {
      form.submit(); // the plain POST /logout fallback
    }
  });
}
"""


class BadRequest(Exception):
    """Form input the demo cannot use: answered with a 400 page."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def escape(value: object) -> str:
    """``value`` as HTML text; a lone surrogate (UTF-8 cannot encode it: the page would fail) is U+FFFD."""
    return html.escape(_SURROGATE.sub("\ufffd", str(value)), quote=True)


def page(title: str, body: str, *, status: int = 200, signed_in: bool = False) -> Response:
    nav = ('<a href="/profile">Profile</a>' if signed_in
           else '<a href="/login">Log in</a><a href="/signup">Sign up</a>')
    text = (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} · lucia_wsgi demo</title><link rel=stylesheet href="/static/style.css">'
        f'<script type=module src="/static/demo.js"></script></head>'
        f"<body><nav>{nav}</nav><h1>{escape(title)}</h1>{body}</body></html>\n"
    )
    response = Response(text, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(location: str) -> Response:
    response = Response(status=303, location=location)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_list(errors: Iterable[str]) -> str:
    items = "".join(f"<li>{escape(error)}</li>" for error in errors)
    return f'<ul class=error role=alert>{items}</ul>' if items else ""


def credentials_form(action: str, button: str, username: str = "", *, rules: bool) -> str:
    hint = (lambda rule: f"<div class=rule>{escape(rule)}</div>") if rules else (lambda rule: "")
    return (
        f'<form method=post action="{escape(action)}">'
        f'<label for=username>Username</label><input id=username name=username value="{escape(username)}" '
        'autocomplete=username autocapitalize=none required>'
        f"{hint(USERNAME_RULE)}"
        '<label for=password>Password</label><input id=password name=password type=password '
        f'autocomplete={"new-password" if rules else "current-password"} required>'
        f"{hint(PASSWORD_RULE)}"
        f"<button type=submit>{escape(button)}</button></form>"
    )


def read_form(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    """The named fields of an urlencoded form body, each exactly once; else :class:`BadRequest`."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise BadRequest("expected a form")
    length = request.content_length
    if length is None or length > MAX_FORM_BYTES:
        raise BadRequest("the form is missing or too large")
    body = request.environ["wsgi.input"].read(length)
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="utf-8",
                          errors="strict", max_num_fields=len(names) + 1)
    except (UnicodeDecodeError, ValueError):  # bad bytes or escapes, lone surrogates, too many fields
        raise BadRequest("the form is not valid UTF-8") from None
    fields = dict(pairs)
    if len(fields) != len(pairs) or set(fields) != set(names):
        raise BadRequest(f"the form needs exactly the fields {', '.join(names)}" if names
                         else "the form takes no fields")
    return fields


def devices_section(devices: list[Session], current: str) -> str:
    """The user's signed-in devices; ``current`` is the device id of the request's session."""
    # This device first, then the others newest sign-in first (the order of get_user_sessions).
    devices = sorted(devices, key=lambda device: device.device_id != current)
    items = "".join(_device_item(device, device.device_id == current) for device in devices)
    others = any(device.device_id != current for device in devices)
    sign_out_others = ('<form method=post action="/devices/sign-out-others">'
                       "<button type=submit>Sign out everywhere else</button></form>") if others else ""
    return f"<h2>Devices</h2><ul class=devices id=devices>{items}</ul>{sign_out_others}"


def _device_item(device: Session, current: bool) -> str:
    facts = [("Signed in", _when_known(device.created_at)), ("Last seen", _when_known(device.last_seen))]
    facts += [(label, escape(value)) for label, value in (("User agent", device.user_agent),
                                                          ("IP address", device.ip_address)) if value]
    details = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    device_id = escape(device.device_id)
    action = ("<p><strong>This device</strong></p>" if current else
              '<form method=post action="/devices/sign-out">'
              f'<input type=hidden name=device_id value="{device_id}">'
              "<button type=submit>Sign out</button></form>")
    return f'<li id="device-{device_id}"{" data-current" if current else ""}><dl>{details}</dl>{action}</li>'


Handler = Callable[["DemoApp", Request, AuthRequest], Response]


class DemoApp:
    """The pages; ``LuciaMiddleware`` around it provides ``environ["lucia.auth"]``."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth

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
        return response(environ, start_response)

    def _answer(self, handler: Handler, request: Request) -> Response:
        auth_request: AuthRequest = request.environ["lucia.auth"]
        if request.method == "POST":
            try:
                self.auth.validate_request_headers(request.environ)
            except LuciaError:
                return page("Forbidden", "<p>Cross-site form posts are refused.</p>", status=403)
        return handler(self, request, auth_request)

    def home(self, request: Request, auth_request: AuthRequest) -> Response:
        return redirect("/profile")

    def signup_page(self, request: Request, auth_request: AuthRequest) -> Response:
        if auth_request.validate() is not None:
            return redirect("/profile")
        return page("Sign up", credentials_form("/signup", "Create account", rules=True))

    def signup(self, request: Request, auth_request: AuthRequest) -> Response:
        form = read_form(request, ("username", "password"))
        username, password = form["username"], form["password"]
        errors = []
        if not USERNAME.match(username):
            errors.append(f"Username: {USERNAME_RULE}.")
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            errors.append(f"Password: {PASSWORD_RULE}.")
        status = 400
        if not errors:
            try:
                user = self.auth.create_user("username", username, password=password,
                                             attributes={"username": username})
            except LuciaError as error:
                if error.code == "AUTH_DUPLICATE_PROVIDER_ID":
                    errors, status = ["That username is taken."], 409
                elif error.code == "AUTH_INVALID_PASSWORD":  # e.g. grows past 4096 bytes under NFKC
                    errors = [f"Password: {PASSWORD_RULE}."]
                else:
                    raise
            else:
                auth_request.sign_in(user["user_id"])
                return redirect("/profile")
        body = error_list(errors) + credentials_form("/signup", "Create account", username, rules=True)
        return page("Sign up", body, status=status)

    def login_page(self, request: Request, auth_request: AuthRequest) -> Response:
        if auth_request.validate() is not None:
            return redirect("/profile")
        return page("Log in", credentials_form("/login", "Log in", rules=False))

    def login(self, request: Request, auth_request: AuthRequest) -> Response:
        form = read_form(request, ("username", "password"))
        try:
            user = self.auth.authenticate_user("username", form["username"], form["password"])
        except LuciaError:
            # One message whatever failed: unknown user, wrong, missing,
            # outdated or over-long password. Nothing to tell an attacker.
            body = error_list([LOGIN_FAILED]) + credentials_form("/login", "Log in", rules=False)
            return page("Log in", body, status=400)
        auth_request.sign_in(user["user_id"])
        return redirect("/profile")

    def profile(self, request: Request, auth_request: AuthRequest) -> Response:
        session, user = auth_request.validate_user()
        if session is None:
            return redirect("/login")
        body = (
            "<dl>"
            f"<dt>Username</dt><dd id=username>{escape(user['username'])}</dd>"
            f"<dt>Session renews after</dt><dd>{_when(session.active_period_expires)}</dd>"
            f"<dt>Session expires</dt><dd id=expires>{_when(session.idle_period_expires)}</dd>"
            "</dl>"
            '<form method=post action="/logout" data-sign-out><button type=submit>Log out</button></form>'
            + devices_section(self.auth.get_user_sessions(session.user_id), session.device_id)
        )
        return page("Profile", body, signed_in=True)

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
        return _static(STYLE, "text/css")

    def script(self, request: Request, auth_request: AuthRequest) -> Response:
        return _static(SCRIPT, "text/javascript")


def _when(moment: datetime) -> str:
    return f'<time datetime="{escape(moment.isoformat())}">{escape(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))}</time>'


def _when_known(moment: datetime | None) -> str:
    return "unknown" if moment is None else _when(moment)


def _static(text: str, content_type: str) -> Response:
    response = Response(text, content_type=content_type, charset="utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control = "no-cache"
    return response


ROUTES: dict[str, dict[str, Handler]] = {
    "/": {"GET": DemoApp.home, "HEAD": DemoApp.home},
    "/signup": {"GET": DemoApp.signup_page, "HEAD": DemoApp.signup_page, "POST": DemoApp.signup},
    "/login": {"GET": DemoApp.login_page, "HEAD": DemoApp.login_page, "POST": DemoApp.login},
    "/profile": {"GET": DemoApp.profile, "HEAD": DemoApp.profile},
    "/logout": {"POST": DemoApp.logout},
    "/devices/sign-out": {"POST": DemoApp.sign_out_device},
    "/devices/sign-out-others": {"POST": DemoApp.sign_out_other_devices},
    "/static/style.css": {"GET": DemoApp.style, "HEAD": DemoApp.style},
    "/static/demo.js": {"GET": DemoApp.script, "HEAD": DemoApp.script},
}


def make_app(db_path: str | os.PathLike[str] = "demo.db", **options: Any) -> LuciaMiddleware:
    """The demo as a WSGI application on the SQLite file ``db_path`` (tables made if missing).

    ``options`` go to :func:`lucia_wsgi.lucia` (tests pass a cheap ``hash``).
    """
    adapter = SQLiteAdapter(db_path)
    adapter.create_tables(user_attributes={"username": "TEXT"})
    settings: dict[str, Any] = {
        "adapter": adapter,
        "env": "DEV",  # plain HTTP on localhost; PROD for HTTPS (Secure cookies)
        "device_details": True,  # user agent and IP address for the Devices list
        "transform_user_data": lambda row: {"user_id": row["id"], "username": row["username"]},
        **options,
    }
    auth = lucia(**settings)
    return LuciaMiddleware(DemoApp(auth), auth)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="lucia_wsgi demo: sign up, log in, profile, devices, log out.")
    parser.add_argument("--db", default="demo.db", help="SQLite file (default: demo.db)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from waitress import create_server

    args = parse_args(argv)
    server = create_server(make_app(args.db), host=args.host, port=args.port)
    print(f"lucia_wsgi demo on http://{args.host}:{server.effective_port}/ (database {args.db})", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
