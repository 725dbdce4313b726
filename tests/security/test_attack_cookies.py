"""Hostile ``Cookie`` headers against the parser and ``Auth``: never an error, never a stranger's session.

A well-formed session id (40 characters of ``[a-zA-Z0-9]``) is the only thing
that reaches a store; anything else is unauthenticated without a query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi import Auth, LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.cookies import parse_cookie_header, read_cookie
from lucia_wsgi.session import SessionRow
from lucia_wsgi.testing import FaultyAdapter

from .fuzz_cookies_atheris import check
from .support import FAST_HASH, Tally

VALID = "PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW"
OTHER = "m4d3hs7fgoHr5RF7cMH3n8HfYLhWwjwjOXFhJ2fU"
PERCENT_VALID = "".join(f"%{ord(c):02X}" for c in VALID)

# (header, what the parser must read as auth_session); only VALID and OTHER name a session
HEADERS = [
    pytest.param("auth_session", "", id="no-equals"),
    pytest.param(f"auth_session{VALID}", "", id="no-equals-glued"),
    pytest.param(f";;; ;auth_session={VALID};;", VALID, id="stray-semicolons"),
    pytest.param(f"\tauth_session\t=\t{VALID}\t", VALID, id="tabs-trimmed"),
    pytest.param(f"auth_session={{\"id\":\"{VALID}\"}}", f'{{"id":"{VALID}"}}', id="json-ish"),
    pytest.param(f"auth_session=[\"{VALID}\"]", f'["{VALID}"]', id="json-array"),
    pytest.param(f"auth_session={VALID}; auth_session={OTHER}", VALID, id="duplicate-first-wins"),
    pytest.param(f"auth_session={OTHER}; auth_session={VALID}", OTHER, id="duplicate-planted-first-wins"),
    pytest.param(f"auth_session=; auth_session={VALID}", "", id="duplicate-empty-first"),
    pytest.param(f"auth_session={VALID},auth_session={OTHER}", f"{VALID},auth_session={OTHER}", id="comma-joined"),
    pytest.param("auth_session=ünïcödé", "ünïcödé", id="non-ascii"),
    pytest.param("auth_session=" + "Ａ" * 40, "Ａ" * 40, id="fullwidth-letters"),
    pytest.param("auth_session=" + "١" * 40, "١" * 40, id="arabic-indic-digits"),
    pytest.param(f'auth_session="{VALID}"', VALID, id="quoted"),
    pytest.param(f'auth_session="{VALID}\n"', f"{VALID}\n", id="quoted-trailing-newline"),
    pytest.param(f"auth_session={VALID}\n", VALID, id="trailing-newline-trimmed"),
    pytest.param(f"auth_session={PERCENT_VALID}", VALID, id="percent-encoded"),
    pytest.param(f"auth_session={VALID[:39]}%00", f"{VALID[:39]}\x00", id="percent-nul"),
    pytest.param(f"auth_session={VALID}\x00", f"{VALID}\x00", id="raw-nul"),
    pytest.param(f"auth_session={VALID[:39]}%zz", f"{VALID[:39]}%zz", id="bad-percent-kept-raw"),
    pytest.param(f"auth_session={VALID[:38]}%C3%A9", f"{VALID[:38]}é", id="percent-utf8"),
    pytest.param(f"auth_session={VALID[:38]}%C3%28", f"{VALID[:38]}%C3%28", id="percent-bad-utf8"),
    pytest.param(f"auth_session={VALID}=", f"{VALID}=", id="value-with-equals"),
    pytest.param(f"auth_session={VALID[:39]}", VALID[:39], id="too-short"),
    pytest.param(f"auth_session={VALID}x", f"{VALID}x", id="too-long"),
    pytest.param("auth_session=" + "-" * 40, "-" * 40, id="wrong-alphabet"),
    pytest.param(f"auth_session={VALID[:39]}_", f"{VALID[:39]}_", id="underscore"),
    pytest.param(f"auth_session={VALID[:20]} {VALID[20:39]}", f"{VALID[:20]} {VALID[20:39]}", id="inner-space"),
    pytest.param(f"Auth_Session={VALID}", "", id="name-case-sensitive"),
    pytest.param(f"auth_session ={VALID}", VALID, id="space-before-equals"),
    pytest.param(f"xauth_session={VALID}", "", id="longer-name"),
    pytest.param(f"auth_sessionx={VALID}", "", id="name-suffix"),
    pytest.param(f"other=auth_session={VALID}", "", id="name-inside-value"),
    pytest.param(f"auth_session={VALID}; Path=/; HttpOnly", VALID, id="set-cookie-attributes"),
    pytest.param("auth_session=' OR '1'='1", "' OR '1'='1", id="sql-metacharacters"),
    pytest.param("auth_session=../../etc/passwd", "../../etc/passwd", id="path-traversal"),
    pytest.param("auth_session=\ud800", "\ud800", id="lone-surrogate"),
    pytest.param("", "", id="empty-header"),
]


@pytest.fixture
def victim(make_auth: Callable[..., Auth]) -> tuple[Auth, FaultyAdapter]:
    """An ``Auth`` whose store holds VALID (alice) and OTHER (mallory) and counts its calls."""
    memory = MemoryAdapter()
    counting = FaultyAdapter(memory)
    auth = make_auth(counting)
    memory.set_user("alice", {"provider_id": "username:alice"})
    memory.set_user("mallory", {"provider_id": "username:mallory"})
    auth_time = auth.config.clock()
    memory.set_session(memory_row(VALID, "alice", auth_time))
    memory.set_session(memory_row(OTHER, "mallory", auth_time))
    return auth, counting


def memory_row(session_id: str, user_id: str, now: int) -> SessionRow:
    return SessionRow(session_id, user_id, now + 60_000, now + 120_000)


@pytest.mark.parametrize(("header", "expected"), HEADERS)
def test_hostile_cookie_header_parses_without_error(header: str, expected: str, tally: Tally) -> None:
    tally.add("attacks")
    assert read_cookie(header) == expected
    assert parse_cookie_header(header).get("auth_session", "") == expected


@pytest.mark.parametrize(("header", "expected"), HEADERS)
def test_hostile_cookie_header_is_someones_session_only_when_it_names_it_exactly(
    victim: tuple[Auth, FaultyAdapter], header: str, expected: str,
) -> None:
    auth, counting = victim
    session_id = auth.validate_request_headers({"REQUEST_METHOD": "GET", "HTTP_COOKIE": header})
    assert session_id == expected
    if expected in (VALID, OTHER):
        assert auth.validate_session(session_id).user_id == ("alice" if expected == VALID else "mallory")
        return
    with pytest.raises(LuciaError) as caught:
        auth.validate_session(session_id)
    assert caught.value.code == "AUTH_INVALID_SESSION_ID"
    assert counting.calls == [], "a malformed id reached the store"


BAD_IDS = [
    pytest.param("", id="empty"),
    pytest.param(VALID[:39], id="39-chars"),
    pytest.param(VALID + "A", id="41-chars"),
    pytest.param(VALID[:39] + "\x00", id="nul"),
    pytest.param(VALID[:39] + "é", id="non-ascii"),
    pytest.param(VALID[:39] + "\n", id="newline"),
    pytest.param(VALID[:39] + "%", id="percent"),
    pytest.param(VALID[:39] + "'", id="quote"),
    pytest.param("A" * 64, id="sha256-hex-length"),
    pytest.param("A" * 100_000, id="100k"),
    pytest.param(None, id="none"),
    pytest.param(12345, id="int"),
    pytest.param(VALID.encode(), id="bytes"),
]


def _call(auth: Auth, side: str, method: str, *args: Any) -> Any:
    """``auth.<method>(*args)``, or awaited on ``auth.aio`` (what the ASGI shell uses)."""
    if side == "sync":
        return getattr(auth, method)(*args)
    return asyncio.run(getattr(auth.aio, method)(*args))


@pytest.mark.parametrize("side", ["sync", "aio"])
@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize("method", ["validate_session", "validate_session_user", "get_session",
                                    "get_session_user", "renew_session", "invalidate_session"])
def test_malformed_session_id_never_reaches_the_store(
    victim: tuple[Auth, FaultyAdapter], method: str, bad_id: Any, side: str, tally: Tally,
) -> None:
    tally.add("attacks")
    auth, counting = victim
    if method == "invalidate_session":
        _call(auth, side, method, bad_id)  # unknown and malformed ids are fine
    else:
        with pytest.raises(LuciaError) as caught:
            _call(auth, side, method, bad_id)
        assert caught.value.code == "AUTH_INVALID_SESSION_ID"
    assert counting.calls == []


def _time_read(header: str) -> tuple[str, float]:
    start = time.perf_counter()
    value = read_cookie(header)
    return value, time.perf_counter() - start


HUGE = [
    pytest.param("a=b; " * 10_000 + f"auth_session={VALID}", VALID, id="10000-pairs-then-session"),
    pytest.param(f"auth_session={VALID}; " + "a=b; " * 10_000, VALID, id="session-then-10000-pairs"),
    pytest.param("x" * 65_536 + f"; auth_session={VALID}", VALID, id="64KiB-junk-pair"),
    pytest.param("auth_session=" + "%41" * 21_845, "A" * 21_845, id="64KiB-percent-escapes"),
    pytest.param(";" * 65_536, "", id="64KiB-semicolons"),
    pytest.param("=" * 65_536, "", id="64KiB-equals"),
    pytest.param("auth_session" * 5_462, "", id="64KiB-names-no-equals"),
    pytest.param(" " * 65_536 + f"auth_session={VALID}", VALID, id="64KiB-spaces"),
    pytest.param('auth_session="' + "\\" * 65_536, "\\" * 65_535, id="64KiB-backslashes-quoted"),
    pytest.param("auth_session=" * 5_000 + VALID, "auth_session=" * 4_999 + VALID, id="nested-names"),
]


@pytest.mark.parametrize(("header", "expected"), HUGE)
def test_huge_cookie_header_is_read_in_bounded_time(header: str, expected: str, tally: Tally) -> None:
    tally.add("attacks")
    value, seconds = _time_read(header)
    assert value == expected
    assert seconds < 0.5, f"reading a {len(header)}-character header took {seconds:.3f} s"


@given(header=st.text(max_size=300))
def test_any_cookie_header_is_read_without_error(header: str) -> None:
    value = read_cookie(header)
    assert isinstance(value, str)
    assert value == parse_cookie_header(header).get("auth_session", "")


@given(value=st.text(min_size=1, max_size=60))
def test_no_cookie_value_other_than_a_well_formed_id_queries_the_store(value: str) -> None:
    counting = FaultyAdapter(MemoryAdapter())
    auth = lucia(adapter=counting, env="DEV", hash=FAST_HASH)
    session_id = auth.validate_request_headers({"REQUEST_METHOD": "GET", "HTTP_COOKIE": f"auth_session={value}"})
    with pytest.raises(LuciaError):
        auth.validate_session(session_id)
    well_formed = len(session_id) == 40 and session_id.isascii() and session_id.isalnum()
    assert counting.count() == (1 if well_formed else 0)


SEEDS = [pytest.param(wire, id=f"seed-{i}") for i, wire in enumerate([
    b"", b"auth_session", b"auth_session=" + VALID.encode(), b'auth_session="' + VALID.encode() + b'"',
    b"auth_session=%41" * 40, b"\xff\xfe=\x00;auth_session=\xc3\xa9", b"auth_session=" + VALID.encode() + b"\x00",
    b";=;==;auth_session==" + VALID.encode(), b"auth_session=%ED%A0%80", b"auth_session=" + b"%" * 40,
])]


@pytest.mark.parametrize("data", SEEDS)
def test_atheris_harness_properties_hold_on_its_seeds(data: bytes) -> None:
    check(data)
