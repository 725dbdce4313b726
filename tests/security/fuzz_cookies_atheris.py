"""Coverage-guided fuzzing of the Cookie header parser with atheris (optional, not run by pytest).

Run it from the repository root after ``pip install -e . atheris``::

    python tests/security/fuzz_cookies_atheris.py -runs=200000

Any input bytes are a ``Cookie`` header as a WSGI server hands it over
(latin-1). :func:`check` holds the properties; ``test_attack_cookies`` runs it
on a seed corpus in every CI run, so the harness cannot rot.
"""

from __future__ import annotations

import sys

from lucia_wsgi import LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.cookies import parse_cookie_header, read_cookie
from lucia_wsgi.session import is_well_formed_session_id
from lucia_wsgi.testing import FaultyAdapter

_STORE = FaultyAdapter(MemoryAdapter())
_AUTH = lucia(adapter=_STORE, env="DEV", hash=(str, lambda password, hashed: False))


def check(data: bytes) -> None:
    """The parser never raises, agrees with itself, and only a well-formed id reaches the store."""
    header = data.decode("latin-1")
    value = read_cookie(header)
    assert value == parse_cookie_header(header).get("auth_session", ""), header
    session_id = _AUTH.validate_request_headers({"REQUEST_METHOD": "GET", "HTTP_COOKIE": header})
    assert session_id == value
    _STORE.reset()
    try:
        _AUTH.validate_session(session_id)
    except LuciaError as error:
        assert error.code == "AUTH_INVALID_SESSION_ID"
    else:
        raise AssertionError("an empty store validated a session")
    assert _STORE.count() == (1 if is_well_formed_session_id(session_id) else 0), header


def main() -> None:
    import atheris

    atheris.instrument_all()  # coverage feedback from everything loaded, lucia_wsgi included
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
