"""Pure CSRF decision: does a request's ``Origin`` match where it was sent?

A browser sends ``Origin`` on every cross-site and same-site unsafe request.
For methods other than ``GET`` and ``HEAD`` we require it to name the
request's own origin (or a configured trusted origin). The request's origin is
built from the ``Host`` header and the URL scheme the server saw; forwarded
headers (``Forwarded``, ``X-Forwarded-Host``/``-Proto``/``-Port``) are
attacker-controlled unless a trusted proxy sets them, so they count only when
the application opts in with ``trust_proxy``. Of those, the last element or
value counts, and ``Forwarded`` (the standard) wins over ``X-Forwarded-*``
when a request has both: see :mod:`lucia_wsgi.forwarded`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .forwarded import proxied_host_and_proto

__all__ = ["Origin", "CsrfPolicy", "parse_origin", "request_origin", "is_request_allowed", "SAFE_METHODS"]

#: The methods the Origin check lets through unchecked: exactly these (case-sensitive).
SAFE_METHODS = frozenset({"GET", "HEAD"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*\Z")
# A host: a bracketed IPv6 literal or a registered name / IPv4 address.
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9\-._~!$&'()*+,;=%]+)(?::([0-9]{1,5}))?\Z")


@dataclass(frozen=True, slots=True)
class Origin:
    """A normalised web origin: lowercase scheme and host, explicit port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = _DEFAULT_PORTS.get(self.scheme)
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


def _host_and_port(authority: str, scheme: str) -> tuple[str, int] | None:
    match = _HOST.match(authority.lower())
    if match is None:
        return None
    host, port_text = match.groups()
    if port_text is None:
        default = _DEFAULT_PORTS.get(scheme)
        if default is None:
            return None
        return host, default
    port = int(port_text)
    if not 0 < port < 65536:
        return None
    return host, port


def parse_origin(value: str) -> Origin | None:
    """Parse a serialised origin (``scheme://host[:port]``); ``None`` if it is not one.

    ``null``, paths, user info, queries and fragments are all rejected.
    """
    scheme, sep, authority = value.strip().partition("://")
    scheme = scheme.lower()
    if not sep or not _SCHEME.match(scheme) or not authority:
        return None
    if any(c in authority for c in "/?#@\\ "):
        return None
    parsed = _host_and_port(authority, scheme)
    return None if parsed is None else Origin(scheme, *parsed)


def request_origin(environ: Mapping[str, object], *, force_https: bool, trust_proxy: bool) -> Origin | None:
    """The origin a WSGI request was addressed to, or ``None`` if it is unparsable.

    With ``trust_proxy``, the host and scheme the proxy reports replace the
    ``Host`` header and ``wsgi.url_scheme`` (each only when it reports one):
    ``Forwarded``'s ``host=``/``proto=`` if the request has that header, else
    ``X-Forwarded-Host``/``-Proto``/``-Port``.
    """
    scheme = str(environ.get("wsgi.url_scheme") or "http").lower()
    host = str(environ.get("HTTP_HOST") or "")
    if trust_proxy:
        proxied_host, proxied_proto = proxied_host_and_proto(environ)
        scheme = proxied_proto.lower() or scheme
        host = proxied_host or host
    if force_https:
        scheme = "https"
    if not host:
        name = str(environ.get("SERVER_NAME") or "")
        port = str(environ.get("SERVER_PORT") or "")
        host = f"{name}:{port}" if port else name
    if not _SCHEME.match(scheme) or not host:
        return None
    parsed = _host_and_port(host, scheme)
    return None if parsed is None else Origin(scheme, *parsed)


@dataclass(frozen=True, slots=True)
class CsrfPolicy:
    """How the CSRF check is configured (built once from ``lucia()`` options)."""

    enabled: bool = True
    force_https: bool = False
    trust_proxy: bool = False
    trusted_origins: frozenset[Origin] = frozenset()

    @classmethod
    def build(
        cls, *, enabled: bool, force_https: bool, trust_proxy: bool, trusted_origins: Iterable[str]
    ) -> CsrfPolicy:
        """The policy for ``lucia()``'s options; a ``trusted_origins`` entry that is no origin is a ``ValueError``."""
        origins = set()
        for text in trusted_origins:
            origin = parse_origin(text) if isinstance(text, str) else None
            # "*" is legal in a URL host but never in a browser's Origin: a
            # wildcard here would silently match nothing, so refuse it.
            if origin is None or "*" in origin.host:
                raise ValueError(f"trusted_origins: {text!r} is not an origin like 'https://example.com'")
            origins.add(origin)
        return cls(enabled, force_https, trust_proxy, frozenset(origins))


def is_request_allowed(environ: Mapping[str, object], policy: CsrfPolicy) -> bool:
    """True when the request may use its session cookie under ``policy``.

    ``GET`` and ``HEAD`` always may (compared case-sensitively, so a lowercase
    ``post`` is checked like any other unsafe method); others need an
    ``Origin`` header naming the request's own origin or a trusted one.
    """
    if not policy.enabled or environ.get("REQUEST_METHOD") in SAFE_METHODS:
        return True
    origin_header = environ.get("HTTP_ORIGIN")
    if not isinstance(origin_header, str) or not origin_header:
        return False
    origin = parse_origin(origin_header)
    if origin is None:
        return False
    if origin in policy.trusted_origins:
        return True
    own = request_origin(environ, force_https=policy.force_https, trust_proxy=policy.trust_proxy)
    return own is not None and origin == own
