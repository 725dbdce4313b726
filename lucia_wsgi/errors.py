"""The one error type of lucia_wsgi, carrying Lucia's machine-readable codes."""

from __future__ import annotations

__all__ = ["LuciaError", "ERROR_CODES"]

#: Every code Lucia 0.3 raises, and ours beyond it, with the HTTP status a web layer should answer.
ERROR_CODES: dict[str, int] = {
    "AUTH_INVALID_REQUEST": 403,
    "AUTH_INVALID_SESSION_ID": 401,
    "AUTH_INVALID_PROVIDER_ID": 400,
    "AUTH_INVALID_PASSWORD": 400,
    "AUTH_INVALID_USER_ID": 400,
    "AUTH_OUTDATED_PASSWORD": 400,
    "AUTH_DUPLICATE_PROVIDER_ID": 409,
    "AUTH_DUPLICATE_SESSION_ID": 409,
    "AUTH_DUPLICATE_USER_DATA": 409,
    "UNKNOWN_ERROR": 500,
    # Beyond Lucia 0.3: text no store can keep, throttling, one-time tokens and codes.
    "AUTH_INVALID_USER_DATA": 400,
    "AUTH_TOO_MANY_ATTEMPTS": 429,
    "AUTH_INVALID_TOKEN": 400,
    "AUTH_EXPIRED_TOKEN": 400,
}


class LuciaError(Exception):
    """An expected authentication failure; ``str(err)`` is its Lucia code.

    Callers branch on :attr:`code`; :attr:`status_hint` is the HTTP status a
    web layer would usually answer with.
    """

    def __init__(self, code: str, *, retry_after: int | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown Lucia error code {code!r}")
        super().__init__(code)
        #: The Lucia error code (a key of :data:`~lucia_wsgi.errors.ERROR_CODES`), e.g. ``AUTH_INVALID_PASSWORD``.
        self.code = code
        #: With ``AUTH_TOO_MANY_ATTEMPTS``: whole seconds (at least 1) until a try may succeed.
        self.retry_after = retry_after

    @property
    def status_hint(self) -> int:
        """The HTTP status a web layer would usually answer with (``ERROR_CODES[code]``)."""
        return ERROR_CODES[self.code]

    def __str__(self) -> str:
        return self.code

    def __repr__(self) -> str:
        if self.retry_after is not None:
            return f"LuciaError({self.code!r}, retry_after={self.retry_after!r})"
        return f"LuciaError({self.code!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.code, self.retry_after))


def _rebuild(code: str, retry_after: int | None) -> LuciaError:
    return LuciaError(code, retry_after=retry_after)
