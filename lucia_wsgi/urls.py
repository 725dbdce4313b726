"""Store URLs for the command line: ``sqlite:///path``, ``postgresql://...``, ``redis://...``.

Pure parsing, no connections: a malformed URL raises ``ValueError`` with a
one-line message. Two query parameters are ours and are removed before the
URL reaches its driver: ``schema`` (PostgreSQL) and ``prefix`` (Redis keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["StoreURL", "parse_database_url", "parse_session_url"]

_POSTGRES_SCHEMES = ("postgresql", "postgres")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


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
    """``url`` without the query parameter ``name``, and that parameter's value."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    values = [value for key, value in query if key == name]
    if len(values) > 1:
        raise ValueError(f"{name} given more than once in {parts.scheme} URL")
    if values and not values[0]:
        raise ValueError(f"empty {name} in {parts.scheme} URL")
    rest = urlencode([(key, value) for key, value in query if key != name])
    return urlunsplit(parts._replace(query=rest)), (values[0] if values else None)


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
