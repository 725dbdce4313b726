"""Cross-site requests against ``Auth.validate_request_headers``: only the own origin may use the cookie.

Each row is a request a hostile page, proxy or client could produce; the
expected answer is whether the session cookie may be used for it. Every
table is checked twice: on the pure check with the row's WSGI environ, and
as a request on the wire through both middlewares (``shell``), where the
answer is who the page says is signed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from shells import Inner, Reply, Req, Shell

from lucia_wsgi import Auth, LuciaError
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.session import SessionRow

from .support import T0, Tally

SESSION = "PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW"
HOST = "example.com"


def environ(method: str, origin: str | None, **extra: str) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "HTTP_HOST": HOST,
        "SERVER_NAME": HOST,
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "HTTP_COOKIE": f"auth_session={SESSION}",
    }
    if origin is not None:
        env["HTTP_ORIGIN"] = origin
    env.update(extra)
    return env


def request(method: str, origin: str | None, **extra: str) -> Req:
    """The request on the wire whose WSGI environ is ``environ(method, origin, **extra)``."""
    env = environ(method, origin, **extra)
    headers = [(key[5:].replace("_", "-").lower(), value) for key, value in env.items()
               if key.startswith("HTTP_") and key != "HTTP_HOST"]
    return Req(method, "/", headers, host=env["HTTP_HOST"], scheme=env["wsgi.url_scheme"],
               server=(env["SERVER_NAME"], int(env["SERVER_PORT"])))


ALLOW, DENY = True, False

# (method, Origin header, extra environ, allowed?)
DEFAULT_POLICY = [
    # the unsafe methods, from nowhere or elsewhere
    *[pytest.param(m, None, {}, DENY, id=f"{m}-no-origin") for m in ("POST", "PUT", "DELETE", "PATCH")],
    *[pytest.param(m, "", {}, DENY, id=f"{m}-empty-origin") for m in ("POST", "PUT", "DELETE", "PATCH")],
    *[pytest.param(m, "null", {}, DENY, id=f"{m}-null-origin") for m in ("POST", "PUT", "DELETE", "PATCH")],
    *[pytest.param(m, "http://evil.com", {}, DENY, id=f"{m}-other-host") for m in ("POST", "PUT", "DELETE", "PATCH")],
    *[pytest.param(m, "http://example.com", {}, ALLOW, id=f"{m}-own-origin")
      for m in ("POST", "PUT", "DELETE", "PATCH")],
    pytest.param("POST", "https://example.com", {}, DENY, id="other-scheme"),
    pytest.param("POST", "http://example.com:8080", {}, DENY, id="other-port"),
    pytest.param("POST", "http://example.com:80", {}, ALLOW, id="explicit-default-port"),
    pytest.param("POST", "HTTP://EXAMPLE.COM", {}, ALLOW, id="uppercase-origin"),
    pytest.param("POST", "http://sub.example.com", {}, DENY, id="subdomain"),
    pytest.param("POST", "http://example.com.evil.com", {}, DENY, id="suffix-domain"),
    pytest.param("POST", "http://evilexample.com", {}, DENY, id="prefix-domain"),
    pytest.param("POST", "http://example.com@evil.com", {}, DENY, id="userinfo-trick"),
    pytest.param("POST", "http://evil.com#example.com", {}, DENY, id="fragment-trick"),
    pytest.param("POST", "http://evil.com/?example.com", {}, DENY, id="query-trick"),
    pytest.param("POST", "http://example.com/", {}, DENY, id="origin-with-path"),
    pytest.param("POST", "http://example.com\x00.evil.com", {}, DENY, id="nul-in-origin"),
    pytest.param("POST", "http://exam ple.com", {}, DENY, id="space-in-host"),
    pytest.param("POST", "http://example.com:0", {}, DENY, id="port-zero"),
    pytest.param("POST", "http://example.com:99999", {}, DENY, id="port-out-of-range"),
    pytest.param("POST", "http://example.com:-80", {}, DENY, id="negative-port"),
    pytest.param("POST", "example.com", {}, DENY, id="no-scheme"),
    pytest.param("POST", "//example.com", {}, DENY, id="scheme-relative"),
    pytest.param("POST", "file://", {}, DENY, id="file-scheme"),
    pytest.param("POST", "javascript:alert(1)", {}, DENY, id="javascript-url"),
    pytest.param("POST", "http://example.com, http://evil.com", {}, DENY, id="two-origins"),
    pytest.param("POST", "http://[::1]", {}, DENY, id="ipv6-loopback"),
    pytest.param("POST", "ünïcödé", {}, DENY, id="non-ascii"),
    pytest.param("POST", "http://ex%61mple.com", {}, DENY, id="percent-encoded-host"),
    # method spellings: only GET and HEAD (exact) are safe
    pytest.param("post", "http://evil.com", {}, DENY, id="lowercase-post"),
    pytest.param("get", "http://evil.com", {}, DENY, id="lowercase-get-is-not-get"),
    pytest.param("OPTIONS", "http://evil.com", {}, DENY, id="OPTIONS"),
    pytest.param("TRACE", "http://evil.com", {}, DENY, id="TRACE"),
    pytest.param("PROPFIND", None, {}, DENY, id="webdav-method"),
    pytest.param("", None, {}, DENY, id="empty-method"),
    pytest.param("GET", "http://evil.com", {}, ALLOW, id="GET-unaffected"),
    pytest.param("HEAD", "http://evil.com", {}, ALLOW, id="HEAD-unaffected"),
    pytest.param("GET", None, {}, ALLOW, id="GET-no-origin"),
    # forged hosts and forwarded headers: not trusted without trust_proxy
    pytest.param("POST", "http://evil.com", {"HTTP_X_FORWARDED_HOST": "evil.com"}, DENY, id="forged-x-forwarded-host"),
    pytest.param("POST", "https://example.com", {"HTTP_X_FORWARDED_PROTO": "https"}, DENY,
                 id="forged-x-forwarded-proto"),
    pytest.param("POST", "http://evil.com", {"HTTP_FORWARDED": "host=evil.com"}, DENY, id="forged-forwarded"),
    pytest.param("POST", "http://evil.com", {"HTTP_X_ORIGINAL_HOST": "evil.com"}, DENY, id="forged-x-original-host"),
    pytest.param("POST", "http://evil.com", {"HTTP_X_HOST": "evil.com"}, DENY, id="forged-x-host"),
    pytest.param("POST", "http://evil.com", {"SERVER_NAME": "evil.com"}, DENY, id="server-name-ignored-with-host"),
    pytest.param("POST", "http://example.com", {"HTTP_HOST": ""}, ALLOW, id="no-host-uses-server-name"),
    pytest.param("POST", "http://example.com", {"HTTP_HOST": "", "SERVER_PORT": "8080"}, DENY,
                 id="no-host-server-port-counts"),
    pytest.param("POST", "http://example.com", {"HTTP_HOST": "example.com/evil"}, DENY, id="unparsable-host"),
    pytest.param("POST", "http://example.com", {"HTTP_HOST": "example.com:8080"}, DENY, id="host-port-differs"),
    pytest.param("POST", "https://example.com", {"wsgi.url_scheme": "https"}, ALLOW, id="https-own-origin"),
    pytest.param("POST", "http://example.com", {"wsgi.url_scheme": "https"}, DENY, id="downgraded-origin"),
]


@pytest.fixture
def auth(make_auth: Callable[..., Auth]) -> Auth:
    return make_auth(MemoryAdapter())


def allowed(auth: Auth, env: dict[str, Any]) -> bool:
    try:
        session_id = auth.validate_request_headers(env)
    except LuciaError as error:
        assert error.code == "AUTH_INVALID_REQUEST"
        return False
    assert session_id == SESSION
    return True


async def who(r: Inner) -> Reply:
    """Says who is signed in, in a header (HEAD answers have no body)."""
    user = (await r.validate_user()).user
    return Reply(204, [("Signed-In", "" if user is None else user["user_id"])])


def signed_in(shell: Shell, auth: Auth, req: Req) -> bool:
    """Whether the page behind the middleware sees alice for ``req`` (sent with alice's cookie)."""
    auth.config.user_adapter.set_user("alice", {"provider_id": "username:alice"})
    auth.config.session_adapter.set_session(SessionRow(SESSION, "alice", T0 + 60_000, T0 + 120_000))
    answer = shell.serve(who, auth).send(req)
    assert answer.status == 204 and answer.set_cookies == []
    assert answer.get("Signed-In") in ("alice", "")
    return answer.get("Signed-In") == "alice"


@pytest.mark.parametrize(("method", "origin", "extra", "expected"), DEFAULT_POLICY)
def test_default_policy_through_the_middleware(shell: Shell, auth: Auth, method: str, origin: str | None,
                                               extra: dict[str, str], expected: bool, tally: Tally) -> None:
    tally.add("attacks")
    assert signed_in(shell, auth, request(method, origin, **extra)) is expected


@pytest.mark.parametrize(("method", "origin", "extra", "expected"), DEFAULT_POLICY)
def test_default_policy(auth: Auth, method: str, origin: str | None, extra: dict[str, str], expected: bool,
                        tally: Tally) -> None:
    tally.add("attacks")
    assert allowed(auth, environ(method, origin, **extra)) is expected


PROXY_POLICY = [
    pytest.param("http://evil.com", {"HTTP_X_FORWARDED_HOST": "evil.com"}, ALLOW, id="forwarded-host-trusted"),
    pytest.param("https://example.com", {"HTTP_X_FORWARDED_PROTO": "https"}, ALLOW, id="forwarded-proto-trusted"),
    # The nearest proxy appends the last value; earlier ones may come from the client.
    pytest.param("https://app.example.com", {"HTTP_X_FORWARDED_PROTO": "http, https",
                                            "HTTP_X_FORWARDED_HOST": "evil.com, app.example.com"},
                 ALLOW, id="last-forwarded-value-counts"),
    pytest.param("http://evil.com", {"HTTP_X_FORWARDED_HOST": "evil.com, app.example.com"}, DENY,
                 id="client-supplied-earlier-value-ignored"),
    pytest.param("http://example.com", {"HTTP_X_FORWARDED_PROTO": "https"}, DENY, id="proxy-says-https"),
    pytest.param("http://example.com", {}, ALLOW, id="no-forwarded-headers"),
    pytest.param("https://app.example.com", {"HTTP_FORWARDED": 'for=192.0.2.1;host="app.example.com";proto=https'},
                 ALLOW, id="rfc7239-forwarded-trusted"),
    pytest.param("http://evil.com", {"HTTP_FORWARDED": "host=evil.com, for=192.0.2.1;proto=http"}, DENY,
                 id="rfc7239-client-supplied-earlier-element-ignored"),
    pytest.param("http://evil.com", {"HTTP_FORWARDED": 'host="evil.com, host=example.com'}, DENY,
                 id="rfc7239-client-unterminated-quote-cannot-swallow-proxy-element"),
    pytest.param("http://evil.com", {"HTTP_FORWARDED": "proto=http", "HTTP_X_FORWARDED_HOST": "evil.com"}, DENY,
                 id="x-forwarded-host-ignored-when-the-proxy-sends-forwarded"),
]


@pytest.mark.parametrize(("origin", "extra", "expected"), PROXY_POLICY)
def test_trust_proxy_opt_in(make_auth: Callable[..., Auth], origin: str, extra: dict[str, str], expected: bool,
                            tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(MemoryAdapter(), trust_proxy=True)
    assert allowed(auth, environ("POST", origin, **extra)) is expected


@pytest.mark.parametrize(("origin", "extra", "expected"), PROXY_POLICY)
def test_trust_proxy_opt_in_through_the_middleware(shell: Shell, make_auth: Callable[..., Auth], origin: str,
                                                   extra: dict[str, str], expected: bool, tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(MemoryAdapter(), trust_proxy=True)
    assert signed_in(shell, auth, request("POST", origin, **extra)) is expected


TRUSTED = ["https://app.example.com", "http://localhost:3000"]
TRUSTED_POLICY = [
    pytest.param("https://app.example.com", ALLOW, id="front-end-origin"),
    pytest.param("HTTPS://APP.EXAMPLE.COM:443", ALLOW, id="front-end-normalised"),
    pytest.param("http://localhost:3000", ALLOW, id="dev-server"),
    pytest.param("http://example.com", ALLOW, id="own-origin-still-works"),
    pytest.param("http://app.example.com", DENY, id="front-end-other-scheme"),
    pytest.param("https://app.example.com:8443", DENY, id="front-end-other-port"),
    pytest.param("http://localhost:3001", DENY, id="dev-server-other-port"),
    pytest.param("https://evil.app.example.com", DENY, id="front-end-subdomain"),
    pytest.param("null", DENY, id="null"),
]


@pytest.mark.parametrize(("origin", "expected"), TRUSTED_POLICY)
def test_trusted_origins(make_auth: Callable[..., Auth], origin: str, expected: bool, tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(MemoryAdapter(), trusted_origins=TRUSTED)
    assert allowed(auth, environ("POST", origin)) is expected


@pytest.mark.parametrize(("origin", "expected"), TRUSTED_POLICY)
def test_trusted_origins_through_the_middleware(shell: Shell, make_auth: Callable[..., Auth], origin: str,
                                                expected: bool, tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(MemoryAdapter(), trusted_origins=TRUSTED)
    assert signed_in(shell, auth, request("POST", origin)) is expected


PROD_POLICY = [
    pytest.param("https://example.com", {}, ALLOW, id="tls-terminated-before-app"),
    pytest.param("http://example.com", {}, DENY, id="http-origin-in-prod"),
    pytest.param("https://evil.com", {"HTTP_X_FORWARDED_HOST": "evil.com"}, DENY, id="forged-forwarded-host"),
]


@pytest.mark.parametrize(("origin", "extra", "expected"), PROD_POLICY)
def test_prod_origin_is_https(make_auth: Callable[..., Auth], origin: str, extra: dict[str, str], expected: bool,
                              tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(MemoryAdapter(), env="PROD")
    assert allowed(auth, environ("POST", origin, **extra)) is expected


@pytest.mark.parametrize(("origin", "extra", "expected"), PROD_POLICY)
def test_prod_origin_is_https_through_the_middleware(shell: Shell, make_auth: Callable[..., Auth], origin: str,
                                                     extra: dict[str, str], expected: bool, tally: Tally) -> None:
    tally.add("attacks")
    auth = make_auth(MemoryAdapter(), env="PROD")
    assert signed_in(shell, auth, request("POST", origin, **extra)) is expected


@pytest.mark.parametrize("origin", [pytest.param("http://evil.com", id="foreign"), pytest.param(None, id="none")])
def test_csrf_protection_off_is_an_explicit_choice(make_auth: Callable[..., Auth], origin: str | None) -> None:
    auth = make_auth(MemoryAdapter(), csrf_protection=False)
    assert allowed(auth, environ("POST", origin))


@pytest.mark.parametrize("origin", [pytest.param("http://evil.com", id="foreign"), pytest.param(None, id="none")])
def test_csrf_protection_off_through_the_middleware(shell: Shell, make_auth: Callable[..., Auth],
                                                    origin: str | None) -> None:
    auth = make_auth(MemoryAdapter(), csrf_protection=False)
    assert signed_in(shell, auth, request("POST", origin))


@pytest.mark.parametrize("bad", [
    pytest.param("example.com", id="no-scheme"),
    pytest.param("https://example.com/path", id="path"),
    pytest.param("null", id="null"),
    pytest.param("*", id="wildcard"),
    pytest.param("https://*.example.com", id="wildcard-subdomain"),
])
def test_trusted_origins_refuses_what_is_not_an_origin(make_auth: Callable[..., Auth], bad: str) -> None:
    with pytest.raises(ValueError, match="trusted_origins"):
        make_auth(MemoryAdapter(), trusted_origins=[bad])
