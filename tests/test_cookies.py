"""The pure cookie module: Lucia's ``Cookie`` parsing rules and byte-exact Set-Cookie values."""

from __future__ import annotations

import string
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi.cookies import (
    SESSION_COOKIE_NAME,
    Cookie,
    CookieOptions,
    http_date,
    parse_cookie_header,
    read_cookie,
    session_cookies,
)
from lucia_wsgi.session import SessionRow, to_session

SID = "KlI5xRRBojqoRXw5pNsldOJPO0X0Dw1eKJdKJNgS"
DEFAULT = CookieOptions(same_site="lax", path="/")

# --- parsing ------------------------------------------------------------------

READ_CASES = [
    pytest.param("", "", id="empty-header"),
    pytest.param("auth_session=abc", "abc", id="single"),
    pytest.param("a=1; auth_session=abc; b=2", "abc", id="among-others"),
    pytest.param("auth_session=first; auth_session=second", "first", id="first-wins"),
    pytest.param("Auth_Session=upper; auth_session=lower", "lower", id="names-case-sensitive"),
    pytest.param("AUTH_SESSION=upper", "", id="other-case-only"),
    pytest.param("  auth_session  =  abc  ", "abc", id="name-and-value-trimmed"),
    pytest.param("\tauth_session=\tabc\t", "abc", id="tabs-trimmed"),
    pytest.param("\xa0auth_session=abc\u3000", "abc", id="js-trim-unicode-spaces"),
    pytest.param("auth_session=\ufeffabc", "abc", id="js-trim-bom"),
    pytest.param("auth_session=a b", "a b", id="inner-space-kept"),
    pytest.param('auth_session="abc"', "abc", id="quoted"),
    pytest.param('auth_session= "abc" ', "abc", id="quoted-after-trim"),
    pytest.param('auth_session="abc', "ab", id="open-quote-drops-first-and-last"),
    pytest.param('auth_session=abc"', 'abc"', id="closing-quote-only-kept"),
    pytest.param('auth_session="', "", id="lone-quote"),
    pytest.param('auth_session=""', "", id="empty-quoted"),
    pytest.param('auth_session="a%20b"', "a b", id="quoted-then-decoded"),
    pytest.param("auth_session=a%20b", "a b", id="percent-space"),
    pytest.param("auth_session=%E2%82%AC", "€", id="percent-utf8"),
    pytest.param("auth_session=%e2%82%ac", "€", id="percent-lowercase-hex"),
    pytest.param("auth_session=a+b", "a+b", id="plus-not-space"),
    pytest.param("auth_session=100%", "100%", id="trailing-percent-raw"),
    pytest.param("auth_session=%zz%20", "%zz%20", id="bad-escape-keeps-whole-raw"),
    pytest.param("auth_session=%4", "%4", id="short-escape-raw"),
    pytest.param("auth_session=%C3", "%C3", id="truncated-utf8-raw"),
    pytest.param("auth_session=%FF%FE", "%FF%FE", id="invalid-utf8-raw"),
    pytest.param("auth_session=%C0%AF", "%C0%AF", id="overlong-utf8-raw"),
    pytest.param("auth_session=%ED%A0%80", "%ED%A0%80", id="encoded-surrogate-raw"),
    pytest.param("auth_session=a=b=c", "a=b=c", id="equals-inside-value"),
    pytest.param("auth_session==", "=", id="value-is-equals"),
    pytest.param("auth_session=", "", id="empty-value"),
    pytest.param("auth_session", "", id="no-equals-skipped"),
    pytest.param("auth_session; auth_session=x", "x", id="pair-without-equals-skipped"),
    pytest.param("foo; bar; auth_session=x", "x", id="junk-before"),
    pytest.param(";;; auth_session=x;;", "x", id="stray-semicolons"),
    pytest.param("auth_session=x,y", "x,y", id="comma-not-a-separator"),
    pytest.param("xauth_session=1; auth_sessionx=2", "", id="no-substring-match"),
    pytest.param("=x; auth_session=y", "y", id="empty-name-pair"),
]


@pytest.mark.parametrize(("header", "expected"), READ_CASES)
def test_read_cookie(header: str, expected: str) -> None:
    assert read_cookie(header) == expected


