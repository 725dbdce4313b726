"""The middleware's rules on both shells (LuciaMiddleware and LuciaASGIMiddleware), and the WSGI protocol.

Every test taking ``shell`` runs once per shell with the same page and the
same requests (see ``shells.py``: the WSGI run goes through wsgiref's
validator). The tests at the end are about WSGI itself (``start_response``
timing, the iterable and its ``close()``, ``exc_info``); their ASGI
counterparts are in ``test_asgi.py``."""

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
from shells import Answer, Inner, Reply, Shell, WsgiShell
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


async def page(r: Inner) -> Reply:
    """Reads the user and answers with it, plus a cookie of its own."""
    _session, user = await r.validate_user()
    body = b"anonymous" if user is None else f"user:{user['user_id']}".encode()
    return Reply(200, [("Content-Type", "text/plain"), ("Set-Cookie", "theme=dark; Path=/")], body)


async def plain(r: Inner) -> Reply:
    """Never looks at the session."""
    return Reply(200, [("Content-Type", "text/plain")], b"plain")


def page_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``page`` as a plain WSGI application."""
    _session, user = environ["lucia.auth"].validate_user()
    body = b"anonymous" if user is None else f"user:{user['user_id']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "theme=dark; Path=/")])
    return [body]


def plain_app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"plain"]


def wrap(app: Any, auth: Any, **options: Any) -> webtest.TestApp:
    """Validator around both the app and the middleware, as the issue asks."""
    return webtest.TestApp(validator(LuciaMiddleware(validator(app), auth, **options)))


def cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"auth_session={session_id}"}


def auth_cookies(response: webtest.TestResponse) -> list[str]:
    return [value for value in response.headers.getall("Set-Cookie") if value.startswith("auth_session=")]


# pass-through


def test_anonymous_request_gets_no_set_cookie(shell: Shell, auth: Any) -> None:
    response = shell.serve(page, auth).get("/page")
    assert response.text == "anonymous"
    assert response.set_cookies == ["theme=dark; Path=/"]
    assert response.getall("Vary") == ["Cookie"]


def test_app_that_never_reads_the_session_gets_no_extra_headers(
    shell: Shell, auth: Any, adapter: CountingAdapter
) -> None:
    bare = shell.serve(plain, None).get("/page", headers=cookie("x" * 40))
    wrapped = shell.serve(plain, auth).get("/page", headers=cookie("x" * 40))
    assert wrapped == bare
    assert adapter.reads == 0


def test_every_request_gets_an_auth_request(shell: Shell, auth: Any) -> None:
    seen: list[Any] = []

    async def app(r: Inner) -> Reply:
        seen.append(r.lucia)
        return await plain(r)

    shell.serve(app, auth).get("/")
    assert type(seen[0]) is shell.request_type
    assert seen[0].auth is auth


def test_exception_from_the_app_propagates(shell: Shell, auth: Any, session_id: str) -> None:
    async def app(r: Inner) -> Reply:
        await r.validate()
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        shell.serve(app, auth).get("/", headers=cookie(session_id))


# validation and cookies


def test_active_session_is_used_without_a_new_cookie(shell: Shell, auth: Any, session_id: str) -> None:
    response = shell.serve(page, auth).get("/page", headers=cookie(session_id))
    assert response.text.startswith("user:")
    assert response.auth_cookies == []


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
    shell: Shell, adapter: CountingAdapter, clock: Clock, cookie_options: list[dict[str, str]], bad_id: str
) -> None:
    auth = make_auth(adapter, clock, session_cookie=cookie_options)
    response = shell.serve(page, auth).get("/page", headers=cookie(bad_id))
    assert response.text == "anonymous"
    blanks = response.auth_cookies
    assert len(blanks) == len(cookie_options)
    assert all(value.startswith("auth_session=;") and BLANK_EXPIRES in value for value in blanks)
    assert [value for value in blanks if "Path=/admin" in value] == blanks[1:]
    assert response.getall("Cache-Control") == ["private"]


def test_dead_session_gets_a_blank_cookie_and_its_row_goes(
    shell: Shell, auth: Any, adapter: CountingAdapter, clock: Clock, session_id: str
) -> None:
    clock.now = T0 + 15 * DAY_MS + 1
    response = shell.serve(page, auth).get("/page", headers=cookie(session_id))
    assert response.text == "anonymous"
    assert len(response.auth_cookies) == 1 and BLANK_EXPIRES in response.auth_cookies[0]
    assert MemoryAdapter.get_session(adapter, session_id) is None


def test_idle_session_is_renewed_with_a_new_cookie(shell: Shell, auth: Any, clock: Clock, session_id: str) -> None:
    clock.now = IDLE
    response = shell.serve(page, auth).get("/page", headers=cookie(session_id))
    (renewed,) = response.auth_cookies
    new_id = renewed.split(";")[0].removeprefix("auth_session=")
    assert new_id != session_id and len(new_id) == 40
    assert "HttpOnly" in renewed and "SameSite=Lax" in renewed and "Path=/" in renewed
    assert auth.validate_session(new_id).state == "active"
    assert response.text.startswith("user:")


def test_two_cookie_options_give_two_set_cookie_headers(
    shell: Shell, adapter: CountingAdapter, clock: Clock, session_id: str
) -> None:
    auth = make_auth(adapter, clock, session_cookie=[{"path": "/"}, {"path": "/app", "domain": "example.com"}])
    clock.now = IDLE
    response = shell.serve(page, auth).get("/page", headers=cookie(session_id))
    first, second = response.auth_cookies
    assert first.split(";")[0] == second.split(";")[0]
    assert "Path=/;" in first and "Domain=example.com; Path=/app;" in second


def test_apps_own_set_cookie_is_kept_beside_the_renewal(
    shell: Shell, auth: Any, clock: Clock, session_id: str
) -> None:
    clock.now = IDLE
    response = shell.serve(page, auth).get("/page", headers=cookie(session_id))
    assert response.set_cookies[0] == "theme=dark; Path=/"
    assert len(response.auth_cookies) == 1


def test_repeated_validation_hits_the_store_once(
    shell: Shell, auth: Any, adapter: CountingAdapter, session_id: str
) -> None:
    results: list[Any] = []

    async def app(r: Inner) -> Reply:
        results.extend([await r.validate(), await r.validate_user(), await r.validate(), await r.validate_user()])
        return await plain(r)

    adapter.reads = 0
    shell.serve(app, auth).get("/page", headers=cookie(session_id))
    assert adapter.reads == 1
    assert results[0] is results[1].session is results[2] is results[3].session
    assert results[0].session_id == session_id


@pytest.mark.parametrize(
    ("app_cache", "expected"),
    [
        pytest.param(None, ["private"], id="none-added"),
        pytest.param("public, max-age=60", ["private, max-age=60"], id="public-dropped"),
        pytest.param("max-age=60, s-maxage=600", ["private, max-age=60"], id="s-maxage-dropped"),
        pytest.param("no-store", ["no-store"], id="no-store-kept"),
        pytest.param("private, max-age=5", ["private, max-age=5"], id="private-kept"),
    ],
)
def test_a_response_setting_the_session_cookie_is_private(
    shell: Shell, auth: Any, clock: Clock, session_id: str, app_cache: str | None, expected: list[str]
) -> None:
    async def app(r: Inner) -> Reply:
        await r.validate()
        return Reply(200, [("Content-Type", "text/plain"), *([("Cache-Control", app_cache)] if app_cache else [])])

    clock.now = IDLE
    response = shell.serve(app, auth).get("/", headers=cookie(session_id))
    assert len(response.auth_cookies) == 1
    assert response.getall("Cache-Control") == expected


def test_a_response_without_a_session_cookie_keeps_its_cache_control(
    shell: Shell, auth: Any, session_id: str
) -> None:
    async def app(r: Inner) -> Reply:
        await r.validate()
        return Reply(200, [("Content-Type", "text/plain"), ("Cache-Control", "public, max-age=60")])

    response = shell.serve(app, auth).get("/", headers=cookie(session_id))
    assert response.headers == (("Content-Type", "text/plain"), ("Cache-Control", "public, max-age=60"),
                                ("Vary", "Cookie"))


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
    shell: Shell, auth: Any, clock: Clock, session_id: str, headers: dict[str, str]
) -> None:
    clock.now = IDLE  # a same-site request would renew it
    response = shell.serve(page, auth).post("/page", headers={**cookie(session_id), **headers})
    assert response.text == "anonymous"
    assert response.auth_cookies == []
    assert auth.get_session(session_id).state == "idle"


def test_same_origin_post_is_authenticated(shell: Shell, auth: Any, session_id: str) -> None:
    response = shell.serve(page, auth).post("/page", headers={**cookie(session_id), **SAME_ORIGIN})
    assert response.text.startswith("user:")


# store failures


def test_store_failure_in_validate_propagates(
    shell: Shell, auth: Any, adapter: CountingAdapter, session_id: str
) -> None:
    adapter.failing = True
    with pytest.raises(StoreDown):
        shell.serve(page, auth).get("/page", headers=cookie(session_id))


def test_store_failure_leaves_the_cookie_alone(
    shell: Shell, auth: Any, adapter: CountingAdapter, session_id: str
) -> None:
    async def app(r: Inner) -> Reply:
        try:
            await r.validate()
        except StoreDown:
            return Reply(503, [("Content-Type", "text/plain")], b"try again")
        return await plain(r)

    adapter.failing = True
    response = shell.serve(app, auth).get("/page", headers=cookie(session_id))
    assert response.status == 503
    assert response.set_cookies == [] and response.getall("Cache-Control") == []
    adapter.failing = False
    assert auth.validate_session(session_id).session_id == session_id


# set_session and sign-in


def test_set_session_last_call_wins(shell: Shell, auth: Any, session_id: str) -> None:
    async def app(r: Inner) -> Reply:
        r.set_session(None)
        r.set_session(await r.call("get_session", session_id))
        return await plain(r)

    (value,) = shell.serve(app, auth).get("/").auth_cookies
    assert value.startswith(f"auth_session={session_id};")


def test_set_session_none_clears_cookies_but_keeps_the_session(shell: Shell, auth: Any, session_id: str) -> None:
    async def app(r: Inner) -> Reply:
        r.set_session(None)
        return await plain(r)

    (value,) = shell.serve(app, auth).get("/", headers=cookie(session_id)).auth_cookies
    assert value.startswith("auth_session=;") and BLANK_EXPIRES in value
    assert auth.validate_session(session_id).session_id == session_id


@pytest.mark.parametrize("read_first", [pytest.param(False, id="set-then-read"),
                                        pytest.param(True, id="read-set-read")])
@pytest.mark.parametrize("signed_in", [pytest.param(True, id="set-session"), pytest.param(False, id="set-none")])
def test_validate_after_set_session_answers_with_that_session(
    auth: Any, session_id: str, read_first: bool, signed_in: bool,
) -> None:
    """A view that signs in (or out) and then renders sees the new state, not the request's cookie."""
    seen: list[Any] = []
    other = auth.create_session(auth.get_session(session_id).user_id)

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        request = environ["lucia.auth"]
        if read_first:
            assert request.validate().session_id == other.session_id  # what the request's cookie holds
        new = auth.get_session(session_id) if signed_in else None
        request.set_session(new)
        seen.extend([new, request.validate(), request.validate_user()])
        return plain_app(environ, start_response)

    (value,) = auth_cookies(wrap(app, auth).get("/", headers=cookie(other.session_id)))
    new, validated, pair = seen
    assert validated == new and pair.session == new
    if signed_in:
        assert pair.user == auth.get_user(new.user_id)
        assert value.startswith(f"auth_session={session_id};")
    else:
        assert tuple(pair) == (None, None)
        assert value.startswith("auth_session=;") and BLANK_EXPIRES in value


