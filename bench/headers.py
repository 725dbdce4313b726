"""The two ``Cookie`` headers every row runs with, and row keys that name them.

* ``alone``: the session cookie and nothing else.
* ``crowded``: what a browser sends to a real site: analytics, preference
  and consent cookies, three before the session cookie and three after it.

A row's key is ``NAME/HEADER`` (``lucia.active.medium/crowded``); its ratio
is to the floor with the same header, measured in the same round.
"""

from __future__ import annotations

__all__ = ["HEADERS", "BEFORE", "AFTER", "keyed", "row_name", "cookie_header", "other_cookies"]

HEADERS = ("alone", "crowded")
BEFORE = "_ga=GA1.1.1184503567.1700000000; theme=dark; lang=en-GB"
AFTER = "_pk_id=8f41c2a7e5d3b9a1.1700000000; cookie_consent=necessary%2Canalytics; _gid=GA1.1.2093314158.1700000000"


def keyed(name: str, header: str) -> str:
    """The key of row ``name`` run with ``header``."""
    return f"{name}/{header}"


def row_name(key: str) -> str:
    """``keyed``'s inverse: the row's name without its header."""
    return key.rpartition("/")[0] or key


def cookie_header(header: str, name: str, value: str) -> str:
    """The ``Cookie`` header ``header`` carrying ``name=value``."""
    if header == "alone":
        return f"{name}={value}"
    if header == "crowded":
        return f"{BEFORE}; {name}={value}; {AFTER}"
    raise ValueError(f"unknown header {header!r}; one of {HEADERS}")


def other_cookies(header: str) -> str | None:
    """The header without the session cookie (an anonymous visitor): none alone, the six others crowded."""
    cookie_header(header, "x", "y")  # checks the name
    return None if header == "alone" else f"{BEFORE}; {AFTER}"
