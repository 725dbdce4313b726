"""Smoke test of an installed wheel, run by .ci/wheel-check in a venv holding only the wheel and its dependencies.

Run it as ``python -I wheel_smoke.py`` from outside the checkout, so that
``import lucia_wsgi`` can only find the installed package. Standard library
only: the venv has no test tools. Each check prints one line; the first
failure raises.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterable
from importlib import metadata, resources
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import lucia_wsgi
from lucia_wsgi import SESSION_COOKIE_NAME, LuciaMiddleware, lucia
from lucia_wsgi.adapters import SQLiteAdapter
from lucia_wsgi.testing import call_wsgi

PASSWORD = "correct horse battery staple"


def check(what: str, ok: bool, detail: object = "") -> None:
    if not ok:
        raise SystemExit(f"FAIL {what}: {detail}")
    print(f"ok   {what}")


def installed_package() -> None:
    package_dir = Path(lucia_wsgi.__file__).resolve().parent
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    check("lucia_wsgi is imported from the venv's site-packages", package_dir.parent == site_packages, package_dir)
    version = metadata.version("lucia_wsgi")
    check(f"installed version {version} is lucia_wsgi.__version__", version == lucia_wsgi.__version__,
          lucia_wsgi.__version__)
    files = resources.files("lucia_wsgi")
    check("py.typed is installed", files.joinpath("py.typed").is_file())
    check("static/client.js is installed", files.joinpath("static/client.js").is_file())


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("lucia-wsgi")
    return subprocess.run([str(script), *args], input=stdin, capture_output=True, text=True, timeout=120,
                          check=False)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def call(app: WSGIApp, path: str, cookie: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    environ: dict[str, Any] = {"SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": ""}
    setup_testing_defaults(environ)
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    status, headers, body = call_wsgi(validator(app), environ)  # the installed package's own driver
    return status, headers, body


def whoami(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    session, user = environ["lucia.auth"].validate_user()
    if session is None:
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"anonymous"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [user["user_id"].encode()]


def middleware_round_trip(db_path: Path) -> None:
    url = f"sqlite:///{db_path}"  # an absolute path: sqlite:////tmp/...
    done = run_cli("init", "--db", url, "--attr", "username=TEXT")
    check("lucia-wsgi init creates the tables", done.returncode == 0, done.stderr)
    done = run_cli("create-user", "--db", url, "username", "alice", "--password-stdin", "--attr", "username=alice",
                   stdin=PASSWORD + "\n")
    check("lucia-wsgi create-user signs alice up", done.returncode == 0 and done.stdout.strip() != "", done.stderr)
    user_id = done.stdout.strip()

    adapter = SQLiteAdapter(db_path)
    try:
        auth = lucia(adapter=adapter, env="DEV")
        user = auth.authenticate_user("username", "alice", PASSWORD)
        check("alice's password verifies", user["user_id"] == user_id, user)
        session = auth.create_session(user_id)
        app = LuciaMiddleware(whoami, auth)

        status, _, body = call(app, "/me", cookie=f"{SESSION_COOKIE_NAME}={session.session_id}")
        check("a request with alice's session cookie comes back as alice", (status, body) == ("200 OK",
              user_id.encode()), (status, body))
        status, headers, body = call(app, "/me")
        check("a request without a cookie is anonymous, no Set-Cookie",
              status.startswith("401") and body == b"anonymous"
              and not any(name.lower() == "set-cookie" for name, _ in headers), (status, headers, body))
        status, _, body = call(app, "/me", cookie=f"{SESSION_COOKIE_NAME}={'x' * 40}")
        check("an unknown session id is anonymous", status.startswith("401"), status)
        status, _, body = call(app, "/api/auth/client.js")
        shipped = resources.files("lucia_wsgi").joinpath("static/client.js").read_bytes()
        check("/api/auth/client.js serves the packaged file", status == "200 OK" and body == shipped, status)
    finally:
        adapter.close()


def main() -> None:
    installed_package()
    done = run_cli("--help")
    check("lucia-wsgi --help", done.returncode == 0 and "create-user" in done.stdout, done.stderr or done.stdout)
    with tempfile.TemporaryDirectory() as tmp:
        middleware_round_trip(Path(tmp) / "app.db")
    print("wheel smoke test passed")


if __name__ == "__main__":
    main()