# the application's own session cookie


def own_cookie_app(auth: Any, created: dict[str, Any]) -> Callable[..., Iterable[bytes]]:
    """Validates (queuing a blank or renewed cookie), then signs in and sends the cookie itself."""

    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["lucia.auth"].validate()
        assert environ["lucia.auth"].queued_cookies, "validate() queued nothing to conflict with"
        user = auth.get_user_by_provider_id("username", "alice")
        session = auth.create_session(user["user_id"])
        created["session"] = session
        headers = [("Set-Cookie", c.serialize()) for c in auth.create_session_cookies(session)]
        start_response("200 OK", [("Content-Type", "text/plain"), *headers])
        return [b"signed in"]

    return app


@pytest.mark.parametrize("queued", [pytest.param("blank", id="blank-cookie-queued"),
                                    pytest.param("renewal", id="renewal-cookie-queued")])
@pytest.mark.parametrize("options", [pytest.param([{}], id="one-cookie"),
                                     pytest.param([{"path": "/"}, {"path": "/app"}], id="two-cookie-options")])
def test_apps_own_session_cookie_wins_over_the_queued_one(
    adapter: CountingAdapter, clock: Clock, session_id: str, queued: str, options: list[dict[str, str]],
) -> None:
    auth = make_auth(adapter, clock, session_cookie=options)
    presented = session_id
    if queued == "blank":
        presented = "B" * 40  # unknown: validate() queues a blank cookie
    else:
        clock.now = IDLE  # idle: validate() queues the successor's cookie
    created: dict[str, Any] = {}
    response = wrap(own_cookie_app(auth, created), auth).get("/", headers=cookie(presented))
    sent = [c.serialize() for c in auth.create_session_cookies(created["session"])]
    assert auth_cookies(response) == sent  # the app's, alone: the browser keeps the fresh log-in
    assert auth.validate_session(created["session"].session_id).user_id == created["session"].user_id


