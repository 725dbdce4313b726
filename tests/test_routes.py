"""The ``/api/auth/*`` routes: through both middlewares (``shell``, see shells.py), and standalone (WSGI)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest
from shells import Client, Inner, Reply, Shell

from lucia_wsgi import handle_api_routes, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.config import DAY_MS
from lucia_wsgi.session import SessionRow

T0 = 1_700_000_000_000
CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
SAME_ORIGIN = {"Origin": "http://localhost"}
BLANK_EXPIRES = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"
SECRET_ERROR = "password=s3cret host=db.internal"


class StoreDown(RuntimeError):
    """A driver error, with text that must never reach a client."""


class FlakyAdapter(MemoryAdapter):
    """A memory store whose session reads or deletes fail on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_reads = False
        self.fail_deletes = False

    def get_session_and_user_by_session_id(self, session_id: str) -> Any:
        if self.fail_reads:
            raise StoreDown(SECRET_ERROR)
        return super().get_session_and_user_by_session_id(session_id)

    def get_session(self, session_id: str) -> SessionRow | None:
        if self.fail_reads:
            raise StoreDown(SECRET_ERROR)
        return super().get_session(session_id)

    def delete_session(self, *session_ids: str) -> None:
        if self.fail_deletes:
            raise StoreDown(SECRET_ERROR)
        super().delete_session(*session_ids)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


async def app_page(r: Inner) -> Reply:
    return Reply(200, [("Content-Type", "text/plain")], b"app")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def adapter() -> FlakyAdapter:
    return FlakyAdapter()


def make_auth(adapter: Any, clock: Clock, **options: Any) -> Any:
    options.setdefault("transform_user_data", lambda row: {"user_id": row["id"], "name": row.get("name")})
    return lucia(adapter=adapter, env="DEV", clock=clock, hash=CHEAP_HASH, **options)


@pytest.fixture
def auth(adapter: FlakyAdapter, clock: Clock) -> Any:
    return make_auth(adapter, clock)


@pytest.fixture
def session_id(auth: Any) -> str:
    user = auth.create_user("username", "zoë", attributes={"name": "Zoë"})
    return str(auth.create_session(user["user_id"]).session_id)


@pytest.fixture
def app(shell: Shell, auth: Any) -> Client:
    return shell.serve(app_page, auth)


def cookie(session_id: str) -> dict[str, str]:
    return {"Cookie": f"auth_session={session_id}"}


def auth_cookies(response: webtest.TestResponse) -> list[str]:
    return [value for value in response.headers.getall("Set-Cookie") if value.startswith("auth_session=")]


# GET /user


def test_user_route_answers_null_when_anonymous(app: Client) -> None:
    response = app.get("/api/auth/user")
    assert response.json() == {"user": None}
    assert response.get("Content-Type") == "application/json"
    assert response.get("Cache-Control") == "no-store"
    assert response.set_cookies == []


def test_user_route_answers_the_user(app: Client, session_id: str, auth: Any) -> None:
    response = app.get("/api/auth/user", headers=cookie(session_id))
    assert response.json() == {"user": {"user_id": auth.get_session(session_id).user_id, "name": "Zoë"}}
    assert response.getall("Vary") == ["Cookie"]
    assert response.set_cookies == []


def test_user_route_renews_an_idle_session(app: Client, session_id: str, clock: Clock) -> None:
    clock.now = T0 + DAY_MS + 1
    response = app.get("/api/auth/user", headers=cookie(session_id))
    assert response.json()["user"]["name"] == "Zoë"
    (value,) = response.auth_cookies
    assert not value.startswith(f"auth_session={session_id}") and "HttpOnly" in value
    assert response.getall("Cache-Control") == ["no-store"]


def test_user_route_blanks_an_invalid_cookie(app: Client) -> None:
    response = app.get("/api/auth/user", headers=cookie("C" * 40))
    assert response.json() == {"user": None}
    (value,) = response.auth_cookies
    assert value.startswith("auth_session=;") and BLANK_EXPIRES in value


def test_user_route_answers_head(app: Client, session_id: str) -> None:
    get = app.get("/api/auth/user", headers=cookie(session_id))
    head = app.request("HEAD", "/api/auth/user", headers=cookie(session_id))
    assert head.status == 200 and head.body == b""
    assert head.headers == get.headers  # Content-Length included: the length GET would send