@pytest.mark.parametrize(("header", "expected"), READ_CASES)
def test_read_cookie_agrees_with_full_parse(header: str, expected: str) -> None:
    assert parse_cookie_header(header).get(SESSION_COOKIE_NAME, "") == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("", {}, id="empty"),
        pytest.param("a=1;b=2", {"a": "1", "b": "2"}, id="two"),
        pytest.param("a=1; a=2; A=3", {"a": "1", "A": "3"}, id="first-wins-case-sensitive"),
        pytest.param("=x; b", {"": "x"}, id="empty-name-kept-bare-skipped"),
        pytest.param(" a = 1 ; b=", {"a": "1", "b": ""}, id="trimmed-and-empty"),
        pytest.param("a=%41; b=%G1", {"a": "A", "b": "%G1"}, id="decoded-or-raw"),
    ],
)
def test_parse_cookie_header(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie_header(header) == expected


def test_read_cookie_by_other_name() -> None:
    assert read_cookie("auth_session=a; csrf=b%21", "csrf") == "b!"


# The alphabet that exercises every parsing rule, for dense headers.
_COOKIE_CHARS = st.sampled_from([*' ;=%"\t\xa0\ufeffaZ0', "auth_session", "%20", "%C3", "%E2%82%AC", "%zz"])
_HEADERS = st.one_of(st.text(), st.lists(_COOKIE_CHARS, max_size=30).map("".join))
_NAMES = st.one_of(st.just(SESSION_COOKIE_NAME), st.sampled_from(["", " a", "a", "A", "x=y"]), st.text(max_size=5))


@given(header=_HEADERS)
def test_parser_never_raises(header: str) -> None:
    cookies = parse_cookie_header(header)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in cookies.items())


@given(header=_HEADERS, name=_NAMES)
def test_read_cookie_is_parse_then_get(header: str, name: str) -> None:
    assert read_cookie(header, name) == parse_cookie_header(header).get(name, "")


# --- Set-Cookie ---------------------------------------------------------------


def _session(session_id: str = SID, idle_expires: int = 1700000240001) -> object:
    session = to_session(SessionRow(session_id, "user", idle_expires - 1000, idle_expires), idle_expires - 1000)
    assert session is not None
    return session


@pytest.mark.parametrize(
    ("session_id", "options", "secure", "expected"),
    [
        pytest.param(
            SID, [DEFAULT], False,
            ["auth_session=KlI5xRRBojqoRXw5pNsldOJPO0X0Dw1eKJdKJNgS; Path=/; "
             "Expires=Tue, 14 Nov 2023 22:17:20 GMT; HttpOnly; SameSite=Lax"],
            id="dev",
        ),
        pytest.param(
            SID, [DEFAULT], True,
            ["auth_session=KlI5xRRBojqoRXw5pNsldOJPO0X0Dw1eKJdKJNgS; Path=/; "
             "Expires=Tue, 14 Nov 2023 22:17:20 GMT; HttpOnly; Secure; SameSite=Lax"],
            id="prod",
        ),
        pytest.param(
            None, [DEFAULT], False,
            ["auth_session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"],
            id="none-dev",
        ),
        pytest.param(
            None,
            [CookieOptions.from_mapping({"same_site": "strict", "path": "/app", "domain": "example.com"}),
             CookieOptions.from_mapping({})],
            False,
            ["auth_session=; Domain=example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
             "HttpOnly; SameSite=Strict",
             "auth_session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"],
            id="none-two-cookies",
        ),
        pytest.param(
            SID, [CookieOptions(same_site="NONE", path="/", domain="a.example")], True,
            ["auth_session=KlI5xRRBojqoRXw5pNsldOJPO0X0Dw1eKJdKJNgS; Domain=a.example; Path=/; "
             "Expires=Tue, 14 Nov 2023 22:17:20 GMT; HttpOnly; Secure; SameSite=None"],
            id="same-site-none-any-case",
        ),
    ],
)
def test_set_cookie_known_answers(
    session_id: str | None, options: list[CookieOptions], secure: bool, expected: list[str]
) -> None:
    session = None if session_id is None else _session(session_id)
    cookies = session_cookies(session, options, secure=secure)  # type: ignore[arg-type]
    assert [cookie.serialize() for cookie in cookies] == expected


