"""LuciaMiddleware and AuthRequest, through WebTest and wsgiref's validator."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st
from webob import Request

from lucia_wsgi import AuthRequest, LuciaMiddleware, lucia
from lucia_wsgi.adapters import MemoryAdapter, SQLiteAdapter
from lucia_wsgi.config import DAY_MS
from lucia_wsgi.session import SessionRow
from lucia_wsgi.wsgi import check_prefix

T0 = 1_700_000_000_000
IDLE = T0 + DAY_MS + 1  # past the active period of a session created at T0
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
BLANK_EXPIRES = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"
SAME_ORIGIN = {"Origin": "http://localhost"}
FIXTURE_DB = Path(__file__).resolve().parent / "fixtures" / "lucia-0.3.3.sqlite"

Environ = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


class CountingAdapter(MemoryAdapter):
    """Counts session reads; raises ``StoreDown`` from them while ``failing``."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.failing = False

    def _read(self) -> None:
        self.reads += 1
        if self.failing:
            raise StoreDown("connection refused")

    def get_session(self, session_id: str) -> SessionRow | None:
        self._read()
        return super().get_session(session_id)

    def get_session_and_user_by_session_id(self, session_id: str) -> Any:
        self._read()
        return super().get_session_and_user_by_session_id(session_id)


class StoreDown(RuntimeError):
    """What a database driver raises when the store is unreachable."""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def adapter() -> CountingAdapter:
    return CountingAdapter()


def make_auth(adapter: Any, clock: Clock, **options: Any) -> Any:
    return lucia(adapter=adapter, env="DEV", clock=clock, hash=CHEAP_HASH,
                 transform_user_data=lambda row: {"user_id": row["id"], "name": row.get("name")}, **options)


@pytest.fixture
def auth(adapter: CountingAdapter, clock: Clock) -> Any:
    return make_auth(adapter, clock)


@pytest.fixture
def session_id(auth: Any) -> str:
    user = auth.create_user("username", "alice", password="hunter22", attributes={"name": "Alice"})
    return str(auth.create_session(user["user_id"]).session_id)


