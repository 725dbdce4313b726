"""What ``demo_app.py`` accepts as input: urlencoded forms and links, usernames, addresses, codes.

Anything else is a :class:`BadRequest` (a 400 page), never an exception
further up. The shells read a request's body (:func:`form_length` bytes,
at most :data:`MAX_FORM_BYTES`) into :class:`~demo_visit.Visit`; the rest
is decided here, once for both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from demo_pages import CODE_LENGTH

if TYPE_CHECKING:
    from demo_visit import Visit

USERNAME = re.compile(r"[a-z0-9_-]{3,31}\Z")
# ASCII dot-atom addresses with a dotted domain, compared in lower case: a
# subset of what lucia_wsgi.mail sends to, so a valid address never fails there.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+\Z")
EMAIL_MAX = 254
CODE = re.compile(rf"[0-9]{{{CODE_LENGTH}}}\Z")
DEVICE_ID = re.compile(r"[0-9a-f]{20}\Z")  # Session.device_id: 20 lowercase hex digits
# Enough for any password the log-in form must answer with the generic
# message (the library refuses those over 4096 bytes), small enough to read.
MAX_FORM_BYTES = 16 * 1024
MAX_QUERY_BYTES = 1024  # a mailed link's query: a token and an address


class BadRequest(Exception):
    """Form input the demo cannot use: answered with a 400 page."""


def _fields(raw: str, names: tuple[str, ...]) -> dict[str, str]:
    """The named fields of urlencoded ``raw``, each exactly once; else :class:`BadRequest`."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=len(names) + 1)
    except (UnicodeDecodeError, ValueError):  # bad escapes, lone surrogates, too many fields
        raise BadRequest("the form is not valid UTF-8") from None
    fields = dict(pairs)
    if len(fields) != len(pairs) or set(fields) != set(names):
        raise BadRequest(f"the form needs exactly the fields {', '.join(names)}" if names
                         else "the form takes no fields")
    return fields


def form_length(environ: Mapping[str, Any]) -> int | None:
    """How many body bytes a shell reads for a request: its ``Content-Length``, or ``None`` (read
    nothing) when that is missing, malformed or over :data:`MAX_FORM_BYTES`."""
    text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    length = int(text)
    return length if length <= MAX_FORM_BYTES else None


def read_form(visit: Visit, names: tuple[str, ...]) -> dict[str, str]:
    """The named fields of an urlencoded form body, each exactly once; else :class:`BadRequest`."""
    if visit.content_type != "application/x-www-form-urlencoded":
        raise BadRequest("expected a form")
    body = visit.body
    if body is None:
        raise BadRequest("the form is missing or too large")
    if not body.isascii():  # raw bytes: a browser percent-encodes everything beyond ASCII
        raise BadRequest("the form is not valid UTF-8")
    return _fields(body.decode("ascii"), names)


def read_query(visit: Visit, names: tuple[str, ...]) -> dict[str, str]:
    """The named fields of the query string (a mailed link's), as :func:`read_form` reads a body."""
    raw = str(visit.environ.get("QUERY_STRING", ""))
    if len(raw) > MAX_QUERY_BYTES or not raw.isascii():
        raise BadRequest("the link is malformed")
    return _fields(raw, names)


def valid_email(text: str) -> str | None:
    """``text`` as the demo stores an address (trimmed, lower case), or ``None`` if it is not one."""
    email = text.strip()
    if not email.isascii():  # before lower(): it maps some letters into ASCII (KELVIN SIGN to "k")
        return None
    email = email.lower()
    return email if len(email) <= EMAIL_MAX and EMAIL.match(email) else None
