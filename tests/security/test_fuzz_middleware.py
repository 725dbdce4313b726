"""Hypothesis drives the middleware and the demo with random requests.

Random methods, paths, query strings, ``Cookie``/``Origin``/``Host``/forwarded
headers, content types and bodies, sent as raw WSGI environs (latin-1 strings,
as a server hands them over). Whatever arrives, with a healthy store:

* nothing raises out of the application,
* no answer is a 5xx,
* a request without an ``auth_session`` cookie gets no ``Set-Cookie``
  (except the sign-in and sign-up forms, whose job it is),
* the auth routes answer JSON (their script aside).

The CI profile runs 200 examples per test; ``python -m pytest tests/security
--slow`` runs 10,000.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from demo_app import make_app
from lucia_wsgi import lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.cookies import read_cookie
from lucia_wsgi.testing import call_wsgi

from .support import FAST_HASH, Clock, Tally, tiny_app
from .world import ACTIVE, DEAD, IDLE, NOW, fill

LATIN1 = st.characters(max_codepoint=255, exclude_categories=("Cs",))
TOKENS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "post", "get", "", "X"]
PATHS = ["/", "/login", "/signup", "/profile", "/logout", "/static/style.css", "/page", "/api/auth", "/api/auth/",
         "/api/auth/user", "/api/auth/logout", "/api/auth/client.js", "/api/authx", "/api/auth/user/",
         "/api/auth//user", "/API/AUTH/USER", "/api/auth/user%00", "/api/auth/../auth/user"]
SESSION_VALUES = [ACTIVE.id, IDLE.id, DEAD.id, "A" * 40, "", '"' + ACTIVE.id + '"', ACTIVE.id + "%00"]
ORIGINS = ["http://localhost", "http://localhost:80", "https://localhost", "http://evil.com", "null", "",
           "http://localhost:8080", "HTTP://LOCALHOST"]
HOSTS = ["localhost", "localhost:80", "evil.com", "", "[::1]", "localhost:99999", "local host"]
CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=x",
                 "text/plain", ""]
FORMS = [b"username=alice&password=alice-pw", b"username=alice&password=wrong", b"username=&password=",
         b"username=alice", b"username=a&username=b&password=c", b"password=%ED%A0%80&username=x", b"=&=&&",
         b'{"username": "alice"}', b"username=" + b"a" * 20_000]


def header_text() -> st.SearchStrategy[str]:
    return st.text(LATIN1, max_size=80)


cookie_pairs = st.lists(
    st.tuples(st.sampled_from(["auth_session", "other", "Auth_Session", " auth_session", ""]),
              st.one_of(st.sampled_from(SESSION_VALUES), header_text())),
    max_size=4,
).map(lambda pairs: "; ".join(f"{name}={value}" for name, value in pairs))


@st.composite
def environs(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(st.one_of(st.sampled_from(FORMS), st.binary(max_size=300)))
    environ: dict[str, Any] = {
        "REQUEST_METHOD": draw(st.one_of(st.sampled_from(TOKENS), st.text(LATIN1, max_size=10))),
        "SCRIPT_NAME": "",
        "PATH_INFO": draw(st.one_of(st.sampled_from(PATHS), st.text(LATIN1, max_size=40).map(lambda p: "/" + p))),
        "QUERY_STRING": draw(header_text()),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": draw(st.sampled_from(["http", "https"])),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if draw(st.booleans()):
        # Never more than the body: a server never hands over more than it received.
        environ["CONTENT_LENGTH"] = draw(st.sampled_from([str(len(body)), str(len(body) // 2), "", "-1", "abc", "0"]))
    optional = {
        "CONTENT_TYPE": st.sampled_from(CONTENT_TYPES),
        "HTTP_COOKIE": st.one_of(cookie_pairs, header_text()),
        "HTTP_ORIGIN": st.one_of(st.sampled_from(ORIGINS), header_text()),
        "HTTP_HOST": st.one_of(st.sampled_from(HOSTS), header_text()),
        "HTTP_X_FORWARDED_HOST": st.one_of(st.sampled_from(HOSTS), header_text()),
        "HTTP_X_FORWARDED_PROTO": st.sampled_from(["https", "http", "gopher", "", "https, http"]),
        "HTTP_X_FORWARDED_PORT": st.one_of(st.sampled_from(["443", "8080", "0", "99999", "x"]), header_text()),
        "HTTP_FORWARDED": st.one_of(st.sampled_from(['host="localhost";proto=https', "for=unknown", 'host="a']),
                                    header_text()),
        "HTTP_ACCEPT": st.sampled_from(["application/json", "*/*", "text/html"]),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            environ[key] = draw(strategy)
    return environ


def call(app: Any, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run a WSGI application as a server would: status, headers, the whole body, close()."""
    status, headers, body = call_wsgi(app, environ)
    return int(status.split()[0]), headers, body


def check(environ: dict[str, Any], status: int, headers: list[tuple[str, str]]) -> None:
    assert status < 500, f"{status} for {environ['REQUEST_METHOD']!r} {environ['PATH_INFO']!r}"
    sets_cookie = any(name.lower() == "set-cookie" for name, _ in headers)
    anonymous = read_cookie(environ.get("HTTP_COOKIE", "")) == ""
    if anonymous and environ["PATH_INFO"] not in ("/login", "/signup"):
        assert not sets_cookie, "an anonymous request got a Set-Cookie"
    path = environ["PATH_INFO"]
    if (path == "/api/auth" or path.startswith("/api/auth/")) and path != "/api/auth/client.js":
        content_type = {name.lower(): value for name, value in headers}.get("content-type", "")
        assert content_type.startswith("application/json")


@given(environ=environs(), env=st.sampled_from(["DEV", "PROD"]), trust_proxy=st.booleans(),
       hash_session_ids=st.booleans())
def test_fuzz_middleware_never_fails(environ: dict[str, Any], env: str, trust_proxy: bool,
                                     hash_session_ids: bool) -> None:
    Tally().add("fuzz")
    store = MemoryAdapter()
    fill(store)
    app = tiny_app(lucia(adapter=store, env=env, hash=FAST_HASH, clock=Clock(NOW), trust_proxy=trust_proxy,
                         hash_session_ids=hash_session_ids))
    status, headers, _ = call(app, environ)
    check(environ, status, headers)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("demo") / "demo.db"
    app = make_app(path, hash=FAST_HASH, clock=Clock(NOW))
    fill(app.auth.config.user_adapter)
    return app


@given(environ=environs())
def test_fuzz_demo_never_fails(demo: Any, environ: dict[str, Any]) -> None:
    Tally().add("fuzz")
    status, headers, _ = call(demo, environ)
    check(environ, status, headers)
