"""The pure token bucket (GCRA) of ``lucia_wsgi.throttle``: exact boundaries and properties.

A bucket holds ``capacity`` tokens and gains one every ``refill_every`` ms
(SPEC §13); an empty one refuses with the wait until the next token, which the
error reports in whole seconds, rounded up, at least 1.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi.config import DEFAULT_LOGIN_THROTTLE
from lucia_wsgi.throttle import Bucket, Take, bucket_key, retry_seconds, take

SECOND = 1_000
T = 1_700_000_000_000


def drain(bucket: Bucket, tat: int | None, now: int, tries: int) -> tuple[int, int | None]:
    """Attempts at one instant: how many were allowed, and the bucket after them."""
    allowed = 0
    for _ in range(tries):
        outcome = take(bucket, tat, now)
        if outcome.allowed:
            allowed += 1
            tat = outcome.tat
    return allowed, tat


# exact boundaries


def test_a_new_bucket_is_full_and_gives_exactly_capacity_at_once() -> None:
    bucket = Bucket(3, SECOND)
    assert take(bucket, None, T) == Take(True, T + SECOND, 0)
    assert take(bucket, T + SECOND, T) == Take(True, T + 2 * SECOND, 0)
    assert take(bucket, T + 2 * SECOND, T) == Take(True, T + 3 * SECOND, 0)
    assert take(bucket, T + 3 * SECOND, T) == Take(False, T + 3 * SECOND, SECOND)


def test_the_next_token_comes_exactly_refill_every_later() -> None:
    bucket, empty = Bucket(3, SECOND), T + 3 * SECOND  # three taken at T
    assert take(bucket, empty, T + SECOND - 1) == Take(False, empty, 1)
    assert take(bucket, empty, T + SECOND) == Take(True, empty + SECOND, 0)
    assert take(bucket, empty + SECOND, T + SECOND) == Take(False, empty + SECOND, SECOND)


def test_a_partly_refilled_bucket_gives_the_tokens_it_regained() -> None:
    bucket = Bucket(3, SECOND)
    assert drain(bucket, None, T, 10) == (3, T + 3 * SECOND)
    assert drain(bucket, T + 3 * SECOND, T + 2 * SECOND, 10) == (2, T + 5 * SECOND)
    assert drain(bucket, T + 3 * SECOND, T + 2 * SECOND - 1, 10) == (1, T + 4 * SECOND)


def test_an_idle_bucket_never_holds_more_than_capacity() -> None:
    bucket = Bucket(3, SECOND)
    assert drain(bucket, T + 3 * SECOND, T + 3 * SECOND, 10) == (3, T + 6 * SECOND)  # just full again
    assert drain(bucket, T + 3 * SECOND, T + 86_400_000, 10)[0] == 3  # a day idle: still three


def test_a_bucket_whose_time_has_passed_is_a_new_bucket() -> None:
    bucket = Bucket(4, 7 * SECOND)
    for stored in (T - 1, T - 86_400_000, T):
        assert take(bucket, stored, T) == take(bucket, None, T)


def test_the_default_login_throttle_is_ten_at_once_then_one_a_minute() -> None:
    bucket = Bucket(DEFAULT_LOGIN_THROTTLE["capacity"], DEFAULT_LOGIN_THROTTLE["refill_every"])  # type: ignore[arg-type]
    assert bucket == Bucket(10, 60 * SECOND)
    allowed, tat = drain(bucket, None, T, 11)
    assert allowed == 10
    refused = take(bucket, tat, T)
    assert (refused.allowed, retry_seconds(refused.retry_after)) == (False, 60)
    assert drain(bucket, tat, T + 60 * SECOND, 5)[0] == 1  # a minute later: one more, not ten


@pytest.mark.parametrize(("wait_ms", "seconds"), [
    pytest.param(1, 1, id="1ms-is-1s"),
    pytest.param(999, 1, id="999ms-is-1s"),
    pytest.param(1_000, 1, id="exactly-1s"),
    pytest.param(1_001, 2, id="1001ms-rounds-up"),
    pytest.param(59_999, 60, id="just-under-a-minute"),
    pytest.param(60_000, 60, id="a-minute"),
    pytest.param(60_001, 61, id="just-over-a-minute"),
    pytest.param(0, 1, id="never-0"),
])
def test_retry_after_is_whole_seconds_rounded_up_at_least_one(wait_ms: int, seconds: int) -> None:
    assert retry_seconds(wait_ms) == seconds


@pytest.mark.parametrize(("capacity", "refill_every"), [
    pytest.param(0, SECOND, id="no-capacity"),
    pytest.param(-1, SECOND, id="negative-capacity"),
    pytest.param(True, SECOND, id="bool-capacity"),
    pytest.param(2.0, SECOND, id="float-capacity"),
    pytest.param(1, 0, id="no-refill"),
    pytest.param(1, -5, id="negative-refill"),
    pytest.param(1, 1.5, id="float-refill"),
])
def test_a_bucket_that_could_not_work_cannot_be_made(capacity: object, refill_every: object) -> None:
    with pytest.raises(ValueError):
        Bucket(capacity, refill_every)  # type: ignore[arg-type]


def test_bucket_keys_are_digests_that_keep_names_and_keys_apart() -> None:
    key = bucket_key("login", "email:alice@example.com")
    assert key.startswith("login:") and "alice" not in key and len(key) == len("login:") + 64
    assert key == bucket_key("login", "email:alice@example.com")
    assert len({key, bucket_key("login", "email:Alice@example.com"), bucket_key("signup", "email:alice@example.com"),
                bucket_key("login", "\udcff"), bucket_key("login", "")}) == 5


# properties

buckets = st.builds(Bucket, st.integers(1, 20), st.integers(1, 10 * SECOND))
# Attempt times: a non-decreasing run (gaps of 0 = simultaneous attempts).
gaps = st.lists(st.integers(0, 3 * SECOND) | st.just(0), min_size=1, max_size=80)


def allowed_times(bucket: Bucket, times: list[int]) -> list[int]:
    tat: int | None = None
    allowed = []
    for now in times:
        outcome = take(bucket, tat, now)
        if outcome.allowed:
            allowed.append(now)
            tat = outcome.tat
    return allowed


def moments(start: int, steps: list[int]) -> list[int]:
    times, now = [], start
    for step in steps:
        now += step
        times.append(now)
    return times


@given(buckets, gaps)
def test_no_window_ever_lets_more_than_capacity_plus_its_refills(bucket: Bucket, steps: list[int]) -> None:
    allowed = allowed_times(bucket, moments(T, steps))
    for first in range(len(allowed)):
        for last in range(first, len(allowed)):
            window = allowed[last] - allowed[first]
            assert last - first + 1 <= bucket.capacity + window // bucket.refill_every


@given(buckets, st.integers(0, 10**6), st.integers(-(10**6), 10**6), st.integers(0, 10**6))
def test_a_refused_attempt_changes_nothing(bucket: Bucket, ahead: int, offset: int, later: int) -> None:
    now = T + offset
    tat = now + ahead
    outcome = take(bucket, tat, now)
    if not outcome.allowed:
        assert outcome.tat == tat and outcome.retry_after > 0
        assert take(bucket, outcome.tat, now + later) == take(bucket, tat, now + later)


@given(buckets, st.integers(0, 10**6), st.integers(0, 10**6))
def test_waiting_never_hurts(bucket: Bucket, ahead: int, wait: int) -> None:
    tat = T + ahead
    sooner, later = take(bucket, tat, T), take(bucket, tat, T + wait)
    assert later.allowed or not sooner.allowed
    if not later.allowed:
        assert later.retry_after == sooner.retry_after - wait  # the wait shrinks exactly with time


@given(buckets, st.integers(0, 10**7))
def test_a_refused_attempt_succeeds_exactly_when_retry_after_has_passed(bucket: Bucket, ahead: int) -> None:
    tat = T + ahead
    outcome = take(bucket, tat, T)
    if not outcome.allowed:
        assert take(bucket, tat, T + outcome.retry_after).allowed  # refill, not a ban
        assert not take(bucket, tat, T + outcome.retry_after - 1).allowed


@given(buckets, st.integers(-(10**7), 10**7))
def test_allowed_attempts_move_the_bucket_forward_by_exactly_one_refill(bucket: Bucket, ahead: int) -> None:
    tat = T + ahead
    outcome = take(bucket, tat, T)
    if outcome.allowed:
        assert outcome.tat == max(tat, T) + bucket.refill_every and outcome.retry_after == 0


@given(st.integers(1, 20), st.integers(1, 200), st.integers(1, 50), st.integers(0, 6))
def test_a_steady_attacker_gets_the_burst_then_one_try_per_refill(capacity: int, step: int, per: int,
                                                                 refills: int) -> None:
    # A burst of ``capacity`` at once, then a try every ``step`` ms for ``refills`` refills: exactly
    # capacity + refills get through, never fewer (refill, not a ban), never more.
    bucket = Bucket(capacity, step * per)
    times = [T] * capacity + list(range(T, T + refills * bucket.refill_every + 1, step))
    assert len(allowed_times(bucket, times)) == capacity + refills
