"""LuciaError: Lucia's codes, ``str(err) == code``, status hints, pickling."""

from __future__ import annotations

import pickle

import pytest

from lucia_wsgi import LuciaError
from lucia_wsgi.errors import ERROR_CODES

LUCIA_CODES = [
    pytest.param("AUTH_INVALID_REQUEST", 403, id="invalid-request"),
    pytest.param("AUTH_INVALID_SESSION_ID", 401, id="invalid-session-id"),
    pytest.param("AUTH_INVALID_PROVIDER_ID", 400, id="invalid-provider-id"),
    pytest.param("AUTH_INVALID_PASSWORD", 400, id="invalid-password"),
    pytest.param("AUTH_INVALID_USER_ID", 400, id="invalid-user-id"),
    pytest.param("AUTH_OUTDATED_PASSWORD", 400, id="outdated-password"),
    pytest.param("AUTH_DUPLICATE_PROVIDER_ID", 409, id="duplicate-provider-id"),
    pytest.param("AUTH_DUPLICATE_SESSION_ID", 409, id="duplicate-session-id"),
    pytest.param("AUTH_DUPLICATE_USER_DATA", 409, id="duplicate-user-data"),
    pytest.param("UNKNOWN_ERROR", 500, id="unknown-error"),
]
#: Ours, beyond Lucia 0.3 (documented in docs/, see the how-to guides).
OUR_CODES = [
    pytest.param("AUTH_INVALID_USER_DATA", 400, id="invalid-user-data"),
    pytest.param("AUTH_TOO_MANY_ATTEMPTS", 429, id="too-many-attempts"),
    pytest.param("AUTH_INVALID_TOKEN", 400, id="invalid-token"),
    pytest.param("AUTH_EXPIRED_TOKEN", 400, id="expired-token"),
]


@pytest.mark.parametrize(("code", "status"), LUCIA_CODES + OUR_CODES)
def test_error_carries_its_code(code: str, status: int) -> None:
    error = LuciaError(code)
    assert error.code == code
    assert str(error) == code
    assert error.args == (code,)
    assert repr(error) == f"LuciaError({code!r})"
    assert error.status_hint == status


@pytest.mark.parametrize(("code", "status"), LUCIA_CODES + OUR_CODES)
def test_error_survives_pickling(code: str, status: int) -> None:
    copy = pickle.loads(pickle.dumps(LuciaError(code)))
    assert isinstance(copy, LuciaError)
    assert (copy.code, copy.status_hint) == (code, status)


def test_a_throttled_error_says_when_to_try_again() -> None:
    error = LuciaError("AUTH_TOO_MANY_ATTEMPTS", retry_after=7)
    assert (str(error), error.retry_after) == ("AUTH_TOO_MANY_ATTEMPTS", 7)
    assert repr(error) == "LuciaError('AUTH_TOO_MANY_ATTEMPTS', retry_after=7)"
    assert pickle.loads(pickle.dumps(error)).retry_after == 7
    assert LuciaError("AUTH_INVALID_REQUEST").retry_after is None


def test_code_table_is_lucias_and_ours() -> None:
    assert set(ERROR_CODES) == {param.values[0] for param in LUCIA_CODES + OUR_CODES}


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("AUTH_NOPE", id="unknown"),
        pytest.param("auth_invalid_request", id="wrong-case"),
        pytest.param("", id="empty"),
    ],
)
def test_unknown_code_is_a_programming_error(code: str) -> None:
    with pytest.raises(ValueError, match="unknown Lucia error code"):
        LuciaError(code)


def test_error_is_an_exception_callers_can_catch() -> None:
    with pytest.raises(LuciaError) as caught:
        raise LuciaError("AUTH_INVALID_PASSWORD")
    assert isinstance(caught.value, Exception)
    assert caught.value.code == "AUTH_INVALID_PASSWORD"
