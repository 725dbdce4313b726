"""Lucia-compatible scrypt hashes: known answers, normalisation, limits, one hash per log-in."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest

from lucia_wsgi import LuciaError, generate_random_string, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.passwords import encode_password, hash_password, is_bcrypt_hash, verify_password

HUNTER2 = (
    "s2:yAGmDD7E3hmxMmoo:b5eb3b7bf6d3a75f478ae2e5340065883ddad05ec0c9e47f77882a54e2219bd9"
    "04260d18b75b5fe3d115eccbf05aeeea669e596fb7d9b85770216556d4352938"
)
STAPLE = (
    "s2:1ic8bIapjG8PGTP1:1f0bc1b6227f926c416fc3cc3111d3c9e9029fd9abf87dac3d944d5cfccf19de"
    "67a4f1ccd799401eff01dd82d708f458e2b4e53a7d76807d1eebe96107677fde"
)
UMLAUTS = (
    "s2:s0MY8LZPtGtekjfr:f53fa90c5cfe1ee4e3c61ecfb1e3a75199e6325900267c92b64139afca682d8e"
    "0d0a911f995ccffab7d5f33f432554fc946aeba5bef9c2dca60cb3b248637cf0"
)
KEY = (
    "s2:zkHRPiap1k1YHyDe:10d0d4a971c0b9343672aa392c647a9c384633a0f52ffcb1a11bc779d6774b37"
    "9edb686021222d2fdecc55398c5da5bd68dedbc0a13132b097a09175cb61861b"
)
LEGACY = (
    "legacysalt:d10aebc37dd70fa446d8692514fc866596d80ce8b73fb22a819ab077e6467784c5d153ce"
    "4744f3f1acd51ef1f1cec100a1a799d1de309e3b653edb3d13e85c53"
)
S2_FORMAT = re.compile(r"s2:[a-zA-Z0-9]{16}:[0-9a-f]{128}\Z")


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every ``hashlib.scrypt`` call's keyword arguments (the real scrypt still runs)."""
    calls: list[dict[str, Any]] = []
    real = hashlib.scrypt

    def counting(password: bytes, **kwargs: Any) -> bytes:
        calls.append(kwargs)
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


# --- known answers from the original package -----------------------------------


@pytest.mark.parametrize(
    ("password", "hashed"),
    [
        pytest.param("hunter2", HUNTER2, id="hunter2"),
        pytest.param("correct horse battery staple", STAPLE, id="staple"),
        pytest.param("pässwörd", UMLAUTS, id="umlauts"),
        pytest.param("🔑key", KEY, id="emoji"),
        pytest.param("pw", LEGACY, id="legacy-r8"),
        pytest.param(unicodedata.normalize("NFD", "pässwörd"), UMLAUTS, id="umlauts-typed-as-NFD"),
        pytest.param("🔑ｋｅｙ", KEY, id="fullwidth-folds-under-NFKC"),
    ],
)
def test_known_answer_verifies(password: str, hashed: str) -> None:
    assert verify_password(password, hashed) is True


@pytest.mark.parametrize(
    ("password", "hashed"),
    [
        pytest.param("hunter3", HUNTER2, id="hunter3"),
        pytest.param("Hunter2", HUNTER2, id="case"),
        pytest.param("hunter2 ", HUNTER2, id="trailing-space"),
        pytest.param("", HUNTER2, id="empty"),
        pytest.param("correct horse battery", STAPLE, id="prefix"),
        pytest.param("passwort", UMLAUTS, id="no-umlauts"),
        pytest.param("key", KEY, id="no-emoji"),
        pytest.param("pw2", LEGACY, id="legacy-wrong"),
        pytest.param("hunter2", HUNTER2.replace("s2:", "s3:"), id="unknown-version"),
        pytest.param("hunter2", HUNTER2.upper(), id="uppercased-hash"),
    ],
)
def test_other_password_does_not_verify(password: str, hashed: str) -> None:
    assert verify_password(password, hashed) is False


def test_nfd_input_really_differs_from_the_literal() -> None:
    assert unicodedata.normalize("NFD", "pässwörd") != "pässwörd"


@pytest.mark.parametrize(
    ("hashed", "block_size"),
    [pytest.param(HUNTER2, 16, id="s2-uses-r16"), pytest.param(LEGACY, 8, id="legacy-uses-r8")],
)
def test_scrypt_parameters(scrypt_calls: list[dict[str, Any]], hashed: str, block_size: int) -> None:
    verify_password("x", hashed)
    assert scrypt_calls == [
        {"salt": hashed.split(":")[-2].encode(), "n": 16384, "r": block_size, "p": 1,
         "maxmem": 64 * 1024 * 1024, "dklen": 64}
    ]


