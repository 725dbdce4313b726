"""Pure reading of what a reverse proxy says about a request (``Forwarded``, ``X-Forwarded-*``).

Theory of operation. Each proxy on the way *appends* what it saw: an element
to ``Forwarded`` (RFC 7239: ``for=...;host=...;proto=...``, elements
separated by commas) or a value to ``X-Forwarded-For``/``-Host``/``-Proto``/
``-Port``. Whatever the client sent comes first, so only the **last**
element or value, the one the nearest proxy (yours) added, is believed; a
parameter missing from that last element is not looked for in earlier ones.
None of this is believed at all unless the application says a proxy it
controls sits in front (``trust_proxy=True``); callers decide that.

Precedence: when a request carries a non-empty ``Forwarded`` header, it alone
counts (the standard wins), and every ``X-Forwarded-*`` header is ignored,
``X-Forwarded-Port`` included; otherwise the ``X-Forwarded-*`` headers count.
So a proxy that sets only ``X-Forwarded-*`` must remove or overwrite a
``Forwarded`` header sent by the client (nginx: ``proxy_set_header Forwarded
"";``), and one that sets ``Forwarded`` makes client-sent ``X-Forwarded-*``
harmless.

Elements are cut at every comma and parameters at every semicolon, even
inside a quoted-string: no value of ``for``, ``by``, ``host`` or ``proto`` can
contain either, and this way nothing a client puts before the proxy's element
(an unterminated quote, say) can swallow or change it. Parsing never raises:
a malformed last element (a pair without ``=``, a bad name, a bad quoted
string, a repeated parameter) says nothing at all.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

__all__ = ["parse_forwarded", "last_forwarded", "last_value", "proxied_host_and_proto", "client_address"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"\Z', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_PORT = re.compile(r"[0-9]{1,5}\Z")
_OWS = " \t"


def _header(environ: Mapping[str, object], key: str) -> str:
    value = environ.get(key)
    return value if isinstance(value, str) else ""


def _value(raw: str) -> str | None:
    """A token or quoted-string value, unquoted; ``None`` when it is neither."""
    raw = raw.strip(_OWS)
    if '"' not in raw:
        return raw
    quoted = _QUOTED.match(raw)
    return None if quoted is None else _QUOTED_PAIR.sub(r"\1", quoted.group(1))


def _element(text: str) -> dict[str, str]:
    """The parameters of one ``Forwarded`` element (names lowercased); ``{}`` when malformed."""
    params: dict[str, str] = {}
    for pair in text.split(";"):
        if not pair.strip(_OWS):
            continue
        name, eq, raw = pair.partition("=")
        name = name.strip(_OWS).lower()
        value = _value(raw)
        if not eq or not _TOKEN.match(name) or value is None or name in params:
            return {}
        params[name] = value
    return params


def parse_forwarded(header: str) -> list[dict[str, str]]:
    """Every non-empty element of a ``Forwarded`` header, first to last."""
    return [_element(element) for element in header.split(",") if element.strip(_OWS)]


def last_forwarded(header: str) -> dict[str, str]:
    """The parameters of the last non-empty element: the one the nearest proxy added."""
    for element in reversed(header.split(",")):
        if element.strip(_OWS):
            return _element(element)
    return {}


def last_value(header: str) -> str:
    """The last comma-separated value of an ``X-Forwarded-*`` header, stripped (may be ``""``)."""
    return header.rsplit(",", 1)[-1].strip()


def _without_port(host: str) -> str:
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0]


def proxied_host_and_proto(environ: Mapping[str, object]) -> tuple[str, str]:
    """The host (with any port) and scheme the proxy reports, ``""`` for what it does not say.

    From ``Forwarded`` (``host=``, ``proto=`` of its last element) when the
    request has one, else from ``X-Forwarded-Host``/``-Proto``, with
    ``X-Forwarded-Port`` replacing the port of that host (or of ``Host``).
    Values are returned as sent; the caller validates them.
    """
    forwarded = _header(environ, "HTTP_FORWARDED")
    if forwarded.strip(_OWS):
        element = last_forwarded(forwarded)
        return element.get("host", ""), element.get("proto", "")
    host = last_value(_header(environ, "HTTP_X_FORWARDED_HOST"))
    proto = last_value(_header(environ, "HTTP_X_FORWARDED_PROTO"))
    port = last_value(_header(environ, "HTTP_X_FORWARDED_PORT"))
    if port:
        base = host or _header(environ, "HTTP_HOST") or _header(environ, "SERVER_NAME")
        if base:
            host = f"{_without_port(base)}:{port}"
    return host, proto


def _address(node: str) -> str | None:
    """An IP address out of a node (``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]:4711``, bare IPv6).

    Canonical text (IPv4-mapped IPv6 as IPv4); ``None`` for ``unknown``,
    obfuscated identifiers (``_hidden``) and anything else that is not an IP.
    """
    node = node.strip(_OWS)
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        if rest and not (rest[0] == ":" and _PORT.match(rest[1:])):
            return None
    elif node.count(":") == 1:
        host, _, port = node.partition(":")
        if not _PORT.match(port):
            return None
    else:
        host = node
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def client_address(environ: Mapping[str, object], *, trust_proxy: bool) -> str | None:
    """The client's IP address: ``REMOTE_ADDR``, or with ``trust_proxy`` what the proxy says.

    With ``trust_proxy``, the ``for=`` of the last ``Forwarded`` element when
    the request has that header, else the last ``X-Forwarded-For`` value (the
    precedence of :func:`proxied_host_and_proto`); when that is missing or not
    an IP address (``unknown``, ``_obfuscated``), ``REMOTE_ADDR`` is used.
    ``None`` when there is no ``REMOTE_ADDR`` to fall back on.
    """
    if trust_proxy:
        forwarded = _header(environ, "HTTP_FORWARDED")
        if forwarded.strip(_OWS):
            claimed = last_forwarded(forwarded).get("for", "")
        else:
            claimed = last_value(_header(environ, "HTTP_X_FORWARDED_FOR"))
        address = _address(claimed)
        if address is not None:
            return address
    remote = _header(environ, "REMOTE_ADDR").strip()
    return _address(remote) or remote or None
