"""The pure header rules: the application's own session cookie wins; a response setting one is private."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi.cookies import Cookie
from lucia_wsgi.headers import private_cache_control, session_headers, set_cookie_names

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)
BLANK = Cookie(name="auth_session", value="", expires=EPOCH, path="/")
RENEWED = Cookie(name="auth_session", value="R" * 40, expires=LATER, path="/")
OTHER = Cookie(name="csrf", value="x", expires=LATER, path="/")


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param(None, "private", id="missing"),
    pytest.param("public, max-age=600", "private, max-age=600", id="public-dropped"),
    pytest.param("PUBLIC, Max-Age=600", "private, Max-Age=600", id="names-case-insensitive"),
    pytest.param("max-age=60, s-maxage=600", "private, max-age=60", id="s-maxage-dropped"),
    pytest.param('public, s-maxage="600", no-transform', "private, no-transform", id="quoted-s-maxage"),
    pytest.param("no-store", "no-store", id="no-store-kept"),
    pytest.param("private, max-age=60", "private, max-age=60", id="private-kept"),
    pytest.param('private="Set-Cookie", public', 'private="Set-Cookie", public', id="private-with-fields-kept"),
    pytest.param("public, no-store", "public, no-store", id="no-store-wins-as-it-is"),
    pytest.param("", "private", id="empty"),
    pytest.param(" , ,", "private", id="only-commas"),
])
def test_private_cache_control(value: str | None, expected: str) -> None:
    assert private_cache_control(value) == expected


_DIRECTIVE = st.sampled_from(["public", "PUBLIC", "private", "no-store", "no-cache", "max-age=60",
                              "s-maxage=600", "S-MaxAge=1", "must-revalidate", "immutable", ""])


def _directives(value: str) -> set[str]:
    return {part.strip().partition("=")[0].lower() for part in value.split(",") if part.strip()}


@given(st.lists(_DIRECTIVE, max_size=6).map(", ".join))
def test_no_shared_cache_may_store_what_private_cache_control_returns(value: str) -> None:
    result = private_cache_control(value)
    if _directives(value) & {"private", "no-store"}:
        assert result == value  # already kept out of shared caches: left as the application wrote it
    else:
        assert "private" in _directives(result)
        assert not _directives(result) & {"public", "s-maxage"}
        assert _directives(result) - {"private"} == _directives(value) - {"public", "s-maxage"}


def _names(headers: list[tuple[str, str]]) -> list[str]:
    return [name for name, _ in headers]


def test_the_applications_session_cookie_wins_over_the_queued_one() -> None:
    own = ("Set-Cookie", "auth_session=" + "A" * 40 + "; Path=/; HttpOnly")
    headers = session_headers([("Content-Type", "text/html"), own], [BLANK, OTHER], vary=True)
    assert [value for name, value in headers if name == "Set-Cookie"] == [own[1], OTHER.serialize()]


def test_the_applications_other_cookies_do_not_stop_the_session_cookie() -> None:
    headers = session_headers([("Set-Cookie", "theme=dark; Path=/")], [RENEWED], vary=False)
    assert [value for name, value in headers if name == "Set-Cookie"] == ["theme=dark; Path=/", RENEWED.serialize()]


def test_a_response_whose_only_session_cookie_is_the_applications_keeps_its_cache_control() -> None:
    own = [("Cache-Control", "public, max-age=600"), ("Set-Cookie", "auth_session=x; Path=/")]
    assert session_headers(own, [BLANK], vary=False) == own


def test_every_cache_control_header_becomes_private() -> None:
    headers = session_headers([("cache-control", "public"), ("Cache-Control", "max-age=600")], [RENEWED],
                              vary=False)
    assert [(n, v) for n, v in headers if n.lower() == "cache-control"] == [
        ("cache-control", "private"), ("Cache-Control", "private, max-age=600")]


def test_nothing_queued_and_nothing_read_adds_nothing() -> None:
    headers = [("Content-Type", "text/plain"), ("Cache-Control", "public, max-age=600")]
    assert session_headers(headers, [], vary=False) == headers
    assert _names(session_headers(headers, [RENEWED], vary=False)) == ["Content-Type", "Cache-Control", "Set-Cookie"]


@pytest.mark.parametrize(("headers", "names"), [
    pytest.param([("Set-Cookie", "a=1"), ("set-cookie", " b = 2; Path=/")], {"a", "b"}, id="any-case"),
    pytest.param([("X-Set-Cookie", "a=1"), ("Content-Type", "text/plain")], set(), id="other-headers"),
])
def test_set_cookie_names(headers: list[tuple[str, str]], names: set[str]) -> None:
    assert set_cookie_names(headers) == names
