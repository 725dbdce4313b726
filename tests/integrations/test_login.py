"""lucia_wsgi.login, the framework-free part of the integrations: next URLs and the 401 body."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi.login import is_safe_next, login_url_with_next, next_path, unauthorized_answer


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        pytest.param("/account/me", "", "/account/me", id="plain path"),
        pytest.param("/a", "x=1&y=%2F", "/a?x=1&y=%2F", id="query kept encoded"),
        pytest.param("/a", b"q=caf\xc3\xa9", "/a?q=caf%C3%A9", id="raw query bytes escaped"),
        pytest.param("/caf\u00e9 bar", "", "/caf%C3%A9%20bar", id="decoded path re-encoded"),
        pytest.param("/100%", "", "/100%25", id="a literal percent"),
        pytest.param("", "", "/", id="empty path"),
        pytest.param("//evil.example/x", "", "/evil.example/x", id="double slash collapses"),
        pytest.param("/\\evil.example", "", "/%5Cevil.example", id="backslash escaped"),
        pytest.param("/\t/evil.example", "", "/%09/evil.example", id="tab escaped"),
        pytest.param("/a", "next=//evil", "/a?next=//evil", id="query cannot start the URL"),
    ],
)
def test_next_path(path: str, query: str | bytes, expected: str) -> None:
    assert next_path(path, query) == expected


@given(st.text(), st.one_of(st.text(), st.binary()))
def test_next_path_is_always_a_local_path(path: str, query: str | bytes) -> None:
    assert is_safe_next(next_path(path, query))


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        pytest.param("/", True, id="root"),
        pytest.param("/account/me?x=1#top", True, id="path query fragment"),
        pytest.param("/%2F%2Fevil.example", True, id="escaped slashes stay a path"),
        pytest.param("", False, id="empty"),
        pytest.param("account", False, id="relative"),
        pytest.param("//evil.example", False, id="scheme-relative"),
        pytest.param("/\\evil.example", False, id="slash backslash"),
        pytest.param("/a\\b", False, id="backslash anywhere"),
        pytest.param("/\t/evil.example", False, id="tab browsers drop"),
        pytest.param("/\n/evil.example", False, id="newline"),
        pytest.param("/a\x7f", False, id="delete character"),
        pytest.param(" /a", False, id="leading space"),
        pytest.param("https://evil.example/", False, id="absolute"),
        pytest.param("javascript:alert(1)", False, id="javascript scheme"),
    ],
)
def test_is_safe_next(url: str, safe: bool) -> None:
    assert is_safe_next(url) is safe


@pytest.mark.parametrize(
    ("login_url", "field", "expected"),
    [
        pytest.param("/login", "next", "/login?next=/a%3Fb%3D1", id="plain"),
        pytest.param("/login?next=/old&lang=en", "next", "/login?lang=en&next=/a%3Fb%3D1", id="replaces next"),
        pytest.param("/login", "to", "/login?to=/a%3Fb%3D1", id="other field"),
        pytest.param("https://sso.example/login", "next", "https://sso.example/login?next=/a%3Fb%3D1", id="absolute"),
    ],
)
def test_login_url_with_next(login_url: str, field: str, expected: str) -> None:
    url = login_url_with_next(login_url, "/a?b=1", field)
    assert url == expected
    assert parse_qs(urlsplit(url).query)[field] == ["/a?b=1"]


@pytest.mark.parametrize(
    ("accept", "json_body"),
    [
        pytest.param(None, True, id="no Accept"),
        pytest.param("*/*", True, id="anything"),
        pytest.param("application/json", True, id="json"),
        pytest.param("application/json, text/plain, */*", True, id="axios"),
        pytest.param("text/html,application/xhtml+xml,*/*;q=0.8", False, id="browser"),
        pytest.param("text/plain", False, id="text"),
        pytest.param("application/json;q=0.5, text/plain", False, id="text preferred"),
        pytest.param("application/json;q=0", False, id="json refused"),
        pytest.param(";;q=garbage", True, id="unparsable"),
    ],
)
def test_unauthorized_answer(accept: str | None, json_body: bool) -> None:
    content_type, body = unauthorized_answer(accept)
    if json_body:
        assert (content_type, json.loads(body)) == ("application/json", {"message": "unauthorized"})
    else:
        assert (content_type, body) == ("text/plain; charset=utf-8", b"Unauthorized")