@pytest.mark.parametrize(
    "hashed",
    [
        pytest.param("", id="empty"),
        pytest.param("nonsense", id="one-part"),
        pytest.param("a:b:c:d", id="four-parts"),
        pytest.param("x2:salt:key", id="three-parts-not-s2"),
        pytest.param("s2:salt:", id="empty-key"),
    ],
)
def test_malformed_hash_is_no_match_and_costs_one_scrypt(scrypt_calls: list[dict[str, Any]], hashed: str) -> None:
    assert verify_password("hunter2", hashed) is False
    assert [(call["n"], call["r"]) for call in scrypt_calls] == [(16384, 16)]


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert verify_password("hunter2", HUNTER2) is True
    assert len(compared) == 1


# --- hashing ------------------------------------------------------------------


def test_hash_password_format_and_round_trip() -> None:
    hashed = hash_password("hunter2")
    assert S2_FORMAT.match(hashed)
    assert verify_password("hunter2", hashed) is True
    assert verify_password("hunter3", hashed) is False


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same").split(":")[1] != hash_password("same").split(":")[1]


def test_hash_normalises_with_nfkc() -> None:
    assert verify_password("fi", hash_password("ﬁ")) is True


# --- limits: rejected before any hashing ----------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("a" * 4097, id="4097-ascii"),
        pytest.param("é" * 2049, id="4098-utf8-bytes"),
        pytest.param("a" * 1_000_000, id="a-megabyte"),
        pytest.param("pass\ud800word", id="lone-surrogate"),
    ],
)
def test_absurd_password_rejected_before_scrypt(scrypt_calls: list[dict[str, Any]], password: str) -> None:
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        hash_password(password)
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        verify_password(password, HUNTER2)
    assert scrypt_calls == []


@pytest.mark.parametrize(
    "password",
    [pytest.param("a" * 4096, id="4096-ascii"), pytest.param("é" * 2048, id="4096-utf8-bytes")],
)
def test_password_at_the_limit_is_accepted(password: str) -> None:
    assert len(encode_password(password)) == 4096


def test_encode_password_needs_a_str() -> None:
    with pytest.raises(TypeError):
        encode_password(b"bytes")  # type: ignore[arg-type]


# --- random strings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "alphabet", "pattern"),
    [
        pytest.param(40, None, r"[a-zA-Z0-9]{40}", id="session-id"),
        pytest.param(0, None, r"", id="empty"),
        pytest.param(15, "ab", r"[ab]{15}", id="custom-alphabet"),
    ],
)
def test_generate_random_string(length: int, alphabet: str | None, pattern: str) -> None:
    value = generate_random_string(length) if alphabet is None else generate_random_string(length, alphabet)
    assert re.fullmatch(pattern, value)


def test_random_strings_differ() -> None:
    assert len({generate_random_string(40) for _ in range(50)}) == 50


@pytest.mark.parametrize(
    ("length", "alphabet"),
    [pytest.param(-1, "ab", id="negative-length"), pytest.param(3, "", id="empty-alphabet")],
)
def test_generate_random_string_rejects(length: int, alphabet: str) -> None:
    with pytest.raises(ValueError):
        generate_random_string(length, alphabet)


@pytest.mark.parametrize(
    ("hashed", "expected"),
    [
        pytest.param("$2a$10$abc", True, id="2a"),
        pytest.param("$2b$12$abc", True, id="2b"),
        pytest.param("$2y$12$abc", True, id="2y"),
        pytest.param(HUNTER2, False, id="s2"),
        pytest.param("$argon2id$v=19", False, id="argon2"),
    ],
)
def test_is_bcrypt_hash(hashed: str, expected: bool) -> None:
    assert is_bcrypt_hash(hashed) is expected


# --- Auth: one scrypt per log-in, whatever happens --------------------------------


@pytest.fixture
def store() -> MemoryAdapter:
    adapter = MemoryAdapter()
    adapter.set_user("u-hunter", {"provider_id": "username:hunter", "hashed_password": HUNTER2})
    adapter.set_user("u-legacy", {"provider_id": "username:legacy", "hashed_password": LEGACY})
    adapter.set_user("u-none", {"provider_id": "github:1", "hashed_password": None})
    adapter.set_user("u-empty", {"provider_id": "username:empty", "hashed_password": ""})
    adapter.set_user("u-bad", {"provider_id": "username:bad", "hashed_password": "not-a-hash"})
    adapter.set_user("u-old", {"provider_id": "username:old", "hashed_password": "$2a$10$" + "x" * 53})
    return adapter


@pytest.mark.parametrize(
    ("provider", "identifier", "password", "error"),
    [
        pytest.param("username", "hunter", "hunter2", None, id="success"),
        pytest.param("username", "legacy", "pw", None, id="legacy-success"),
        pytest.param("username", "nobody", "hunter2", "AUTH_INVALID_PROVIDER_ID", id="unknown-user"),
        pytest.param("username", "hunter", "wrong", "AUTH_INVALID_PASSWORD", id="wrong-password"),
        pytest.param("username", "hunter", "", "AUTH_INVALID_PASSWORD", id="empty-password"),
        pytest.param("github", "1", "hunter2", "AUTH_INVALID_PASSWORD", id="no-password"),
        pytest.param("username", "empty", "hunter2", "AUTH_INVALID_PASSWORD", id="empty-stored-hash"),
        pytest.param("username", "bad", "hunter2", "AUTH_INVALID_PASSWORD", id="malformed-stored-hash"),
        pytest.param("username", "old", "hunter2", "AUTH_OUTDATED_PASSWORD", id="bcrypt-2a"),
    ],
)
def test_authenticate_user_costs_exactly_one_scrypt(
    store: MemoryAdapter, scrypt_calls: list[dict[str, Any]],
    provider: str, identifier: str, password: str, error: str | None,
) -> None:
    auth = lucia(adapter=store, env="DEV")
    if error is None:
        assert auth.authenticate_user(provider, identifier, password)["user_id"].startswith("u-")
    else:
        with pytest.raises(LuciaError, match=error):
            auth.authenticate_user(provider, identifier, password)
    assert len(scrypt_calls) == 1
    assert scrypt_calls[0]["n"] == 16384 and scrypt_calls[0]["p"] == 1


