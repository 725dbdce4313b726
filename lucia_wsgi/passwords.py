"""Random strings and Lucia-compatible scrypt password hashes.

Hash format (Lucia 0.3): ``s2:<salt>:<key>`` where the salt is 16 characters of
``[a-zA-Z0-9]`` and the key is ``scrypt(NFKC(password), salt, N=16384, r=16,
p=1, dkLen=64)`` in lowercase hex. Older Lucia versions wrote ``<salt>:<key>``
with ``r=8``; those still verify.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string
import unicodedata

from .errors import LuciaError

__all__ = [
    "ALPHANUMERIC",
    "MAX_PASSWORD_BYTES",
    "generate_random_string",
    "hash_password",
    "verify_password",
    "encode_password",
    "is_bcrypt_hash",
    "DUMMY_HASH",
]

#: ``[a-zA-Z0-9]``: the alphabet of session ids and salts.
ALPHANUMERIC = string.ascii_lowercase + string.ascii_uppercase + string.digits
#: The longest password accepted, in UTF-8 bytes after NFKC (longer ones are refused unhashed).
MAX_PASSWORD_BYTES = 4096
_SCRYPT_N = 16384
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_KEY_LENGTH = 64
# Verified against when there is no real hash to check (unknown user, no
# password, malformed hash), so every failed log-in costs one scrypt.
_DUMMY_SALT = "lk2pWTr8xHvMQ3aZ"
#: A well-formed ``s2`` hash no password matches: checked when there is no real one.
DUMMY_HASH = f"s2:{_DUMMY_SALT}:" + "0" * 128


def generate_random_string(length: int, alphabet: str = ALPHANUMERIC) -> str:
    """``length`` characters drawn uniformly from ``alphabet`` by a CSPRNG."""
    if length < 0:
        raise ValueError("length must not be negative")
    if not alphabet:
        raise ValueError("alphabet must not be empty")
    if len(alphabet) > 256 or not alphabet.isascii():
        return "".join(secrets.choice(alphabet) for _ in range(length))
    # One CSPRNG read per string: bytes at or above the largest multiple of the
    # alphabet's size are dropped (rejection sampling), so every character is
    # equally likely; the spare bytes make a second read rare.
    table, rejected = _byte_tables(alphabet)
    drawn = b""
    while len(drawn) < length:
        drawn += secrets.token_bytes(length - len(drawn) + 8).translate(table, rejected)
    return drawn[:length].decode("ascii")


@functools.lru_cache(maxsize=8)
def _byte_tables(alphabet: str) -> tuple[bytes, bytes]:
    """For ``bytes.translate``: random byte ``b`` to ``alphabet[b % size]``, and the bytes to reject."""
    size = len(alphabet)
    limit = 256 - 256 % size
    return bytes(ord(alphabet[b % size]) for b in range(256)), bytes(range(limit, 256))


def encode_password(password: str) -> bytes:
    """The bytes scrypt hashes: NFKC-normalised UTF-8.

    Raises ``AUTH_INVALID_PASSWORD`` for a password that cannot be encoded (a
    lone surrogate) or is longer than :data:`MAX_PASSWORD_BYTES`, before any
    hashing work is done.
    """
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    if len(password) > MAX_PASSWORD_BYTES:
        raise LuciaError("AUTH_INVALID_PASSWORD")
    try:
        encoded = unicodedata.normalize("NFKC", password).encode("utf-8")
    except UnicodeEncodeError:
        raise LuciaError("AUTH_INVALID_PASSWORD") from None
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise LuciaError("AUTH_INVALID_PASSWORD")
    return encoded


def _scrypt_hex(password: bytes, salt: str, block_size: int) -> str:
    key = hashlib.scrypt(
        password, salt=salt.encode("utf-8"), n=_SCRYPT_N, r=block_size, p=1,
        maxmem=_SCRYPT_MAXMEM, dklen=_KEY_LENGTH,
    )
    return key.hex()


def hash_password(password: str) -> str:
    """A new ``s2:`` hash of ``password`` with a fresh random salt."""
    salt = generate_random_string(16)
    return f"s2:{salt}:{_scrypt_hex(encode_password(password), salt, 16)}"


def is_bcrypt_hash(hashed: str) -> bool:
    """Whether ``hashed`` is a bcrypt hash (``$2a$``, ``$2b$`` or ``$2y$``), as older Lucia versions stored."""
    return hashed.startswith(("$2a$", "$2b$", "$2y$"))


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches ``hashed``; always costs exactly one scrypt.

    A malformed hash is checked against a dummy so it takes as long as a real
    one and is never a match. Comparison is constant-time.
    """
    encoded = encode_password(password)
    parts = hashed.split(":")
    if len(parts) == 3 and parts[0] == "s2":
        salt, key, block_size = parts[1], parts[2], 16
    elif len(parts) == 2:
        salt, key, block_size = parts[0], parts[1], 8
    else:
        salt, key, block_size = _DUMMY_SALT, "", 16
    candidate = _scrypt_hex(encoded, salt, block_size)
    return hmac.compare_digest(candidate.encode(), key.encode("utf-8", "replace"))