def test_user_route_store_failure_is_a_clean_500(
    app: Client, session_id: str, adapter: FlakyAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    adapter.fail_reads = True
    with caplog.at_level(logging.ERROR, logger="lucia_wsgi.routes"):
        response = app.get("/api/auth/user", headers=cookie(session_id))
    assert response.status == 500
    assert response.json() == {"message": "unknown"}
    assert SECRET_ERROR not in response.text
    assert response.set_cookies == []
    (record,) = caplog.records
    assert record.exc_info is not None and isinstance(record.exc_info[1], StoreDown)


@dataclasses.dataclass
class Profile:
    user_id: str
    joined: datetime
    tags: tuple[str, ...] = ("a", "b")


class PlainUser:
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self._secret = "hidden"


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        pytest.param(lambda row: Profile(row["id"], datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)),
                     {"joined": "2023-11-14T22:13:20+00:00", "tags": ["a", "b"]}, id="dataclass"),
        pytest.param(lambda row: PlainUser(row["id"]), {}, id="object"),
        pytest.param(lambda row: {"user_id": row["id"], "name": row["name"]}, {"name": "Zoë"}, id="dict"),
    ],
)
def test_user_route_encodes_what_transform_user_data_returns(
    shell: Shell, adapter: FlakyAdapter, clock: Clock, transform: Callable[[dict[str, Any]], Any],
    expected: dict[str, Any]
) -> None:
    auth = make_auth(adapter, clock, transform_user_data=transform)
    auth.create_user("username", "zoë", attributes={"name": "Zoë"})
    session = auth.create_session(adapter.get_user_by_provider_id("username:zoë")["id"])
    user = shell.serve(app_page, auth).get("/api/auth/user", headers=cookie(session.session_id)).json()["user"]
    assert user == {"user_id": session.user_id, **expected}


# POST /logout


def test_logout_invalidates_and_clears_every_cookie(
    shell: Shell, adapter: FlakyAdapter, clock: Clock, session_id: str
) -> None:
    auth = make_auth(adapter, clock, session_cookie=[{"path": "/"}, {"path": "/admin"}])
    response = shell.serve(app_page, auth).post("/api/auth/logout", headers={**cookie(session_id), **SAME_ORIGIN})
    assert response.json() == {}
    blanks = response.auth_cookies
    assert len(blanks) == 2 and all(value.startswith("auth_session=;") and BLANK_EXPIRES in value for value in blanks)
    assert adapter.get_session(session_id) is None


def test_logout_without_a_session_is_ok_and_sets_nothing(app: Client) -> None:
    response = app.post("/api/auth/logout", headers=SAME_ORIGIN)
    assert response.json() == {}
    assert response.set_cookies == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-origin"),
        pytest.param({"Origin": "https://evil.example"}, id="foreign"),
        pytest.param({"Origin": "null"}, id="null"),
    ],
)
def test_cross_site_logout_is_refused_and_changes_nothing(
    app: Client, session_id: str, adapter: FlakyAdapter, headers: dict[str, str]
) -> None:
    response = app.post("/api/auth/logout", headers={**cookie(session_id), **headers})
    assert response.status == 403
    assert response.json() == {"message": "AUTH_INVALID_REQUEST"}
    assert response.set_cookies == []
    assert adapter.get_session(session_id) is not None


def test_logout_store_failure_is_500_and_the_session_stays(
    app: Client, session_id: str, adapter: FlakyAdapter, auth: Any
) -> None:
    adapter.fail_deletes = True
    response = app.post("/api/auth/logout", headers={**cookie(session_id), **SAME_ORIGIN})
    assert response.status == 500
    assert response.json() == {"message": "unknown"}
    assert SECRET_ERROR not in response.text
    assert response.set_cookies == []
    adapter.fail_deletes = False
    assert auth.validate_session(session_id).session_id == session_id


# client.js


def test_client_js_is_a_cacheable_es_module(app: Client) -> None:
    response = app.get("/api/auth/client.js")
    assert response.get("Content-Type") == "text/javascript; charset=utf-8"
    assert response.get("Cache-Control") == "public, max-age=3600"
    assert response.get("X-Content-Type-Options") == "nosniff"
    assert "export async function getUser()" in response.text
    assert "export async function signOut()" in response.text
    assert response.get("ETag")


def test_client_js_revalidates_with_304(app: Client) -> None:
    etag = app.get("/api/auth/client.js").get("ETag")
    assert etag
    response = app.get("/api/auth/client.js", headers={"If-None-Match": etag})
    assert response.status == 304 and response.body == b""
    assert response.get("Content-Type") is None and response.get("ETag") == etag