def test_fixture_alice_cookie() -> None:
    session = to_session(
        SessionRow("PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW", "user-alice", 1700086400000, 1701296000000),
        1700000000000,
    )
    (cookie,) = session_cookies(session, [DEFAULT], secure=False)
    assert cookie.serialize() == (
        "auth_session=PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW; Path=/; "
        "Expires=Wed, 29 Nov 2023 22:13:20 GMT; HttpOnly; SameSite=Lax"
    )


def test_cookie_exposes_its_attributes() -> None:
    (cookie,) = session_cookies(_session(), [DEFAULT], secure=True)  # type: ignore[arg-type]
    assert (cookie.name, cookie.value) == ("auth_session", SID)
    assert cookie.attributes == {
        "domain": None,
        "path": "/",
        "expires": datetime(2023, 11, 14, 22, 17, 20, 1000, tzinfo=timezone.utc),
        "http_only": True,
        "secure": True,
        "same_site": "lax",
    }


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        pytest.param("a b;c", "a%20b%3Bc", id="space-semicolon"),
        pytest.param("-_.!~*'()", "-_.!~*'()", id="encodeURIComponent-unreserved"),
        pytest.param('"q"', "%22q%22", id="quotes"),
        pytest.param("€=", "%E2%82%AC%3D", id="utf8-and-equals"),
    ],
)
def test_value_is_encoded_like_encodeURIComponent(value: str, encoded: str) -> None:
    cookie = Cookie(name="x", value=value, expires=datetime(1970, 1, 1, tzinfo=timezone.utc), http_only=False)
    assert cookie.serialize() == f"x={encoded}; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(datetime(1970, 1, 1, tzinfo=timezone.utc), "Thu, 01 Jan 1970 00:00:00 GMT", id="epoch"),
        pytest.param(datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone.utc),
                     "Thu, 29 Feb 2024 23:59:59 GMT", id="leap-day-truncates-fraction"),
        pytest.param(datetime(2023, 11, 15, 0, 17, 20, tzinfo=timezone(timedelta(hours=2))),
                     "Tue, 14 Nov 2023 22:17:20 GMT", id="converted-to-utc"),
        pytest.param(datetime(2000, 12, 31, 1, 2, 3, tzinfo=timezone.utc), "Sun, 31 Dec 2000 01:02:03 GMT",
                     id="single-digit-fields-padded"),
    ],
)
def test_http_date(moment: datetime, expected: str) -> None:
    assert http_date(moment) == expected


@pytest.mark.parametrize(
    "name",
    [pytest.param("", id="empty"), pytest.param("a b", id="space"), pytest.param("a;b", id="semicolon"),
     pytest.param("a=b", id="equals"), pytest.param("ä", id="non-ascii")],
)
def test_cookie_rejects_invalid_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid cookie name"):
        Cookie(name=name, value="", expires=datetime(1970, 1, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"same_site": "lax2"}, id="bad-same-site"),
        pytest.param({"same_site": 1}, id="same-site-not-str"),
        pytest.param({"path": "/; Secure"}, id="path-injects-attribute"),
        pytest.param({"domain": "a.com\r\nX-Evil: 1"}, id="domain-injects-header"),
        pytest.param({"path": 7}, id="path-not-str"),
        pytest.param({"secure": True}, id="unknown-key-secure"),
        pytest.param({"max_age": 5}, id="unknown-key-max-age"),
    ],
)
def test_cookie_options_reject_bad_values(options: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError), match="session_cookie"):
        CookieOptions.from_mapping(options)


_SESSION_IDS = st.text(alphabet=string.ascii_letters + string.digits, min_size=40, max_size=40)


@given(session_id=_SESSION_IDS, idle_expires=st.integers(min_value=0, max_value=253402300799999))
def test_serialize_then_parse_returns_the_session_id(session_id: str, idle_expires: int) -> None:
    cookies = session_cookies(_session(session_id, idle_expires), [DEFAULT], secure=False)  # type: ignore[arg-type]
    assert read_cookie(cookies[0].serialize()) == session_id


@given(value=st.text(alphabet=st.characters(codec="utf-8")))
def test_any_value_round_trips(value: str) -> None:
    cookie = Cookie(name=SESSION_COOKIE_NAME, value=value, expires=datetime(1970, 1, 1, tzinfo=timezone.utc))
    assert read_cookie(cookie.serialize()) == value