# Cache-Control: a response setting a session cookie is never stored by a shared cache


def cached_page_app(cache_control: str | None) -> Callable[..., Iterable[bytes]]:
    def app(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["lucia.auth"].validate()
        headers = [("Content-Type", "text/plain")]
        if cache_control is not None:
            headers.append(("Cache-Control", cache_control))
        start_response("200 OK", headers)
        return [b"page"]

    return app


@pytest.mark.parametrize(("app_value", "sent"), [
    pytest.param("public, max-age=600", "private, max-age=600", id="public-becomes-private"),
    pytest.param("public, max-age=60, s-maxage=600", "private, max-age=60", id="s-maxage-dropped"),
    pytest.param("max-age=600", "private, max-age=600", id="private-added"),
    pytest.param(None, "private", id="added-when-missing"),
    pytest.param("no-store", "no-store", id="no-store-kept"),
    pytest.param("private, max-age=60", "private, max-age=60", id="private-kept"),
])
@pytest.mark.parametrize("why", [pytest.param("renewal", id="renewal-cookie"),
                                 pytest.param("blank", id="blank-cookie")])
def test_response_setting_a_session_cookie_is_never_publicly_cacheable(
    auth: Any, clock: Clock, session_id: str, app_value: str | None, sent: str, why: str,
) -> None:
    clock.now = IDLE
    presented = session_id if why == "renewal" else "B" * 40
    response = wrap(cached_page_app(app_value), auth).get("/", headers=cookie(presented))
    assert len(auth_cookies(response)) == 1
    assert response.headers.getall("Cache-Control") == [sent]


@pytest.mark.parametrize("presented", [pytest.param(None, id="anonymous"),
                                       pytest.param("active", id="active-session-read")])
def test_response_without_a_session_cookie_keeps_its_cache_control(
    auth: Any, session_id: str, presented: str | None,
) -> None:
    headers = {} if presented is None else cookie(session_id)
    response = wrap(cached_page_app("public, max-age=600"), auth).get("/", headers=headers)
    assert auth_cookies(response) == []
    assert response.headers.getall("Cache-Control") == ["public, max-age=600"]
def test_validate_after_set_session_answers_with_that_session_on_both_shells(shell: Shell, auth: Any,
                                                                           session_id: str) -> None:
    checked: list[bool] = []

    async def app(r: Inner) -> Reply:
        signed_in = await r.call("get_session", session_id)
        r.set_session(signed_in)  # just logged in; the request itself carried a stale cookie
        assert await r.validate() == signed_in
        assert (await r.validate_user()).user == auth.get_user(signed_in.user_id)
        checked.append(True)
        return await plain(r)

    (value,) = shell.serve(app, auth).get("/", headers=cookie("B" * 40)).auth_cookies
    assert value.startswith(f"auth_session={session_id};")
    assert checked == [True]


def test_sign_in_creates_a_session_and_sets_its_cookie(
    shell: Shell, auth: Any, adapter: CountingAdapter, session_id: str
) -> None:
    user_id = auth.get_session(session_id).user_id

    async def app(r: Inner) -> Reply:
        session = await r.sign_in(user_id)
        assert (await r.validate_user()).session == session
        return await plain(r)

    (value,) = shell.serve(app, auth).post("/login", headers={**cookie("C" * 40), **SAME_ORIGIN}).auth_cookies
    new_id = value.split(";")[0].removeprefix("auth_session=")
    assert new_id not in (session_id, "C" * 40)
    assert auth.validate_session(new_id).user_id == user_id


def test_sign_out_ends_the_session_and_clears_the_cookie(shell: Shell, auth: Any, session_id: str) -> None:
    async def app(r: Inner) -> Reply:
        await r.sign_out()
        return await plain(r)

    (value,) = shell.serve(app, auth).post("/logout", headers={**cookie(session_id), **SAME_ORIGIN}).auth_cookies
    assert value.startswith("auth_session=;") and BLANK_EXPIRES in value
    assert auth.config.session_adapter.get_session(session_id) is None


@pytest.mark.parametrize(
    ("app_vary", "expected"),
    [
        pytest.param(None, ["Cookie"], id="none"),
        pytest.param("Accept-Encoding", ["Accept-Encoding", "Cookie"], id="other"),
        pytest.param("accept-encoding, cookie", ["accept-encoding, cookie"], id="already"),
        pytest.param("*", ["*"], id="star"),
    ],
)
def test_vary_cookie_is_added_once(shell: Shell, auth: Any, app_vary: str | None, expected: list[str]) -> None:
    async def app(r: Inner) -> Reply:
        await r.validate()
        return Reply(200, [("Content-Type", "text/plain")] + ([("Vary", app_vary)] if app_vary else []))

    assert shell.serve(app, auth).get("/").getall("Vary") == expected


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
def test_only_paths_under_the_prefix_reach_the_routes(shell: Shell, auth: Any, path: str, reaches_app: bool) -> None:
    response = shell.serve(plain, auth).get(path)
    assert (response.text == "plain") is reaches_app


def test_custom_api_prefix(shell: Shell, auth: Any) -> None:
    client = shell.serve(plain, auth, api_prefix="/auth")
    assert client.get("/auth/user").json() == {"user": None}
    assert client.get("/api/auth/user").text == "plain"


def test_routes_answer_under_a_mount_point(shell: Shell, auth: Any, session_id: str) -> None:
    client = shell.serve(plain, auth)
    response = client.get("/shop/api/auth/user", headers=cookie(session_id), root_path="/shop")
    assert response.json()["user"]["user_id"] == auth.get_session(session_id).user_id
    assert client.get("/shop/api/authx", root_path="/shop").text == "plain"


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
def test_bad_prefix_is_rejected(shell: Shell, auth: Any, prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        check_prefix(prefix)
    with pytest.raises(ValueError, match="prefix"):
        shell.serve(plain, auth, api_prefix=prefix)


@given(header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200))
def test_no_cookie_header_makes_the_middleware_raise(shell: Shell, header: str) -> None:
    auth = make_auth(MemoryAdapter(), Clock())
    response = shell.serve(page, auth).get("/page", headers={"Cookie": header.encode("latin-1")})
    assert response.status == 200 and response.text == "anonymous"


# the WSGI protocol (ASGI counterparts: test_asgi.py)


def test_middleware_returns_the_apps_iterable_unchanged(auth: Any) -> None:
    body = [b"one", b"two"]

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    result = LuciaMiddleware(app, auth)(Request.blank("/").environ, lambda status, headers: None)
    assert result is body


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


def test_webtest_sees_what_the_shell_harness_sees(auth: Any, clock: Clock, session_id: str) -> None:
    clock.now = IDLE
    via_webtest = wrap(page_app, auth).get("/page", headers={**cookie(session_id), "Host": "localhost"})
    clock.now += 60_000  # past the grace window: the second run renews again, with a new id
    via_shell = WsgiShell().serve(page, auth).get("/page", headers=cookie(session_id))
    assert via_shell.status == via_webtest.status_int and via_shell.body == via_webtest.body
    assert [name for name, _ in via_shell.headers] == [name for name, _ in via_webtest.headerlist
                                                       if name != "Content-Length"]


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


def cookie_values(response: Answer) -> list[str]:
    return [value.split(";")[0].removeprefix("auth_session=") for value in response.auth_cookies]


def test_active_lucia_session_is_used_as_it_is(shell: Shell, fixture_auth: Any) -> None:
    response = shell.serve(page, fixture_auth).get("/page", headers=cookie(ALICE))
    assert response.text == "user:user-alice"
    assert cookie_values(response) == []


def test_idle_lucia_session_is_renewed(shell: Shell, fixture_auth: Any) -> None:
    response = shell.serve(page, fixture_auth).get("/page", headers=cookie(BOB))
    assert response.text == "user:user-bob"
    (new_id,) = cookie_values(response)
    assert len(new_id) == 40 and new_id != BOB


def test_dead_lucia_session_is_blanked_and_deleted(shell: Shell, fixture_auth: Any, tmp_path: Path) -> None:
    response = shell.serve(page, fixture_auth).get("/page", headers=cookie(OCTO))
    assert response.text == "anonymous"
    assert cookie_values(response) == [""]
    with closing(sqlite3.connect(tmp_path / "lucia.sqlite")) as conn:
        assert conn.execute("SELECT id FROM session WHERE id = ?", (OCTO,)).fetchall() == []
