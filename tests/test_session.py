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
    SUPERSEDED_RETENTION,
    Session,
    SessionRow,
    Validation,
    classify,
    dead_session_ids,
    decide_successor,
    decide_validation,
    device_id,
    extended_row,
    is_removable,
    is_well_formed_session_id,
    live_device_rows,
    new_session_row,
    seal_successor,
    storage_digest,
    successor_row,
    to_session,
    unseal_successor,
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
        "s" * 40, "u", 86_401_000, 1_296_001_000, created_at=1_000, last_seen=1_000
    )


def test_new_session_row_keeps_the_device_details() -> None:
    row = new_session_row("s" * 40, "u", 0, 1, 2, user_agent="curl/8", ip_address="::1")
    assert (row.user_agent, row.ip_address) == ("curl/8", "::1")


def test_a_successor_starts_fresh_on_the_same_device() -> None:
    old = SessionRow("o" * 40, "u", 10, 20, created_at=1, last_seen=2, user_agent="ua", ip_address="ip")
    new = successor_row(old, "n" * 40, 15, 100, 1_000)
    assert new == SessionRow("n" * 40, "u", 115, 1_115, None, "o" * 40, 1, 15, "ua", "ip")


def test_extend_moves_both_expiries_and_keeps_the_id() -> None:
    row = SessionRow("o" * 40, "u", 10, 20, created_at=1, last_seen=2)
    assert extended_row(row, 15, 100, 1_000) == row._replace(expires=115, idle_expires=1_115, last_seen=15)


LIVE = SessionRow("a" * 40, "u", EXPIRES, IDLE_EXPIRES)


@pytest.mark.parametrize(
    ("row", "now", "decision"),
    [
        pytest.param(None, 0, Validation.REJECT, id="unknown"),
        pytest.param(LIVE, IDLE_EXPIRES + 1, Validation.DELETE, id="died-on-its-own"),
        pytest.param(LIVE._replace(successor="b" * 40), IDLE_EXPIRES + 1, Validation.SUPERSEDED, id="renewed-dead"),
        pytest.param(LIVE._replace(successor="b" * 40), EXPIRES + 1, Validation.FOLLOW, id="renewed-idle"),
        pytest.param(LIVE._replace(successor="b" * 40), 0, Validation.FOLLOW, id="renewed-active"),
        pytest.param(LIVE._replace(predecessor="p" * 40), 0, Validation.CONFIRM, id="successor-first-seen"),
        pytest.param(LIVE._replace(predecessor="p" * 40), IDLE_EXPIRES + 1, Validation.DELETE,
                     id="successor-dead-unseen"),
        pytest.param(LIVE._replace(successor="b" * 40, predecessor="p" * 40), 0, Validation.FOLLOW,
                     id="follow-before-confirm"),
    ],
)
def test_decide_validation_of_linked_rows(row: SessionRow | None, now: int, decision: Validation) -> None:
    assert decide_validation(row, now) is decision


@pytest.mark.parametrize(
    ("successor", "now", "decision"),
    [
        pytest.param(None, 0, Validation.SUPERSEDED, id="signed-out"),
        pytest.param(LIVE, EXPIRES, Validation.USE, id="active"),
        pytest.param(LIVE, EXPIRES + 1, Validation.RENEW, id="idle-replace-it"),
        pytest.param(LIVE, IDLE_EXPIRES + 1, Validation.RENEW, id="dead-replace-it"),
    ],
)
def test_decide_successor(successor: SessionRow | None, now: int, decision: Validation) -> None:
    assert decide_successor(successor, now) is decision


@pytest.mark.parametrize(
    ("row", "now", "removable"),
    [
        pytest.param(LIVE, IDLE_EXPIRES, False, id="plain-at-death"),
        pytest.param(LIVE, IDLE_EXPIRES + 1, True, id="plain-dead"),
        pytest.param(LIVE._replace(successor="b" * 40), IDLE_EXPIRES + 1, False, id="superseded-just-dead"),
        pytest.param(LIVE._replace(successor="b" * 40), IDLE_EXPIRES + SUPERSEDED_RETENTION, False,
                     id="superseded-retention-edge"),
        pytest.param(LIVE._replace(successor="b" * 40), IDLE_EXPIRES + SUPERSEDED_RETENTION + 1, True,
                     id="superseded-past-retention"),
    ],
)
def test_is_removable(row: SessionRow, now: int, removable: bool) -> None:
    assert is_removable(row, now) is removable


def test_live_device_rows_lists_each_device_once_newest_first() -> None:
    old = SessionRow("o" * 40, "u", 10, 100, successor="n" * 40, created_at=5)
    new = SessionRow("n" * 40, "u", 50, 200, predecessor="o" * 40, created_at=5)
    other = SessionRow("x" * 40, "u", 60, 300, created_at=7)
    lucia_made = SessionRow("l" * 40, "u", 16, 150)  # no created_at: signed in about expires - active period
    dead = SessionRow("d" * 40, "u", 1, 2, created_at=9)
    assert live_device_rows([old, new, dead, lucia_made, other], 20, active_period=10) == [other, lucia_made, new]


@given(old=st.text("abcXYZ019", min_size=40, max_size=40), new=st.text("abcXYZ019", min_size=40, max_size=40),
       nonce=st.binary(min_size=16, max_size=16))
def test_a_sealed_successor_opens_with_its_old_id_only(old: str, new: str, nonce: bytes) -> None:
    sealed = seal_successor(old, new, nonce)
    assert new not in sealed
    assert unseal_successor(old, sealed) == new
    other = ("b" if old[0] != "b" else "c") + old[1:]
    assert unseal_successor(other, sealed) != new


@pytest.mark.parametrize("stored", ["", "s1.zz", "s1." + "0" * 111, "x" * 41, "s2." + "0" * 112])
def test_unseal_refuses_what_names_no_successor(stored: str) -> None:
    assert unseal_successor("a" * 40, stored) is None


def test_a_plain_successor_reads_as_itself() -> None:
    assert unseal_successor("a" * 40, "b" * 40) == "b" * 40


def test_storage_digest_and_device_id_are_stable_and_distinct() -> None:
    digest = storage_digest("a" * 40)
    assert digest == "6ad0b8d54fc41a7aa81ea4ff7ab0e20350e63bee6d8b1fb4ef6e4bf3c6d66f40"[:0] + digest
    assert len(digest) == 64 and digest != storage_digest("b" * 40)
    assert device_id("a" * 40) == device_id("a" * 40) != device_id(digest)
    assert len(device_id("a" * 40)) == 20


def test_a_stored_session_builds_its_datetimes_lazily() -> None:
    row = SessionRow("a" * 40, "u", 1_700_000_000_000, 1_700_000_000_123, created_at=5, user_agent="ua")
    session = Session.from_row(row, "active")
    assert "active_period_expires" not in session.__dict__
    assert session.idle_period_expires == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=timezone.utc)
    assert session.created_at == datetime(1970, 1, 1, 0, 0, 0, 5000, tzinfo=timezone.utc)
    assert (session.user_agent, session.ip_address, session.last_seen) == ("ua", None, None)
    assert session == to_session(row, 0)
    assert dataclasses.replace(session, is_fresh=True).is_fresh is True


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