def page_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Reads the user and answers with it, plus a cookie of its own."""
    _session, user = environ["lucia.auth"].validate_user()
    body = b"anonymous" if user is None else f"user:{user['user_id']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "theme=dark; Path=/")])
    return [body]


def plain_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Never looks at the session."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"plain"]


def wrap(app: Any, auth: Any, **options: Any) -> webtest.TestApp:
    """Validator around both the app and the middleware, as the issue asks."""
    return webtest.TestApp(validator(LuciaMiddleware(validator(app), auth, **options)))


def cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"auth_session={session_id}"}


def set_cookies(response: webtest.TestResponse) -> list[str]:
    return list(response.headers.getall("Set-Cookie"))


def auth_cookies(response: webtest.TestResponse) -> list[str]:
    return [value for value in set_cookies(response) if value.startswith("auth_session=")]


# pass-through


def test_anonymous_request_gets_no_set_cookie(auth: Any) -> None:
    response = wrap(page_app, auth).get("/page")
    assert response.text == "anonymous"
    assert set_cookies(response) == ["theme=dark; Path=/"]
    assert response.headers["Vary"] == "Cookie"


def test_app_that_never_reads_the_session_gets_no_extra_headers(auth: Any, adapter: CountingAdapter) -> None:
    bare = webtest.TestApp(validator(plain_app)).get("/page", headers=cookie("x" * 40))
    wrapped = wrap(plain_app, auth).get("/page", headers=cookie("x" * 40))
    assert wrapped.headerlist == bare.headerlist
    assert adapter.reads == 0


def test_middleware_returns_the_apps_iterable_unchanged(auth: Any) -> None:
    body = [b"one", b"two"]

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    result = LuciaMiddleware(app, auth)(Request.blank("/").environ, lambda status, headers: None)
    assert result is body


def test_every_request_gets_an_auth_request(auth: Any) -> None:
    seen: list[Any] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(environ["lucia.auth"])
        return plain_app(environ, start_response)

    wrap(app, auth).get("/")
    assert isinstance(seen[0], AuthRequest)
    assert seen[0].auth is auth


# validation and cookies


def test_active_session_is_used_without_a_new_cookie(auth: Any, session_id: str) -> None:
    response = wrap(page_app, auth).get("/page", headers=cookie(session_id))
    assert response.text.startswith("user:")
    assert auth_cookies(response) == []


@pytest.mark.parametrize(
    "cookie_options",
    [
        pytest.param([{"same_site": "lax", "path": "/"}], id="one-option"),
        pytest.param([{"same_site": "lax", "path": "/"}, {"same_site": "strict", "path": "/admin"}], id="two-options"),
    ],
)
@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("A" * 40, id="unknown"),
        pytest.param("short", id="malformed"),
        pytest.param("%FF%FE", id="undecodable"),
    ],
)
def test_invalid_cookie_gets_one_blank_cookie_per_option(
    adapter: CountingAdapter, clock: Clock, cookie_options: list[dict[str, str]], bad_id: str
) -> None:
    auth = make_auth(adapter, clock, session_cookie=cookie_options)
    response = wrap(page_app, auth).get("/page", headers=cookie(bad_id))
    assert response.text == "anonymous"
    blanks = auth_cookies(response)
    assert len(blanks) == len(cookie_options)
    assert all(value.startswith("auth_session=;") and BLANK_EXPIRES in value for value in blanks)
    assert [value for value in blanks if "Path=/admin" in value] == blanks[1:]


def test_dead_session_gets_a_blank_cookie_and_its_row_goes(
    auth: Any, adapter: CountingAdapter, clock: Clock, session_id: str
) -> None:
    clock.now = T0 + 15 * DAY_MS + 1
    response = wrap(page_app, auth).get("/page", headers=cookie(session_id))
    assert response.text == "anonymous"
    assert len(auth_cookies(response)) == 1 and BLANK_EXPIRES in auth_cookies(response)[0]
    assert MemoryAdapter.get_session(adapter, session_id) is None


def test_idle_session_is_renewed_with_a_new_cookie(auth: Any, clock: Clock, session_id: str) -> None:
    clock.now = IDLE
    response = wrap(page_app, auth).get("/page", headers=cookie(session_id))
    (renewed,) = auth_cookies(response)
    new_id = renewed.split(";")[0].removeprefix("auth_session=")
    assert new_id != session_id and len(new_id) == 40
    assert "HttpOnly" in renewed and "SameSite=Lax" in renewed and "Path=/" in renewed
    assert auth.validate_session(new_id).state == "active"
    assert response.text.startswith("user:")


def test_two_cookie_options_give_two_set_cookie_headers(
    adapter: CountingAdapter, clock: Clock, session_id: str
) -> None:
    auth = make_auth(adapter, clock, session_cookie=[{"path": "/"}, {"path": "/app", "domain": "example.com"}])
    clock.now = IDLE
    response = wrap(page_app, auth).get("/page", headers=cookie(session_id))
    first, second = auth_cookies(response)
    assert first.split(";")[0] == second.split(";")[0]
    assert "Path=/;" in first and "Domain=example.com; Path=/app;" in second


def test_apps_own_set_cookie_is_kept_beside_the_renewal(auth: Any, clock: Clock, session_id: str) -> None:
    clock.now = IDLE
    response = wrap(page_app, auth).get("/page", headers=cookie(session_id))
    assert set_cookies(response)[0] == "theme=dark; Path=/"
    assert len(auth_cookies(response)) == 1


def test_repeated_validation_hits_the_store_once(auth: Any, adapter: CountingAdapter, session_id: str) -> None:
    results: list[Any] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        request = environ["lucia.auth"]
        results.extend([request.validate(), request.validate_user(), request.validate(), request.validate_user()])
        return plain_app(environ, start_response)

    adapter.reads = 0
    wrap(app, auth).get("/page", headers=cookie(session_id))
    assert adapter.reads == 1
    assert results[0] is results[1].session is results[2] is results[3].session
    assert results[0].session_id == session_id


# CSRF


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-origin"),
        pytest.param({"Origin": "https://evil.example"}, id="foreign-origin"),
        pytest.param({"Origin": "null"}, id="null-origin"),
        pytest.param({"Origin": "http://localhost:8080"}, id="other-port"),
        pytest.param({"Origin": "https://localhost"}, id="other-scheme"),
    ],
)
def test_cross_site_post_is_anonymous_and_keeps_the_cookie(
    auth: Any, clock: Clock, session_id: str, headers: dict[str, str]
) -> None:
    clock.now = IDLE  # a same-site request would renew it
    response = wrap(page_app, auth).post("/page", headers={**cookie(session_id), **headers})
    assert response.text == "anonymous"
    assert auth_cookies(response) == []
    assert auth.get_session(session_id).state == "idle"


def test_same_origin_post_is_authenticated(auth: Any, session_id: str) -> None:
    response = wrap(page_app, auth).post("/page", headers={**cookie(session_id), **SAME_ORIGIN})
    assert response.text.startswith("user:")


# store failures


def test_store_failure_in_validate_propagates(auth: Any, adapter: CountingAdapter, session_id: str) -> None:
    adapter.failing = True
    with pytest.raises(StoreDown):
        wrap(page_app, auth).get("/page", headers=cookie(session_id))


def test_store_failure_leaves_the_cookie_alone(auth: Any, adapter: CountingAdapter, session_id: str) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        try:
            environ["lucia.auth"].validate()
        except StoreDown:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"try again"]
        return plain_app(environ, start_response)

    adapter.failing = True
    response = wrap(app, auth).get("/page", headers=cookie(session_id), status=503)
    assert auth_cookies(response) == []
    adapter.failing = False
    assert auth.validate_session(session_id).session_id == session_id


# set_session


def test_set_session_last_call_wins(auth: Any, session_id: str) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        request = environ["lucia.auth"]
        request.set_session(None)
        request.set_session(auth.get_session(session_id))
        return plain_app(environ, start_response)

    (value,) = auth_cookies(wrap(app, auth).get("/"))
    assert value.startswith(f"auth_session={session_id};")


def test_set_session_none_clears_cookies_but_keeps_the_session(auth: Any, session_id: str) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        environ["lucia.auth"].set_session(None)
        return plain_app(environ, start_response)

    (value,) = auth_cookies(wrap(app, auth).get("/", headers=cookie(session_id)))
    assert value.startswith("auth_session=;") and BLANK_EXPIRES in value
    assert auth.validate_session(session_id).session_id == session_id


def test_validate_after_set_session_answers_with_that_session(auth: Any, session_id: str) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        request = environ["lucia.auth"]
        signed_in = auth.get_session(session_id)
        request.set_session(signed_in)  # just logged in; the request itself carried a stale cookie
        assert request.validate() == signed_in
        assert request.validate_user().user == auth.get_user(signed_in.user_id)
        return plain_app(environ, start_response)

    (value,) = auth_cookies(wrap(app, auth).get("/", headers=cookie("B" * 40)))
    assert value.startswith(f"auth_session={session_id};")


# the WSGI protocol


def test_late_start_response_in_a_streamed_body_still_gets_the_cookie(
    auth: Any, clock: Clock, session_id: str
) -> None:
    pulled: list[bytes] = []

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterator[bytes]:
        environ["lucia.auth"].validate()
        start_response("200 OK", [("Content-Type", "text/plain")])
        for chunk in (b"a", b"b", b"c"):
            pulled.append(chunk)
            yield chunk

    clock.now = IDLE
    environ = Request.blank("/", headers=cookie(session_id)).environ
    started: list[list[tuple[str, str]]] = []
    result = LuciaMiddleware(app, auth)(environ, lambda status, headers: started.append(headers))
    assert pulled == [] and started == []  # nothing ran yet: the body is not buffered
    iterator = iter(result)
    assert next(iterator) == b"a" and pulled == [b"a"]
    assert [name for name, _ in started[0]] == ["Content-Type", "Cache-Control", "Set-Cookie", "Vary"]
    assert list(iterator) == [b"b", b"c"]


def test_validate_after_start_response_cannot_add_the_cookie(auth: Any, clock: Clock, session_id: str) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"head "
        yield b"anonymous" if environ["lucia.auth"].validate() is None else b"user"

    clock.now = IDLE
    response = wrap(app, auth).get("/", headers=cookie(session_id))
    assert response.text == "head user"
    assert auth_cookies(response) == []
    # No renewal the browser never heard of: the idle session is intact, so
    # the next request (past any grace window) still renews it.
    assert auth.get_session(session_id).state == "idle"
    clock.now += 60_000
    assert auth_cookies(wrap(page_app, auth).get("/", headers=cookie(session_id)))


class ClosingBody:
    def __init__(self) -> None:
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield b"body"

    def close(self) -> None:
        self.closed = True


def test_close_of_the_apps_iterable_is_called(auth: Any, session_id: str) -> None:
    body = ClosingBody()

    def app(environ: Environ, start_response: Callable[..., Any]) -> ClosingBody:
        environ["lucia.auth"].validate()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    assert wrap(app, auth).get("/", headers=cookie(session_id)).text == "body"
    assert body.closed


def test_start_response_with_exc_info_gets_the_cookies(auth: Any, clock: Clock, session_id: str) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        environ["lucia.auth"].validate()
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("template failed")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"error page"]

    clock.now = IDLE
    response = wrap(app, auth).get("/", headers=cookie(session_id), status=500)
    assert response.text == "error page"
    assert len(auth_cookies(response)) == 1


def test_exception_from_the_app_propagates(auth: Any) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        LuciaMiddleware(app, auth)(Request.blank("/").environ, lambda status, headers: None)


@pytest.mark.parametrize(
    ("app_vary", "expected"),
    [
        pytest.param(None, ["Cookie"], id="none"),
        pytest.param("Accept-Encoding", ["Accept-Encoding", "Cookie"], id="other"),
        pytest.param("accept-encoding, cookie", ["accept-encoding, cookie"], id="already"),
        pytest.param("*", ["*"], id="star"),
    ],
)
def test_vary_cookie_is_added_once(auth: Any, app_vary: str | None, expected: list[str]) -> None:
    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        environ["lucia.auth"].validate()
        headers = [("Content-Type", "text/plain")] + ([("Vary", app_vary)] if app_vary else [])
        start_response("200 OK", headers)
        return [b""]

    assert wrap(app, auth).get("/").headers.getall("Vary") == expected


# routing


@pytest.mark.parametrize(
    ("path", "reaches_app"),
    [
        pytest.param("/api/authx", True, id="sibling"),
        pytest.param("/api", True, id="parent"),
        pytest.param("/api/auth", False, id="prefix"),
        pytest.param("/api/auth/user", False, id="route"),
        pytest.param("/api/auth/anything", False, id="unknown-route"),
    ],
)
def test_only_paths_under_the_prefix_reach_the_routes(auth: Any, path: str, reaches_app: bool) -> None:
    response = wrap(plain_app, auth).get(path, expect_errors=True)
    assert (response.text == "plain") is reaches_app


def test_custom_api_prefix(auth: Any) -> None:
    app = wrap(plain_app, auth, api_prefix="/auth")
    assert app.get("/auth/user").json == {"user": None}
    assert app.get("/api/auth/user").text == "plain"


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("api/auth", id="relative"),
        pytest.param("/api/auth/", id="trailing-slash"),
        pytest.param("/", id="root"),
        pytest.param("/api auth", id="space"),
        pytest.param("/api?x", id="query"),
    ],
)
def test_bad_prefix_is_rejected(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        check_prefix(prefix)


# standalone AuthRequest


def test_standalone_auth_request_gives_its_headers(auth: Any, clock: Clock, session_id: str) -> None:
    clock.now = IDLE
    request = AuthRequest(auth, Request.blank("/", headers=cookie(session_id)).environ)
    assert request.response_headers() == []
    session = request.validate()
    assert session is not None and session.is_fresh
    names = [name for name, _ in request.response_headers()]
    assert names == ["Cache-Control", "Set-Cookie", "Vary"]
    assert request.queued_cookies[0].value == session.session_id


def test_store_failure_queues_nothing(auth: Any, adapter: CountingAdapter, session_id: str) -> None:
    adapter.failing = True
    request = AuthRequest(auth, Request.blank("/", headers=cookie(session_id)).environ)
    with pytest.raises(StoreDown):
        request.validate()
    assert request.queued_cookies == []
    assert all(name != "Set-Cookie" for name, _ in request.response_headers())


@given(header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200))
def test_no_cookie_header_makes_the_middleware_raise(header: str) -> None:
    auth = make_auth(MemoryAdapter(), Clock())
    environ = Request.blank("/page", headers={"Cookie": header}).environ
    statuses: list[str] = []
    body = LuciaMiddleware(page_app, auth)(environ, lambda status, headers: statuses.append(status))
    assert list(body) == [b"anonymous"] and statuses == ["200 OK"]


# a database written by the original Lucia


@pytest.fixture
def fixture_auth(tmp_path: Path) -> Any:
    if not FIXTURE_DB.exists():
        pytest.fail(f"missing fixture {FIXTURE_DB}")
    copy = tmp_path / "lucia.sqlite"
    shutil.copyfile(FIXTURE_DB, copy)
    adapter = SQLiteAdapter(copy)
    yield lucia(adapter=adapter, env="DEV", clock=lambda: T0, hash=CHEAP_HASH,
                transform_user_data=lambda row: {"user_id": row["id"], "name": row["username"]})
    adapter.close()


ALICE = "PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW"
BOB = "m4d3hs7fgoHr5RF7cMH3n8HfYLhWwjwjOXFhJ2fU"
OCTO = "EB0I6zkqgRL4nE3WrVR5uVxPQ1pSMp8XbJNX7jWt"


def cookie_values(response: webtest.TestResponse) -> list[str]:
    return [value.split(";")[0].removeprefix("auth_session=") for value in auth_cookies(response)]


def test_active_lucia_session_is_used_as_it_is(fixture_auth: Any) -> None:
    response = wrap(page_app, fixture_auth).get("/page", headers=cookie(ALICE))
    assert response.text == "user:user-alice"
    assert cookie_values(response) == []


def test_idle_lucia_session_is_renewed(fixture_auth: Any) -> None:
    response = wrap(page_app, fixture_auth).get("/page", headers=cookie(BOB))
    assert response.text == "user:user-bob"
    (new_id,) = cookie_values(response)
    assert len(new_id) == 40 and new_id != BOB


def test_dead_lucia_session_is_blanked_and_deleted(fixture_auth: Any, tmp_path: Path) -> None:
    response = wrap(page_app, fixture_auth).get("/page", headers=cookie(OCTO))
    assert response.text == "anonymous"
    assert cookie_values(response) == [""]
    with closing(sqlite3.connect(tmp_path / "lucia.sqlite")) as conn:
        assert conn.execute("SELECT id FROM session WHERE id = ?", (OCTO,)).fetchall() == []
