"""Pure cookie handling: read a ``Cookie`` header, write ``Set-Cookie`` values.

Parsing follows the rules of the ``cookie`` npm package that Lucia used, so a
header means the same thing to a Lucia app and to us: pairs are split on
``;``, a pair without ``=`` is skipped, names and values are trimmed, the first
occurrence of a name wins, a value opening with ``"`` loses its first and last
character, and ``%`` escapes are decoded (the raw value is kept when they do
not decode). Serialisation writes the attributes in the order that package
writes them, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from urllib.parse import quote, unquote_to_bytes

from .session import Session, is_ascii_alnum

__all__ = [
    "SESSION_COOKIE_NAME",
    "Cookie",
    "CookieOptions",
    "parse_cookie_header",
    "read_cookie",
    "session_cookies",
    "http_date",
]

SESSION_COOKIE_NAME = "auth_session"

# JavaScript's String.prototype.trim() removes exactly these characters.
_JS_WHITESPACE = (
    " \t\n\v\f\r\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# RFC 6265 token characters for a cookie name; values are percent-encoded.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# A Path or Domain written into Set-Cookie as it is: printable ASCII only
# (RFC 6265 forbids CTLs and ';'; a ',' would split the header for anything
# that still folds several Set-Cookie values into one; non-ASCII cannot
# travel in a latin-1 WSGI header and means something else to each browser).
_ATTRIBUTE_VALUE = re.compile(r"[\x20-\x2b\x2d-\x3a\x3c-\x7e]*\Z")


def _decode(value: str) -> str:
    """``decodeURIComponent`` semantics: decode, or keep the raw value on error."""
    if "%" not in value:
        return value
    if _BAD_ESCAPE.search(value):
        return value
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeError:  # invalid UTF-8, or a lone surrogate in the input
        return value


def _split_pairs(header: str) -> Iterable[tuple[str, str]]:
    for part in header.split(";"):
        name, eq, raw = part.partition("=")
        if not eq:
            continue
        yield name.strip(_JS_WHITESPACE), raw


def _clean_value(raw: str) -> str:
    value = raw.strip(_JS_WHITESPACE)
    if value[:1] == '"':
        value = value[1:-1]
    return _decode(value)


def parse_cookie_header(header: str) -> dict[str, str]:
    """Every cookie in a ``Cookie`` header, first occurrence of a name winning."""
    cookies: dict[str, str] = {}
    for name, raw in _split_pairs(header):
        if name not in cookies:
            cookies[name] = _clean_value(raw)
    return cookies


def read_cookie(header: str, name: str = SESSION_COOKIE_NAME) -> str:
    """The value of the first cookie called ``name``, or ``""`` when absent.

    Same answer as ``parse_cookie_header(header).get(name, "")``, without
    decoding the cookies nobody asked for.
    """
    if name not in header:
        return ""
    for part in header.split(";"):
        if name not in part:  # cheap filter: the pair we want contains its name
            continue
        pair_name, eq, raw = part.partition("=")
        if eq and pair_name.strip(_JS_WHITESPACE) == name:
            return _clean_value(raw)
    return ""


def http_date(moment: datetime) -> str:
    """``Date.prototype.toUTCString()`` of an aware datetime, whole seconds."""
    moment = moment.astimezone(timezone.utc)
    return (
        f"{_WEEKDAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


@dataclass(frozen=True, kw_only=True)
class CookieOptions:
    """One entry of the ``session_cookie`` option: where a session cookie lives."""

    same_site: str | None = None
    path: str | None = None
    domain: str | None = None

    def __post_init__(self) -> None:
        if self.same_site is not None and (
            not isinstance(self.same_site, str) or self.same_site.lower() not in _SAME_SITE
        ):
            raise ValueError(
                f"session_cookie same_site must be 'lax', 'strict' or 'none', not {self.same_site!r}"
            )
        for key in ("path", "domain"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, str) or not _ATTRIBUTE_VALUE.match(value)):
                raise ValueError(
                    f"session_cookie {key} must be printable ASCII without ';' or ',' "
                    f"(no control characters), not {value!r}"
                )

    @classmethod
    def from_mapping(cls, options: Mapping[str, object]) -> CookieOptions:
        """One ``session_cookie`` entry (keys ``same_site``, ``path``, ``domain``), checked."""
        unknown = set(options) - {"same_site", "path", "domain"}
        if unknown:
            raise ValueError(
                f"session_cookie accepts only same_site, path and domain, not {sorted(unknown)}"
            )
        return cls(**options)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True)
class Cookie:
    """A ``Set-Cookie`` directive; :meth:`serialize` gives the header value."""

    name: str
    value: str = field(repr=False)  # a session id is a bearer credential
    expires: datetime
    http_only: bool = True
    secure: bool = False
    same_site: str | None = None
    path: str | None = None
    domain: str | None = None

    def __post_init__(self) -> None:
        if not _COOKIE_NAME.match(self.name):
            raise ValueError(f"invalid cookie name {self.name!r}")

    @property
    def attributes(self) -> Mapping[str, object]:
        """Lucia's ``attributes`` object, read-only: domain, path, expires, http_only, secure, same_site."""
        return MappingProxyType({
            "domain": self.domain,
            "path": self.path,
            "expires": self.expires,
            "http_only": self.http_only,
            "secure": self.secure,
            "same_site": self.same_site,
        })

    def serialize(self) -> str:
        """The header value, attributes in Lucia's order (Domain, Path, Expires, ...)."""
        value = self.value
        if not is_ascii_alnum(value):  # a session id needs no escaping
            value = quote(value, safe=_URI_COMPONENT_SAFE)
        parts = [f"{self.name}={value}"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.path:
            parts.append(f"Path={self.path}")
        parts.append(f"Expires={http_date(self.expires)}")
        if self.http_only:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        if self.same_site:
            parts.append(f"SameSite={_SAME_SITE[self.same_site.lower()]}")
        return "; ".join(parts)


# Characters encodeURIComponent leaves alone (besides letters and digits).
_URI_COMPONENT_SAFE = "-_.!~*'()"


def session_cookies(
    session: Session | None,
    options: Iterable[CookieOptions],
    *,
    secure: bool,
    name: str = SESSION_COOKIE_NAME,
) -> list[Cookie]:
    """The cookies that store ``session``, or delete the session cookie for ``None``.

    A storing cookie expires with the session's idle period; a deleting one has
    an empty value and expires at the Unix epoch.
    """
    if session is None:
        value, expires = "", _EPOCH
    else:
        value, expires = session.session_id, session.idle_period_expires
    return [
        Cookie(
            name=name,
            value=value,
            expires=expires,
            secure=secure,
            same_site=option.same_site,
            path=option.path,
            domain=option.domain,
        )
        for option in options
    ]