def test_unknown_user_costs_what_a_real_user_costs(store: MemoryAdapter, scrypt_calls: list[dict[str, Any]]) -> None:
    auth = lucia(adapter=store, env="DEV")
    with pytest.raises(LuciaError):
        auth.authenticate_user("username", "nobody", "hunter2")
    with pytest.raises(LuciaError):
        auth.authenticate_user("username", "hunter", "wrong")
    dummy, real = scrypt_calls
    assert {k: v for k, v in dummy.items() if k != "salt"} == {k: v for k, v in real.items() if k != "salt"}


Call = Callable[[Any], object]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda auth: auth.authenticate_user("username", "hunter", "a" * 4097), id="authenticate"),
        pytest.param(lambda auth: auth.authenticate_user("username", "nobody", "a" * 4097), id="authenticate-unknown"),
        pytest.param(lambda auth: auth.create_user("username", "new", "a" * 4097), id="create-user"),
        pytest.param(lambda auth: auth.update_user_password("u-hunter", "a" * 4097), id="update-password"),
    ],
)
def test_over_long_password_never_reaches_scrypt(
    store: MemoryAdapter, scrypt_calls: list[dict[str, Any]], call: Call
) -> None:
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        call(lucia(adapter=store, env="DEV"))
    assert scrypt_calls == []
    assert store.get_user("u-hunter")["hashed_password"] == HUNTER2  # type: ignore[index]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda auth: auth.create_user("username", "new", ""), id="create-user"),
        pytest.param(lambda auth: auth.update_user_password("u-hunter", ""), id="update-password"),
    ],
)
def test_empty_password_is_a_value_error(store: MemoryAdapter, scrypt_calls: list[dict[str, Any]], call: Call) -> None:
    with pytest.raises(ValueError, match="pass None"):
        call(lucia(adapter=store, env="DEV"))
    assert scrypt_calls == []
    assert store.get_user_by_provider_id("username:new") is None
    assert store.get_user("u-hunter")["hashed_password"] == HUNTER2  # type: ignore[index]


def test_created_user_gets_an_s2_hash_that_lucia_can_read(store: MemoryAdapter) -> None:
    auth = lucia(adapter=store, env="DEV")
    user = auth.create_user("username", "new", "pässwörd")
    stored = store.get_user(user["user_id"])
    assert stored is not None and S2_FORMAT.match(stored["hashed_password"])
    assert auth.authenticate_user("username", "new", unicodedata.normalize("NFD", "pässwörd")) == user


def test_concurrent_hashes_are_bounded(store: MemoryAdapter) -> None:
    lock = threading.Lock()
    running = [0, 0]  # now, peak

    def slow_validate(password: str, hashed: str) -> bool:
        with lock:
            running[0] += 1
            running[1] = max(running)
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return password == hashed

    auth = lucia(adapter=store, env="DEV", hash=(lambda p: p, slow_validate), max_concurrent_hashes=2)
    codes: list[str] = []

    def log_in() -> None:
        try:
            auth.authenticate_user("username", "hunter", "x")
        except LuciaError as error:
            codes.append(error.code)

    threads = [threading.Thread(target=log_in) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == ["AUTH_INVALID_PASSWORD"] * 8
    assert running == [0, 2]


def test_random_strings_reject_the_bytes_that_would_bias_them(monkeypatch: pytest.MonkeyPatch) -> None:
    # 62 characters: bytes 248-255 would make the first 8 characters likelier, so they are
    # dropped and drawn again; every accepted byte value maps to one character, each 4 times.
    import secrets

    import lucia_wsgi.passwords as passwords

    draws = iter([bytes(range(240, 256)) + b"\x00", bytes(range(62)) * 2])
    monkeypatch.setattr(secrets, "token_bytes", lambda n: next(draws)[:n])
    value = passwords.generate_random_string(12)
    alphabet = passwords.ALPHANUMERIC
    assert value == "".join(alphabet[b % 62] for b in [*range(240, 248), 0, 0, 1, 2])
    table, rejected = passwords._byte_tables(alphabet)
    assert rejected == bytes(range(248, 256))
    accepted = table[:248].decode("ascii")
    assert {accepted.count(c) for c in alphabet} == {4}
