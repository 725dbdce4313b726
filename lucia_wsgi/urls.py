"""Store URLs for the command line: ``sqlite:///path``, ``postgresql://...``, ``redis://...``.

Pure parsing, no connections: a malformed URL raises ``ValueError`` with a
one-line message. Two query parameters are ours and are removed before the
URL reaches its driver: ``schema`` (PostgreSQL) and ``prefix`` (Redis keys).
Every other part of the URL reaches the driver byte for byte as given (no
re-encoding: libpq reads ``%20`` and ``+`` differently from a form decoder).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

__all__ = ["StoreURL", "parse_database_url", "parse_session_url"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: the driver's target and our own option (schema or key prefix)."""

    kind: Literal["sqlite", "postgresql", "redis"]
    target: str
    option: str | None = None


def _scheme(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise ValueError(f"not a store URL: {url!r}")
    return url.split("://", 1)[0].lower()


def _pop_option(url: str, name: str) -> tuple[str, str | None]:
    """``url`` without the query parameter ``name``, and that parameter's value (percent-decoded).

    The raw query is split on ``&`` and only the ``name=...`` pieces are
    dropped; every other piece is kept exactly as written, in order.
    """
    head, question, tail = url.partition("?")
    if not question:
        return url, None
    query, hashmark, fragment = tail.partition("#")
    kept, values = [], []
    for piece in query.split("&"):
        key, _, value = piece.partition("=")
        if unquote(key) == name:
            values.append(unquote(value))
        else:
            kept.append(piece)
    if len(values) > 1:
        raise ValueError(f"{name} given more than once in URL")
    if values and not values[0]:
        raise ValueError(f"empty {name} in URL")
    rest = "&".join(kept)
    return head + ("?" + rest if rest else "") + hashmark + fragment, (values[0] if values else None)


def _sqlite(url: str) -> StoreURL:
    parts = urlsplit(url)
    if parts.netloc:
        raise ValueError("a sqlite URL has no host: use sqlite:///relative/path or sqlite:////absolute/path")
    if parts.query or parts.fragment:
        raise ValueError("a sqlite URL takes no query or fragment")
    path = unquote(parts.path[1:])
    if not path:
        raise ValueError("sqlite URL without a file path: use sqlite:///app.db")
    return StoreURL("sqlite", path)


def _postgres(url: str) -> StoreURL:
    try:
        urlsplit(url).port  # noqa: B018  (raises on a malformed port)
    except ValueError as error:
        raise ValueError(f"bad postgresql URL: {error}") from None
    target, schema = _pop_option(url, "schema")
    if schema is not None and not _IDENTIFIER.match(schema):
        raise ValueError(f"schema must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), not {schema!r}")
    return StoreURL("postgresql", target, schema)


def parse_database_url(url: str) -> StoreURL:
    """Parse a ``--db`` URL (SQLite or PostgreSQL)."""
    scheme = _scheme(url)
    if scheme == "sqlite":
        return _sqlite(url)
    if scheme in _POSTGRES_SCHEMES:
        return _postgres(url)
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:///path or postgresql://...")


def parse_session_url(url: str) -> StoreURL:
    """Parse a ``--session-url`` (Redis)."""
    scheme = _scheme(url)
    if scheme not in _REDIS_SCHEMES:
        raise ValueError(f"unsupported session store URL scheme {scheme!r}: use redis://, rediss:// or unix://")
    try:
        urlsplit(url).port  # noqa: B018  (raises on a malformed port)
    except ValueError as error:
        raise ValueError(f"bad redis URL: {error}") from None
    target, prefix = _pop_option(url, "prefix")
    return StoreURL("redis", target, prefix)
