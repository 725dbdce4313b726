"""The HTML of ``demo_app.py``: the page frame, its forms, the profile, the static files.

Every value that reaches a page goes through :func:`escape`; pages load one
same-origin script and one stylesheet, so the strict ``Content-Security-Policy``
in :data:`SECURITY_HEADERS` (no inline script or style) holds on every page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from webob import Response

if TYPE_CHECKING:
    from lucia_wsgi import Session

USERNAME_RULE = "3 to 31 characters: lowercase letters, digits, _ and -"
PASSWORD_MIN, PASSWORD_MAX = 8, 255
PASSWORD_RULE = f"{PASSWORD_MIN} to {PASSWORD_MAX} characters"
EMAIL_RULE = "one address like name@example.com (ASCII letters, digits and punctuation)"
CODE_LENGTH = 8
CODE_RULE = f"the {CODE_LENGTH} digits from the mail"
LOGIN_FAILED = "Invalid username or password."
CODE_WRONG = "That code is not right."
LINK_GONE = "This link was used or has expired."

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
dd form button { margin-top: .25rem; }
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


def too_many(retry_after: int) -> Response:
    """The 429 page of an empty throttle bucket, with ``Retry-After`` in seconds."""
    unit = "second" if retry_after == 1 else "seconds"
    response = page("Too many attempts", f"<p role=alert>That was tried too often. Please wait {retry_after} "
                    f"{unit} and try again.</p>", status=429)
    response.headers["Retry-After"] = str(retry_after)
    return response


def error_list(errors: Iterable[str]) -> str:
    items = "".join(f"<li>{escape(error)}</li>" for error in errors)
    return f'<ul class=error role=alert>{items}</ul>' if items else ""


def paragraphs(*texts: str) -> str:
    return "".join(f"<p>{escape(text)}</p>" for text in texts)


def _field(name: str, label: str, autocomplete: str, value: str = "", *, kind: str = "text",
           rule: str = "", extra: str = "") -> str:
    hint = f"<div class=rule>{escape(rule)}</div>" if rule else ""
    shown = f' value="{escape(value)}"' if value else ""
    return (f'<label for={name}>{escape(label)}</label><input id={name} name={name} type={kind}{shown} '
            f"autocomplete={autocomplete} required{extra}>{hint}")


def _hidden(name: str, value: str) -> str:
    return f'<input type=hidden name={name} value="{escape(value)}">'


def _form(action: str, button: str, fields: str = "") -> str:
    return f'<form method=post action="{escape(action)}">{fields}<button type=submit>{escape(button)}</button></form>'


_NO_CAPS = " autocapitalize=none"


def signup_form(username: str = "", email: str = "") -> str:
    return _form("/signup", "Create account",
                 _field("username", "Username", "username", username, rule=USERNAME_RULE, extra=_NO_CAPS)
                 + _field("email", "Email address", "email", email, kind="email", rule=EMAIL_RULE)
                 + _field("password", "Password", "new-password", kind="password", rule=PASSWORD_RULE))


def login_form() -> str:
    return (_form("/login", "Log in", _field("username", "Username", "username", extra=_NO_CAPS)
                  + _field("password", "Password", "current-password", kind="password"))
            + '<p><a href="/forgot-password">Forgot your password?</a></p>'
            '<p><a href="/signin-code">Email me a sign-in code</a></p>')


def forgot_form(account: str = "") -> str:
    return _form("/forgot-password", "Email me a reset link",
                 _field("account", "Email address or username", "username", account, extra=_NO_CAPS))


def reset_form(token: str) -> str:
    return _form("/reset-password", "Set new password",
                 _hidden("token", token)
                 + _field("password", "New password", "new-password", kind="password", rule=PASSWORD_RULE))


def code_request_form(email: str = "") -> str:
    return _form("/signin-code", "Email me a code",
                 _field("email", "Email address", "email", email, kind="email", rule=EMAIL_RULE))


def code_form(email: str) -> str:
    return _form("/signin-code/verify", "Sign in",
                 _hidden("email", email)
                 + _field("code", "Code", "one-time-code", rule=CODE_RULE, extra=" inputmode=numeric"))


def new_code_form(email: str) -> str:
    return _form("/signin-code", "Request a new code", _hidden("email", email))


def profile_body(user: Mapping[str, Any], session: Session, devices: list[Session]) -> str:
    return (
        "<dl>"
        f"<dt>Username</dt><dd id=username>{escape(user['username'])}</dd>"
        f"<dt>Email</dt><dd>{_email(user)}</dd>"
        f"<dt>Session renews after</dt><dd>{_when(session.active_period_expires)}</dd>"
        f"<dt>Session expires</dt><dd id=expires>{_when(session.idle_period_expires)}</dd>"
        "</dl>"
        '<form method=post action="/logout" data-sign-out><button type=submit>Log out</button></form>'
        + devices_section(devices, session.device_id)
    )


def _email(user: Mapping[str, Any]) -> str:
    if not user.get("email"):  # an account made before the demo asked for addresses
        return "<span id=email-status>no email address</span>"
    address = f"<span id=email>{escape(user['email'])}</span> "
    if user.get("email_verified"):
        return address + "<span id=email-status>verified</span>"
    return (address + "<span id=email-status>email not verified</span>"
            + _form("/verify-email/resend", "Resend the link"))


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


def _when(moment: datetime) -> str:
    return f'<time datetime="{escape(moment.isoformat())}">{escape(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))}</time>'


def _when_known(moment: datetime | None) -> str:
    return "unknown" if moment is None else _when(moment)


def static(text: str, content_type: str) -> Response:
    response = Response(text, content_type=content_type, charset="utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.cache_control = "no-cache"
    return response
