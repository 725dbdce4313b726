"""The pure session module: states at exact boundaries, validation decisions, renewal rows."""

from __future__ import annotations

import ast
import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi.session import (
    Session,
    SessionRow,
    Validation,
    classify,
    dead_session_ids,
    decide_validation,
    grace_row,
    is_well_formed_session_id,
    new_session_row,
    to_session,
)

EXPIRES = 1_000_000
IDLE_EXPIRES = 2_000_000
ROW = SessionRow("a" * 40, "user-1", EXPIRES, IDLE_EXPIRES)

BOUNDARIES = [
    pytest.param(0, "active", Validation.USE, id="long-before"),
    pytest.param(EXPIRES - 1, "active", Validation.USE, id="expires-minus-1"),
    pytest.param(EXPIRES, "active", Validation.USE, id="now-equals-expires"),
    pytest.param(EXPIRES + 1, "idle", Validation.RENEW, id="expires-plus-1"),
    pytest.param(IDLE_EXPIRES - 1, "idle", Validation.RENEW, id="idle-expires-minus-1"),
    pytest.param(IDLE_EXPIRES, "idle", Validation.RENEW, id="now-equals-idle-expires"),
    pytest.param(IDLE_EXPIRES + 1, "dead", Validation.DELETE, id="idle-expires-plus-1"),
]


@pytest.mark.parametrize(("now", "state", "decision"), BOUNDARIES)
def test_classify_boundaries(now: int, state: str, decision: Validation) -> None:
    assert classify(EXPIRES, IDLE_EXPIRES, now) == state


@pytest.mark.parametrize(("now", "state", "decision"), BOUNDARIES)
def test_decide_validation_boundaries(now: int, state: str, decision: Validation) -> None:
    assert decide_validation(ROW, now) is decision


def test_decide_validation_without_a_row_rejects() -> None:
    assert decide_validation(None, 0) is Validation.REJECT


@pytest.mark.parametrize(("now", "state", "decision"), BOUNDARIES)
def test_to_session_boundaries(now: int, state: str, decision: Validation) -> None:
    session = to_session(ROW, now)
    if state == "dead":
        assert session is None
    else:
        assert session is not None and session.state == state


def test_to_session_fields() -> None:
    row = SessionRow("PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW", "user-alice", 1700086400000, 1701296000123)
    assert to_session(row, 1700000000000) == Session(
        session_id="PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW",
        user_id="user-alice",
        active_period_expires=datetime(2023, 11, 15, 22, 13, 20, tzinfo=timezone.utc),
        idle_period_expires=datetime(2023, 11, 29, 22, 13, 20, 123000, tzinfo=timezone.utc),
        state="active",
        is_fresh=False,
    )


def test_to_session_overrides_stored_id_and_freshness() -> None:
    session = to_session(SessionRow("digest", "u", 10, 20), 15, session_id="b" * 40, is_fresh=True)
    assert session is not None
    assert (session.session_id, session.state, session.is_fresh) == ("b" * 40, "idle", True)


def test_session_datetimes_are_aware_utc() -> None:
    session = to_session(ROW, 0)
    assert session is not None
    assert session.active_period_expires.tzinfo is timezone.utc
    assert session.idle_period_expires.utcoffset() is not None


