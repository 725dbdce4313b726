"""The pure CSRF decision: a method x Origin table, origin parsing, forwarded headers."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi.csrf import CsrfPolicy, Origin, is_request_allowed, parse_origin, request_origin

DEV = CsrfPolicy.build(enabled=True, force_https=False, trust_proxy=False, trusted_origins=())
PROD = CsrfPolicy.build(enabled=True, force_https=True, trust_proxy=False, trusted_origins=())
PROXY = CsrfPolicy.build(enabled=True, force_https=False, trust_proxy=True, trusted_origins=())
TRUSTED = CsrfPolicy.build(enabled=True, force_https=False, trust_proxy=False,
                           trusted_origins=["https://app.example.org", "http://localhost:3000"])
OFF = CsrfPolicy.build(enabled=False, force_https=False, trust_proxy=False, trusted_origins=())


def _environ(method: str, origin: str | None, **extra: str) -> dict[str, str]:
    environ = {"REQUEST_METHOD": method, "wsgi.url_scheme": "http", "HTTP_HOST": "example.com"}
    if origin is not None:
        environ["HTTP_ORIGIN"] = origin
    environ.update(extra)
    return environ


SAME = "http://example.com"

METHOD_ORIGIN_TABLE = [
    # safe methods pass whatever the Origin
    pytest.param("GET", None, {}, DEV, True, id="GET-no-origin"),
    pytest.param("GET", "https://evil.test", {}, DEV, True, id="GET-cross-origin"),
    pytest.param("HEAD", "null", {}, DEV, True, id="HEAD-null-origin"),
    # unsafe methods need the request's own origin
    pytest.param("POST", SAME, {}, DEV, True, id="POST-same-origin"),
    pytest.param("PUT", SAME, {}, DEV, True, id="PUT-same-origin"),
    pytest.param("DELETE", SAME, {}, DEV, True, id="DELETE-same-origin"),
    pytest.param("PATCH", SAME, {}, DEV, True, id="PATCH-same-origin"),
    pytest.param("post", SAME, {}, DEV, True, id="lowercase-post-same-origin"),
    pytest.param("POST", None, {}, DEV, False, id="POST-missing-origin"),
    pytest.param("PUT", None, {}, DEV, False, id="PUT-missing-origin"),
    pytest.param("DELETE", None, {}, DEV, False, id="DELETE-missing-origin"),
    pytest.param("PATCH", None, {}, DEV, False, id="PATCH-missing-origin"),
    pytest.param("post", None, {}, DEV, False, id="lowercase-post-missing-origin"),
    pytest.param("get", None, {}, DEV, False, id="lowercase-get-is-not-GET"),
    pytest.param("OPTIONS", None, {}, DEV, False, id="OPTIONS-missing-origin"),
    pytest.param("POST", "", {}, DEV, False, id="empty-origin"),
    pytest.param("POST", "null", {}, DEV, False, id="null-origin"),
    pytest.param("POST", "example.com", {}, DEV, False, id="origin-without-scheme"),
    pytest.param("POST", "http://", {}, DEV, False, id="origin-without-host"),
    pytest.param("POST", "http://example.com/", {}, DEV, False, id="origin-with-path"),
    pytest.param("POST", "http://u@example.com", {}, DEV, False, id="origin-with-userinfo"),
    pytest.param("POST", "http://example.com:99999", {}, DEV, False, id="origin-port-out-of-range"),
    pytest.param("POST", "http://example.com:", {}, DEV, False, id="origin-empty-port"),
    pytest.param("POST", "http://exa mple.com", {}, DEV, False, id="origin-with-space"),
    pytest.param("POST", "http://evil.test", {}, DEV, False, id="other-host"),
    pytest.param("PUT", "http://evil.test", {}, DEV, False, id="PUT-other-host"),
    pytest.param("DELETE", "http://evil.test", {}, DEV, False, id="DELETE-other-host"),
    pytest.param("PATCH", "http://evil.test", {}, DEV, False, id="PATCH-other-host"),
    pytest.param("POST", "http://sub.example.com", {}, DEV, False, id="subdomain"),
    pytest.param("POST", "http://example.com.evil.test", {}, DEV, False, id="suffix-host"),
    pytest.param("POST", "https://example.com", {}, DEV, False, id="other-scheme"),
    pytest.param("POST", "http://example.com:8080", {}, DEV, False, id="other-port"),
    # ports, case
    pytest.param("POST", "http://example.com:80", {}, DEV, True, id="explicit-default-port-in-origin"),
    pytest.param("POST", SAME, {"HTTP_HOST": "example.com:80"}, DEV, True, id="explicit-default-port-in-host"),
    pytest.param("POST", "HTTP://EXAMPLE.com", {"HTTP_HOST": "Example.COM"}, DEV, True, id="case-insensitive"),
    pytest.param("POST", "http://example.com:8080", {"HTTP_HOST": "example.com:8080"}, DEV, True,
                 id="non-default-port"),
    pytest.param("POST", SAME, {"HTTP_HOST": "example.com:8080"}, DEV, False, id="port-missing-from-origin"),
    pytest.param("POST", "https://example.com:443", {"wsgi.url_scheme": "https"}, DEV, True,
                 id="https-explicit-default-port"),
    pytest.param("POST", "http://[::1]:8080", {"HTTP_HOST": "[::1]:8080"}, DEV, True, id="ipv6"),
    pytest.param("POST", SAME, {"HTTP_HOST": "", "SERVER_NAME": "example.com", "SERVER_PORT": "80"}, DEV, True,
                 id="server-name-when-no-host"),
    pytest.param("POST", "http://example.com:8000",
                 {"HTTP_HOST": "", "SERVER_NAME": "example.com", "SERVER_PORT": "8000"}, DEV, True,
                 id="server-port-when-no-host"),
    pytest.param("POST", SAME, {"HTTP_HOST": "bad host"}, DEV, False, id="unparsable-host"),
    # trusted origins
    pytest.param("POST", "https://app.example.org", {}, TRUSTED, True, id="trusted-origin"),
    pytest.param("POST", "HTTPS://APP.example.org:443", {}, TRUSTED, True, id="trusted-origin-normalised"),
    pytest.param("POST", "http://localhost:3000", {}, TRUSTED, True, id="trusted-origin-with-port"),
    pytest.param("POST", "http://localhost", {}, TRUSTED, False, id="trusted-origin-other-port"),
    pytest.param("POST", "https://other.example.org", {}, TRUSTED, False, id="untrusted-sibling"),
    pytest.param("POST", SAME, {}, TRUSTED, True, id="own-origin-still-allowed"),
    # forwarded headers
    pytest.param("POST", "https://example.com",
                 {"HTTP_HOST": "backend:8000", "HTTP_X_FORWARDED_HOST": "example.com",
                  "HTTP_X_FORWARDED_PROTO": "https"}, DEV, False, id="forwarded-ignored-by-default"),
    pytest.param("POST", "http://backend:8000",
                 {"HTTP_HOST": "backend:8000", "HTTP_X_FORWARDED_HOST": "evil.test"}, DEV, True,
                 id="forwarded-host-cannot-break-own-origin"),
    pytest.param("POST", "https://example.com",
                 {"HTTP_HOST": "backend:8000", "HTTP_X_FORWARDED_HOST": "example.com",
                  "HTTP_X_FORWARDED_PROTO": "https"}, PROXY, True, id="forwarded-honoured-with-trust-proxy"),
    pytest.param("POST", "https://example.com",
                 {"HTTP_HOST": "backend", "HTTP_X_FORWARDED_HOST": "spoofed.example, example.com",
                  "HTTP_X_FORWARDED_PROTO": "http, https"}, PROXY, True, id="forwarded-last-value-wins"),
    pytest.param("POST", "http://backend:8000", {"HTTP_HOST": "backend:8000", "HTTP_X_FORWARDED_HOST": "example.com"},
                 PROXY, False, id="trust-proxy-uses-forwarded-host"),
    pytest.param("POST", "https://example.com:8443",
                 {"HTTP_HOST": "backend:8000", "HTTP_X_FORWARDED_HOST": "example.com",
                  "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_PORT": "8443"}, PROXY, True,
                 id="x-forwarded-port-honoured-with-trust-proxy"),
    pytest.param("POST", "https://example.com",
                 {"HTTP_HOST": "backend:8000", "HTTP_FORWARDED": 'for=192.0.2.1;host="example.com";proto=https'},
                 PROXY, True, id="rfc7239-forwarded-honoured-with-trust-proxy"),
    pytest.param("POST", "https://example.com",
                 {"HTTP_HOST": "backend:8000", "HTTP_FORWARDED": "host=example.com;proto=https"}, DEV, False,
                 id="rfc7239-forwarded-ignored-by-default"),
    pytest.param("POST", "http://evil.test",
                 {"HTTP_HOST": "example.com", "HTTP_FORWARDED": "host=evil.test, for=192.0.2.1"}, PROXY, False,
                 id="rfc7239-earlier-element-ignored"),
    pytest.param("POST", "https://example.com",
                 {"HTTP_HOST": "backend", "HTTP_FORWARDED": "host=example.com;proto=https",
                  "HTTP_X_FORWARDED_HOST": "evil.test", "HTTP_X_FORWARDED_PROTO": "http"}, PROXY, True,
                 id="rfc7239-forwarded-wins-over-x-forwarded"),
    pytest.param("POST", "http://evil.test",
                 {"HTTP_HOST": "backend", "HTTP_FORWARDED": "host=example.com", "HTTP_X_FORWARDED_HOST": "evil.test"},
                 PROXY, False, id="x-forwarded-host-ignored-beside-forwarded"),
    # env PROD: served over HTTPS whatever wsgi.url_scheme says
    pytest.param("POST", "https://example.com", {}, PROD, True, id="prod-forces-https"),
    pytest.param("POST", "http://example.com", {}, PROD, False, id="prod-rejects-http-origin"),
    pytest.param("POST", "https://example.com", {}, DEV, False, id="dev-uses-url-scheme"),
    # protection off
    pytest.param("POST", "http://evil.test", {}, OFF, True, id="disabled"),
    pytest.param("POST", None, {}, OFF, True, id="disabled-no-origin"),
]


@pytest.mark.parametrize(("method", "origin", "extra", "policy", "allowed"), METHOD_ORIGIN_TABLE)
def test_method_and_origin(
    method: str, origin: str | None, extra: dict[str, str], policy: CsrfPolicy, allowed: bool
) -> None:
    assert is_request_allowed(_environ(method, origin, **extra), policy) is allowed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("https://example.com", Origin("https", "example.com", 443), id="https-default"),
        pytest.param("http://example.com", Origin("http", "example.com", 80), id="http-default"),
        pytest.param("HTTP://Example.COM:8080", Origin("http", "example.com", 8080), id="normalised"),
        pytest.param("http://127.0.0.1:1", Origin("http", "127.0.0.1", 1), id="ipv4-port-1"),
        pytest.param("http://[::1]", Origin("http", "[::1]", 80), id="ipv6"),
        pytest.param("http://a.test:65535", Origin("http", "a.test", 65535), id="max-port"),
        pytest.param("http://a.test:0", None, id="port-zero"),
        pytest.param("http://a.test:65536", None, id="port-too-big"),
        pytest.param("ftp://a.test", None, id="scheme-without-default-port"),
        pytest.param("ftp://a.test:21", Origin("ftp", "a.test", 21), id="other-scheme-with-port"),
        pytest.param("null", None, id="null"),
        pytest.param("", None, id="empty"),
        pytest.param("https://a.test?x", None, id="query"),
        pytest.param("https://a.test#x", None, id="fragment"),
        pytest.param("https://a.test\\x", None, id="backslash"),
        pytest.param("1http://a.test", None, id="bad-scheme"),
        pytest.param("https://bücher.test", None, id="non-ascii-host"),
    ],
)
def test_parse_origin(value: str, expected: Origin | None) -> None:
    assert parse_origin(value) == expected


@pytest.mark.parametrize(
    ("origin", "text"),
    [
        pytest.param(Origin("https", "a.test", 443), "https://a.test", id="default-port-elided"),
        pytest.param(Origin("http", "a.test", 8080), "http://a.test:8080", id="other-port-kept"),
    ],
)
def test_origin_str(origin: Origin, text: str) -> None:
    assert str(origin) == text


@pytest.mark.parametrize(
    ("environ", "force_https", "trust_proxy", "expected"),
    [
        pytest.param({"HTTP_HOST": "a.test"}, False, False, Origin("http", "a.test", 80), id="no-scheme-means-http"),
        pytest.param({"wsgi.url_scheme": "HTTPS", "HTTP_HOST": "a.test"}, False, False,
                     Origin("https", "a.test", 443), id="scheme-lowercased"),
        pytest.param({"HTTP_HOST": "a.test:8443"}, True, False, Origin("https", "a.test", 8443), id="forced-https"),
        pytest.param({"SERVER_NAME": "a.test"}, False, False, Origin("http", "a.test", 80), id="server-name-only"),
        pytest.param({}, False, False, None, id="nothing-to-go-on"),
        pytest.param({"HTTP_HOST": "a.test", "HTTP_X_FORWARDED_PROTO": "https"}, False, True,
                     Origin("https", "a.test", 443), id="forwarded-proto"),
        pytest.param({"HTTP_HOST": "a.test", "HTTP_X_FORWARDED_PROTO": "https"}, False, False,
                     Origin("http", "a.test", 80), id="forwarded-proto-ignored"),
        pytest.param({"HTTP_HOST": "a.test", "HTTP_X_FORWARDED_PROTO": "javascript:"}, False, True, None,
                     id="forwarded-proto-garbage"),
        pytest.param({"HTTP_HOST": "a.test", "HTTP_FORWARDED": 'proto="javascript:"'}, False, True, None,
                     id="rfc7239-proto-garbage"),
        pytest.param({"HTTP_HOST": "backend", "HTTP_FORWARDED": 'host="a.test:8080";proto=HTTPS'}, False, True,
                     Origin("https", "a.test", 8080), id="rfc7239-host-with-port"),
        pytest.param({"HTTP_HOST": "a.test:8000", "HTTP_FORWARDED": "for=192.0.2.1"}, False, True,
                     Origin("http", "a.test", 8000), id="rfc7239-without-host-keeps-host-header"),
        pytest.param({"HTTP_HOST": "a.test:8000", "HTTP_X_FORWARDED_PORT": "x"}, False, True, None,
                     id="x-forwarded-port-garbage"),
        pytest.param({"HTTP_HOST": "a.test:8000", "HTTP_X_FORWARDED_PORT": "443", "HTTP_X_FORWARDED_PROTO": "https"},
                     False, True, Origin("https", "a.test", 443), id="x-forwarded-port-on-host"),
    ],
)
def test_request_origin(
    environ: Mapping[str, object], force_https: bool, trust_proxy: bool, expected: Origin | None
) -> None:
    assert request_origin(environ, force_https=force_https, trust_proxy=trust_proxy) == expected


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("example.com", id="no-scheme"),
        pytest.param("https://example.com/path", id="path"),
        pytest.param("null", id="null"),
        pytest.param("", id="empty"),
        pytest.param(None, id="not-a-string"),
    ],
)
def test_bad_trusted_origin_is_a_configuration_error(origin: object) -> None:
    with pytest.raises(ValueError, match="trusted_origins"):
        CsrfPolicy.build(enabled=True, force_https=False, trust_proxy=False, trusted_origins=[origin])  # type: ignore[list-item]


_HEADER_TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["null", SAME, "http://[::1]", "http://a:1:2"]))


@given(method=st.sampled_from(["GET", "POST", "post", "PUT", ""]), origin=_HEADER_TEXT, host=_HEADER_TEXT,
       forwarded=_HEADER_TEXT, policy=st.sampled_from([DEV, PROD, PROXY, TRUSTED]))
def test_decision_never_raises(method: str, origin: str, host: str, forwarded: str, policy: CsrfPolicy) -> None:
    environ = _environ(method, origin, HTTP_HOST=host, HTTP_X_FORWARDED_HOST=forwarded,
                       HTTP_X_FORWARDED_PROTO=forwarded, HTTP_X_FORWARDED_PORT=forwarded, HTTP_FORWARDED=forwarded)
    allowed = is_request_allowed(environ, policy)
    assert allowed is True or (allowed is False and method not in ("GET", "HEAD"))
