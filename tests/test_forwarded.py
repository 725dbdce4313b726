"""Reading what a proxy says: RFC 7239 ``Forwarded``, ``X-Forwarded-*``, their precedence, the client address."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi.forwarded import (
    client_address,
    last_forwarded,
    last_value,
    parse_forwarded,
    proxied_host_and_proto,
)


@pytest.mark.parametrize(("header", "elements"), [
    # RFC 7239 section 4 and 7.1 examples
    pytest.param('for="_gazonk"', [{"for": "_gazonk"}], id="quoted-obfuscated"),
    pytest.param('For="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}], id="name-case-insensitive"),
    pytest.param("for=192.0.2.60;proto=http;by=203.0.113.43",
                 [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}], id="three-pairs"),
    pytest.param("for=192.0.2.43, for=198.51.100.17", [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}],
                 id="two-elements"),
    pytest.param('host="example.com:8443"; proto=https', [{"host": "example.com:8443", "proto": "https"}],
                 id="spaces-around-pairs"),
    pytest.param(r'for="\"quoted\\\""', [{"for": '"quoted\\"'}], id="quoted-pairs-unescaped"),
    pytest.param("for=a,,  , for=b", [{"for": "a"}, {"for": "b"}], id="empty-elements-ignored"),
    pytest.param("for=a;;proto=https;", [{"for": "a", "proto": "https"}], id="empty-pairs-ignored"),
    pytest.param("host=", [{"host": ""}], id="empty-value"),
    # malformed elements say nothing
    pytest.param("for", [{}], id="pair-without-equals"),
    pytest.param("f(r=a", [{}], id="bad-name"),
    pytest.param('for="a', [{}], id="unterminated-quote"),
    pytest.param('for=a"b', [{}], id="quote-inside-token"),
    pytest.param('for="a"b', [{}], id="text-after-quote"),
    pytest.param("host=a;host=b", [{}], id="repeated-parameter"),
    pytest.param("", [], id="empty"),
])
def test_parse_forwarded(header: str, elements: list[dict[str, str]]) -> None:
    assert parse_forwarded(header) == elements


@pytest.mark.parametrize(("environ", "expected"), [
    pytest.param({}, ("", ""), id="nothing-said"),
    pytest.param({"HTTP_FORWARDED": "host=example.com;proto=https"}, ("example.com", "https"), id="forwarded"),
    pytest.param({"HTTP_FORWARDED": 'host="evil.test";proto=http, for=192.0.2.1;host=example.com;proto=https'},
                 ("example.com", "https"), id="forwarded-last-element-counts"),
    pytest.param({"HTTP_FORWARDED": "host=evil.test;proto=http, for=192.0.2.1"}, ("", ""),
                 id="forwarded-missing-parameter-not-taken-from-earlier-element"),
    pytest.param({"HTTP_FORWARDED": 'host="evil.test, host=example.com'}, ("example.com", ""),
                 id="forwarded-client-quote-cannot-swallow-proxy-element"),
    pytest.param({"HTTP_FORWARDED": "proto=https", "HTTP_X_FORWARDED_HOST": "evil.test",
                  "HTTP_X_FORWARDED_PROTO": "http", "HTTP_X_FORWARDED_PORT": "8080"}, ("", "https"),
                 id="forwarded-wins-over-every-x-forwarded-header"),
    pytest.param({"HTTP_FORWARDED": "  ", "HTTP_X_FORWARDED_HOST": "example.com"}, ("example.com", ""),
                 id="blank-forwarded-is-absent"),
    pytest.param({"HTTP_X_FORWARDED_HOST": "evil.test, example.com", "HTTP_X_FORWARDED_PROTO": "http, https"},
                 ("example.com", "https"), id="x-forwarded-last-value-counts"),
    pytest.param({"HTTP_X_FORWARDED_HOST": "example.com", "HTTP_X_FORWARDED_PORT": "8443"},
                 ("example.com:8443", ""), id="x-forwarded-port-added"),
    pytest.param({"HTTP_X_FORWARDED_HOST": "example.com:80", "HTTP_X_FORWARDED_PORT": "1, 8443"},
                 ("example.com:8443", ""), id="x-forwarded-port-replaces-port"),
    pytest.param({"HTTP_HOST": "backend:8000", "HTTP_X_FORWARDED_PORT": "443"}, ("backend:443", ""),
                 id="x-forwarded-port-on-host-header"),
    pytest.param({"HTTP_HOST": "[::1]:8000", "HTTP_X_FORWARDED_PORT": "443"}, ("[::1]:443", ""),
                 id="x-forwarded-port-on-ipv6-host"),
    pytest.param({"SERVER_NAME": "a.test", "HTTP_X_FORWARDED_PORT": "443"}, ("a.test:443", ""),
                 id="x-forwarded-port-on-server-name"),
    pytest.param({"HTTP_X_FORWARDED_HOST": 5, "HTTP_FORWARDED": None}, ("", ""), id="non-string-values-ignored"),
])
def test_proxied_host_and_proto(environ: dict[str, object], expected: tuple[str, str]) -> None:
    assert proxied_host_and_proto(environ) == expected


@pytest.mark.parametrize(("environ", "trust_proxy", "expected"), [
    pytest.param({"REMOTE_ADDR": "10.0.0.1"}, False, "10.0.0.1", id="remote-addr"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}, False, "10.0.0.1",
                 id="x-forwarded-for-ignored-without-trust"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9"}, False, "10.0.0.1",
                 id="forwarded-ignored-without-trust"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.9"}, True,
                 "203.0.113.9", id="x-forwarded-for-rightmost"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9:4711"}, True, "203.0.113.9",
                 id="x-forwarded-for-ipv4-port-stripped"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "2001:DB8:0::1"}, True, "2001:db8::1",
                 id="x-forwarded-for-bare-ipv6-canonical"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_FORWARDED": 'for="[2001:db8::1]:4711"'}, True, "2001:db8::1",
                 id="forwarded-bracketed-ipv6-with-port"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_FORWARDED": 'for="[2001:db8::1]"'}, True, "2001:db8::1",
                 id="forwarded-bracketed-ipv6"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_FORWARDED": "for=198.51.100.1, for=203.0.113.9;proto=https"},
                 True, "203.0.113.9", id="forwarded-last-element"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_FORWARDED": "for=203.0.113.9",
                  "HTTP_X_FORWARDED_FOR": "198.51.100.1"}, True, "203.0.113.9", id="forwarded-wins"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_FORWARDED": "proto=https",
                  "HTTP_X_FORWARDED_FOR": "198.51.100.1"}, True, "10.0.0.1",
                 id="forwarded-without-for-does-not-fall-to-x-forwarded-for"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "::ffff:203.0.113.9"}, True, "203.0.113.9",
                 id="ipv4-mapped-as-ipv4"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_FORWARDED": "for=unknown"}, True, "10.0.0.1", id="unknown"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_FORWARDED": 'for="_hidden:4711"'}, True, "10.0.0.1",
                 id="obfuscated"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9, "}, True, "10.0.0.1",
                 id="empty-last-value"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9:http"}, True, "10.0.0.1",
                 id="bad-port"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "[2001:db8::1]x"}, True, "10.0.0.1",
                 id="text-after-bracket"),
    pytest.param({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "evil.test"}, True, "10.0.0.1",
                 id="host-name-not-an-address"),
    pytest.param({"REMOTE_ADDR": "::ffff:127.0.0.1"}, False, "127.0.0.1", id="remote-addr-normalised"),
    pytest.param({"REMOTE_ADDR": "/run/app.sock"}, False, "/run/app.sock", id="remote-addr-not-ip-kept"),
    pytest.param({}, True, None, id="nothing"),
])
def test_client_address(environ: dict[str, object], trust_proxy: bool, expected: str | None) -> None:
    assert client_address(environ, trust_proxy=trust_proxy) == expected


# Hostile input: any text, weighted towards the characters the grammar cares about.
_GRAMMAR = st.text(alphabet=st.sampled_from('=;,"\\ \t[]:_.aFhor0123456789\x00\udcff\u00e9'), max_size=40)
_ANY_TEXT = st.one_of(st.text(max_size=60), _GRAMMAR)
_HEADERS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO",
            "HTTP_X_FORWARDED_PORT", "HTTP_HOST", "SERVER_NAME", "REMOTE_ADDR")


@given(environ=st.dictionaries(st.sampled_from(_HEADERS), st.one_of(_ANY_TEXT, st.none(), st.integers())),
       trust_proxy=st.booleans())
def test_reading_forwarding_headers_never_raises(environ: dict[str, object], trust_proxy: bool) -> None:
    host, proto = proxied_host_and_proto(environ)
    assert isinstance(host, str) and isinstance(proto, str)
    address = client_address(environ, trust_proxy=trust_proxy)
    remote = environ.get("REMOTE_ADDR")
    if address is not None and address != (remote.strip() if isinstance(remote, str) else None):
        ipaddress.ip_address(address)  # anything but REMOTE_ADDR as it is was parsed as an IP


@given(header=_ANY_TEXT)
def test_parse_forwarded_never_raises(header: str) -> None:
    elements = parse_forwarded(header)
    assert all(isinstance(element, dict) for element in elements)
    assert last_forwarded(header) == (elements[-1] if elements else {})


_VALUE = st.one_of(st.from_regex(r"[A-Za-z0-9.\-_]{1,12}", fullmatch=True),
                   st.from_regex(r"\[[0-9a-f:]{2,16}\](:[0-9]{1,5})?", fullmatch=True).map(lambda v: f'"{v}"'))
_ELEMENT = st.dictionaries(st.sampled_from(["for", "by", "host", "proto"]), _VALUE, min_size=1)


@given(prefix=_ANY_TEXT, element=_ELEMENT)
def test_the_last_forwarded_element_wins_whatever_the_client_sent_before_it(
        prefix: str, element: dict[str, str]) -> None:
    appended = ";".join(f"{name}={value}" for name, value in element.items())
    unquoted = {name: value.strip('"') for name, value in element.items()}
    assert last_forwarded(f"{prefix}, {appended}") == unquoted
    environ = {"HTTP_FORWARDED": f"{prefix},{appended}", "HTTP_X_FORWARDED_HOST": "evil.test"}
    assert proxied_host_and_proto(environ) == (unquoted.get("host", ""), unquoted.get("proto", ""))


@given(prefix=_ANY_TEXT, last=st.from_regex(r"[A-Za-z0-9.\-:]{0,20}", fullmatch=True))
def test_the_last_x_forwarded_value_wins_whatever_the_client_sent_before_it(prefix: str, last: str) -> None:
    assert last_value(f"{prefix}, {last}") == last
    environ = {"HTTP_X_FORWARDED_HOST": f"{prefix},{last}", "HTTP_X_FORWARDED_PROTO": f"{prefix}, {last}"}
    assert proxied_host_and_proto(environ) == (last, last)


@given(prefix=_ANY_TEXT, address=st.ip_addresses(), header=st.sampled_from(["HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR"]))
def test_the_rightmost_client_address_wins_whatever_the_client_sent_before_it(
        prefix: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address, header: str) -> None:
    node = f'"[{address}]:4711"' if address.version == 6 else f"{address}:4711"
    value = f"for={node}" if header == "HTTP_FORWARDED" else node.strip('"')
    expected = address.ipv4_mapped if address.version == 6 and address.ipv4_mapped else address
    environ = {header: f"{prefix}, {value}", "REMOTE_ADDR": "10.0.0.1"}
    assert client_address(environ, trust_proxy=True) == str(expected)