# paths and methods


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/auth/username", id="prefix-of-a-route"),
        pytest.param("/api/auth/user/", id="trailing-slash"),
        pytest.param("/api/auth/user/x", id="below-a-route"),
        pytest.param("/api/auth", id="the-prefix"),
        pytest.param("/api/auth/", id="prefix-slash"),
        pytest.param("/api/auth/USER", id="case"),
        pytest.param("/api/auth/%C3%A9%FF", id="non-ascii"),
    ],
)
def test_unknown_paths_under_the_prefix_are_404(app: Client, path: str) -> None:
    response = app.get(path)
    assert response.status == 404
    assert response.json() == {"message": "not found"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("GET", "/api/auth/logout", "POST", id="get-logout"),
        pytest.param("POST", "/api/auth/user", "GET, HEAD", id="post-user"),
        pytest.param("DELETE", "/api/auth/user", "GET, HEAD", id="delete-user"),
        pytest.param("PUT", "/api/auth/client.js", "GET, HEAD", id="put-client-js"),
    ],
)
def test_wrong_method_is_405_with_allow(app: Client, method: str, path: str, allow: str) -> None:
    response = app.request(method, path, headers=SAME_ORIGIN)
    assert response.status == 405
    assert response.get("Allow") == allow
    assert response.json() == {"message": "method not allowed"}


def test_wrong_method_changes_nothing(app: Client, session_id: str, adapter: FlakyAdapter) -> None:
    assert app.get("/api/auth/logout", headers=cookie(session_id)).status == 405
    assert adapter.get_session(session_id) is not None


# standalone (WSGI: handle_api_routes)


def test_standalone_routes_set_their_own_cookies(auth: Any, session_id: str, adapter: FlakyAdapter) -> None:
    app = webtest.TestApp(validator(handle_api_routes(auth)))
    response = app.post("/api/auth/logout", headers={**cookie(session_id), **SAME_ORIGIN})
    (value,) = auth_cookies(response)
    assert value.startswith("auth_session=;")
    assert adapter.get_session(session_id) is None


def test_standalone_routes_with_a_custom_prefix(auth: Any) -> None:
    app = webtest.TestApp(validator(handle_api_routes(auth, prefix="/session")))
    assert app.get("/session/user").json == {"user": None}
    app.get("/api/auth/user", status=404)


def test_standalone_routes_match_when_mounted_under_a_script_name(auth: Any, session_id: str) -> None:
    routes = webtest.TestApp(handle_api_routes(auth))
    extra = {"SCRIPT_NAME": "/api/auth"}
    response = routes.get("/user", headers=cookie(session_id), extra_environ=extra)
    assert response.json["user"]["user_id"] == auth.get_session(session_id).user_id
    assert routes.get("/username", extra_environ=extra, status=404).json == {"message": "not found"}


def test_standalone_routes_answer_at_their_path_under_an_apps_script_name(auth: Any, session_id: str) -> None:
    routes = webtest.TestApp(handle_api_routes(auth))
    response = routes.get("/api/auth/user", headers=cookie(session_id), extra_environ={"SCRIPT_NAME": "/shop"})
    assert response.json["user"]["user_id"] == auth.get_session(session_id).user_id


@pytest.mark.parametrize("prefix", ["/api/auth", "/session"])
def test_standalone_routes_answer_when_a_dispatcher_mounts_them_below_a_site_prefix(
    adapter: FlakyAdapter, clock: Clock, prefix: str,
) -> None:
    """Werkzeug's DispatcherMiddleware hands over SCRIPT_NAME="/app{prefix}", PATH_INFO="/user"."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    auth = make_auth(adapter, clock)
    user = auth.create_user("username", "zoë", attributes={"name": "Zoë"})
    session_id = auth.create_session(user["user_id"]).session_id
    seen: list[tuple[str, str]] = []

    def spy(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        return routes(environ, start_response)

    def site_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    routes = handle_api_routes(auth, prefix=prefix)
    site = webtest.TestApp(validator(DispatcherMiddleware(site_app, {f"/app{prefix}": spy})))
    assert site.get(f"/app{prefix}/user", headers=cookie(session_id)).json["user"]["user_id"] == user["user_id"]
    assert seen == [(f"/app{prefix}", "/user")]
    assert site.get(f"/app{prefix}/client.js").content_type == "text/javascript"
    assert site.get(f"/app{prefix}/username", status=404).json == {"message": "not found"}
    assert site.get(f"/app{prefix}/logout", status=405).headers["Allow"] == "POST"
    response = site.post(f"/app{prefix}/logout", headers={**cookie(session_id), **SAME_ORIGIN})
    assert response.json == {} and auth_cookies(response)[0].startswith("auth_session=;")
    assert adapter.get_session(session_id) is None
    assert site.get("/app/elsewhere").text == "app"  # the dispatcher's own app still gets the rest