def test_session_is_frozen() -> None:
    session = to_session(ROW, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.user_id = "someone-else"  # type: ignore[misc, union-attr]


def test_new_session_row() -> None:
    assert new_session_row("s" * 40, "u", 1_000, 86_400_000, 1_209_600_000) == SessionRow(
        "s" * 40, "u", 86_401_000, 1_296_001_000
    )


@pytest.mark.parametrize(
    ("now", "grace", "until"),
    [
        pytest.param(EXPIRES + 10, 5_000, EXPIRES + 5_010, id="now-plus-grace"),
        pytest.param(IDLE_EXPIRES - 100, 5_000, IDLE_EXPIRES + 4_900, id="uncapped-near-idle-expiry"),
        pytest.param(EXPIRES + 10, 0, EXPIRES + 10, id="zero-grace"),
    ],
)
def test_grace_row(now: int, grace: int, until: int) -> None:
    shortened = grace_row(ROW, now, grace)
    assert shortened == SessionRow(ROW.id, ROW.user_id, until, until)
    assert classify(shortened.expires, shortened.idle_expires, until) == "active"
    assert classify(shortened.expires, shortened.idle_expires, until + 1) == "dead"


@pytest.mark.parametrize(
    ("session_id", "expected"),
    [
        pytest.param("aZ09" * 10, True, id="40-alphanumerics"),
        pytest.param("a" * 39, False, id="39-chars"),
        pytest.param("a" * 41, False, id="41-chars"),
        pytest.param("", False, id="empty"),
        pytest.param("a" * 39 + "-", False, id="dash"),
        pytest.param("a" * 39 + "\n", False, id="trailing-newline-instead"),
        pytest.param("a" * 40 + "\n", False, id="extra-trailing-newline"),
        pytest.param("a" * 39 + "٣", False, id="non-ascii-digit"),
        pytest.param("a" * 39 + "é", False, id="non-ascii-letter"),
        pytest.param(b"a" * 40, False, id="bytes"),
        pytest.param(None, False, id="none"),
        pytest.param(12, False, id="int"),
    ],
)
def test_is_well_formed_session_id(session_id: object, expected: bool) -> None:
    assert is_well_formed_session_id(session_id) is expected


def test_dead_session_ids_keeps_order_and_boundary() -> None:
    rows = [
        SessionRow("dead1", "u", 1, 99),
        SessionRow("edge", "u", 1, 100),
        SessionRow("live", "u", 200, 300),
        SessionRow("dead2", "u", 1, 50),
    ]
    assert dead_session_ids(rows, 100) == ["dead1", "dead2"]


# --- properties ---------------------------------------------------------------

_RANK = {"active": 0, "idle": 1, "dead": 2}
_MS = st.integers(min_value=-(2**53), max_value=2**53)


@given(expires=_MS, idle_expires=_MS, now=_MS, later=st.integers(min_value=0, max_value=2**53))
def test_classification_is_monotonic_in_now(expires: int, idle_expires: int, now: int, later: int) -> None:
    assert _RANK[classify(expires, idle_expires, now)] <= _RANK[classify(expires, idle_expires, now + later)]


@given(expires=_MS, idle_expires=_MS, now=_MS)
def test_decision_and_session_agree_with_classification(expires: int, idle_expires: int, now: int) -> None:
    row = SessionRow("a" * 40, "u", expires, idle_expires)
    state = classify(expires, idle_expires, now)
    expected = {"active": Validation.USE, "idle": Validation.RENEW, "dead": Validation.DELETE}[state]
    assert decide_validation(row, now) is expected
    session = to_session(row, now)
    assert (session is None) == (state == "dead")
    assert session is None or session.state == state


# --- the core stays pure ------------------------------------------------------

_PACKAGE = Path(__file__).resolve().parent.parent / "lucia_wsgi"
_FORBIDDEN_MODULES = {"sqlite3", "socket", "time", "secrets", "random", "os", "threading"}
_FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "time_ns", "monotonic"}


def _imports_and_calls(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            called.add(node.func.attr)
    return imported, called


@pytest.mark.parametrize("module", [pytest.param(m, id=m) for m in ("cookies.py", "session.py", "csrf.py")])
def test_pure_core_module_does_no_io_and_reads_no_clock(module: str) -> None:
    imported, called = _imports_and_calls(_PACKAGE / module)
    assert not imported & _FORBIDDEN_MODULES
    assert not called & _FORBIDDEN_CALLS


@pytest.mark.parametrize(
    ("idle_expires", "expected"),
    [
        pytest.param(10**18, datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc), id="after-year-9999"),
        pytest.param(-(10**18), datetime(1, 1, 1, tzinfo=timezone.utc), id="before-year-1"),
    ],
)
def test_out_of_range_expiry_saturates_instead_of_raising(idle_expires: int, expected: datetime) -> None:
    session = to_session(SessionRow("a" * 40, "u", -(10**18), idle_expires), -(10**18))
    assert session is not None
    assert session.idle_period_expires == expected
