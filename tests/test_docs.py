"""The documentation's code runs, and the API reference covers every public name.

How the examples are checked (one mechanism):

* Every Python example on the pages under ``docs/`` is a file in
  ``docs/examples/``, shown with ``.. literalinclude::``; no page has a
  ``.. code-block:: python`` or a bare ``::`` literal block
  (:func:`test_pages_show_python_only_from_examples`). Each example file is
  run by a test, here or in ``tests/recipes`` (the framework tutorials' files
  are the recipes whose test tables run there); :data:`RUN_BY` names the test
  of each file and :func:`test_every_example_is_run` fails for a file without
  one. So an example that stops working fails ``python -m pytest``.
* README.rst (the PyPI page, which cannot include files) has one Python
  block, the quick start: it must be ``docs/examples/quickstart.py`` to the
  character, and that file runs here.
* The ``console`` blocks of ``docs/cli.rst`` run in a temporary directory
  and their output is compared (:func:`test_cli_page_session`). Other
  literal blocks (install and serve commands, a cron line, HTML, sample
  output) are not run: the serve commands are checked to name a callable of
  an example (:func:`test_serve_commands_name_example_callables`), the
  client.js snippet to import what client.js exports.
* Docstrings rendered by autodoc may hold short snippets; those are
  compiled (:func:`test_docstring_snippets_compile`), not run.

The Sphinx build itself (``-W``, nitpicky) runs in ``.ci/run``.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import os
import pkgutil
import re
import runpy
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webtest
from conftest import Clock

import lucia_wsgi
from lucia_wsgi import LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.mail import MemorySender

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
# conftest.py puts EXAMPLES on sys.path.

CHEAP_HASH = (lambda password: "plain:" + password, lambda password, hashed: hashed == "plain:" + password)
T0 = 1_700_000_000_000


def pages() -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.rst") if "_build" not in path.parts)


# -- the mechanism -----------------------------------------------------------------


#: The test that runs each file of docs/examples.
RUN_BY = {
    "quickstart.py": "test_docs.py::test_quickstart_runs_twice",
    "app_auth.py": "test_docs.py::test_tutorial_mains_serve_a_user",
    "wsgi_recipe.py": "recipes/test_recipes.py (wsgi) and test_docs.py::test_tutorial_mains_serve_a_user",
    "flask_recipe.py": "recipes/test_recipes.py (flask) and test_docs.py::test_tutorial_mains_serve_a_user",
    "pyramid_recipe.py": "recipes/test_recipes.py (pyramid) and test_docs.py::test_tutorial_mains_serve_a_user",
    "django_settings.py": "test_docs.py::test_django_tutorial",
    "django_auth.py": "test_docs.py::test_django_tutorial",
    "django_urls.py": "recipes/test_recipes.py (django) and test_docs.py::test_django_tutorial",
    "django_views.py": "recipes/test_recipes.py (django) and test_docs.py::test_django_tutorial",
    "fastapi_recipe.py": "recipes/test_asgi_recipes.py and recipes/test_docs_asgi.py",
    "starlette_recipe.py": "recipes/test_asgi_recipes.py, recipes/test_asgi_uvicorn.py, recipes/test_docs_asgi.py",
    "django_asgi_recipe.py": "recipes/test_asgi_recipes.py (django-asgi)",
    "websocket_recipe.py": "test_docs.py::test_websocket_recipe",
    "standalone_request.py": "test_docs.py::test_standalone_request",
    "configuration.py": "test_docs.py::test_configuration_example",
    "production_stores.py": "test_docs.py::test_production_stores",
    "lucia_js.py": "test_docs.py::test_lucia_js_database",
    "migrate_flask_login.py": "test_docs.py::test_flask_login_migration",
    "migrate_django.py": "test_docs.py::test_django_migration (docs_django_migration.py)",
    "migrate_django_settings.py": "test_docs.py::test_django_migration (docs_django_migration.py)",
    "accounts.py": "test_docs.py::test_account_* and test_devices",
    "mail_senders.py": "test_docs.py::test_mail_senders",
    "client.html": "test_docs.py::test_client_snippet_imports_what_client_js_exports",
}


def test_every_example_is_run() -> None:
    files = {path.name for path in EXAMPLES.iterdir() if path.is_file()}
    assert files == set(RUN_BY), "give each docs/examples file a test and list it in RUN_BY"


def test_every_example_is_shown() -> None:
    included = set()
    for page in pages():
        included |= {Path(target).name for target in
                     re.findall(r"^\s*\.\. literalinclude:: (\S+)", page.read_text(encoding="utf-8"), re.M)}
    assert included == set(RUN_BY)


def test_pages_show_python_only_from_examples() -> None:
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^\s*\.\. (?:code-block|code|sourcecode)::\s*(\S*)", text, re.M):
            assert match[1] not in ("python", "py", "pycon", ""), f"{page.name}: {match[0].strip()}"
        for target in re.findall(r"^\s*\.\. literalinclude:: (\S+)", text, re.M):
            assert (page.parent / target).resolve().parent == EXAMPLES, f"{page.name}: {target}"
        for line in text.splitlines():
            if line.rstrip().endswith("::") and not re.match(r"\s*\.\. [\w:-]+::", line):
                pytest.fail(f"{page.name}: a bare literal block after {line!r}")


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    blocks = re.findall(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text, re.M)
    return [textwrap.dedent(block).strip("\n") + "\n" for block in blocks]


def test_readme_quick_start_is_the_example_file() -> None:
    assert readme_python_blocks() == [(EXAMPLES / "quickstart.py").read_text(encoding="utf-8")]


def test_readme_fits_the_front_page() -> None:
    lines = (ROOT / "README.rst").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    text = "\n".join(lines)
    assert "pip install -e '.[demo]' && python demo_app.py" in text
    assert "pip install -e '.[test]' && python -m pytest" in text
    assert "python -m sphinx -W --keep-going -b html docs docs/_build/html" in text


def test_changelog_names_the_version() -> None:
    # (tests/test_packaging.py checks that setup.py's version is this one)
    changelog = (DOCS / "changelog.rst").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(lucia_wsgi.__version__)}\b", changelog, re.M)


def code_blocks(page: Path, language: str) -> list[str]:
    text = page.read_text(encoding="utf-8")
    blocks = re.findall(rf"^\.\. code-block:: {language}\n\n((?:   .*\n|\n)+)", text, re.M)
    return [textwrap.dedent(block) for block in blocks]


def test_serve_commands_name_example_callables() -> None:
    commands = [line for page in pages() for block in code_blocks(page, "console") for line in block.splitlines()
                if re.match(r"\$ (waitress-serve --call|uvicorn --factory) ", line)]
    assert len(commands) == 5
    for command in commands:
        module, function = command.split()[-1].split(":")
        assert callable(getattr(importlib.import_module(module), function)), command


def test_client_snippet_imports_what_client_js_exports() -> None:
    snippet = (EXAMPLES / "client.html").read_text(encoding="utf-8")
    (names,) = re.findall(r'import \{ ([^}]*) \} from "/api/auth/client.js"', snippet)
    module = (ROOT / "lucia_wsgi" / "static" / "client.js").read_text(encoding="utf-8")
    exported = set(re.findall(r"^export (?:async )?(?:function|class) (\w+)", module, re.M))
    assert {name.strip() for name in names.split(",")} <= exported


def test_cli_page_session(tmp_path: Path) -> None:
    """Each ``$ lucia-wsgi ...`` line of docs/cli.rst, run; the lines after it are its output."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    blocks = code_blocks(DOCS / "cli.rst", "console")
    assert len(blocks) == 2
    ran = 0
    for block in blocks:
        for command, expected in re.findall(r"^\$ (.*)\n((?:[^$\n].*\n)*)", block, re.M):
            shell = command.replace("lucia-wsgi", f"{sys.executable} -m lucia_wsgi")
            result = subprocess.run(shell, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                                    timeout=60, check=False)
            ids = re.compile(r"^[a-z0-9]{15}$", re.M)  # a new user's id differs from the page's
            assert ids.sub("<id>", result.stdout + result.stderr) == ids.sub("<id>", expected), command
            ran += 1
    assert ran == 4


# -- the API reference -------------------------------------------------------------

#: Modules whose names are the API; each has a page section (docs/api/*.rst).
PUBLIC = [
    "lucia_wsgi", "lucia_wsgi.adapters", "lucia_wsgi.adapters.base", "lucia_wsgi.adapters.memory",
    "lucia_wsgi.adapters.sqlite", "lucia_wsgi.adapters.postgres", "lucia_wsgi.adapters.postgres_async",
    "lucia_wsgi.adapters.redis", "lucia_wsgi.adapters.redis_async", "lucia_wsgi.asgi", "lucia_wsgi.wsgi",
    "lucia_wsgi.flask", "lucia_wsgi.django", "lucia_wsgi.fastapi", "lucia_wsgi.login", "lucia_wsgi.mail",
    "lucia_wsgi.onetime", "lucia_wsgi.throttle", "lucia_wsgi.errors", "lucia_wsgi.cookies",
    "lucia_wsgi.session", "lucia_wsgi.csrf", "lucia_wsgi.headers", "lucia_wsgi.forwarded",
    "lucia_wsgi.passwords", "lucia_wsgi.config", "lucia_wsgi.cli", "lucia_wsgi.urls", "lucia_wsgi.testing",
]
#: Modules behind those, documented on docs/api/internals.rst (not a stable API).
INTERNAL = [
    "lucia_wsgi.auth", "lucia_wsgi.auth_state", "lucia_wsgi.flow", "lucia_wsgi.session_api",
    "lucia_wsgi.user_api", "lucia_wsgi.request", "lucia_wsgi.routes", "lucia_wsgi.django.middleware",
    "lucia_wsgi.django.decorators", "lucia_wsgi.django.signin", "lucia_wsgi.django.views",
    "lucia_wsgi.django.urls", "lucia_wsgi.adapters.sqlite_accounts", "lucia_wsgi.adapters.sqlite_threads",
    "lucia_wsgi.adapters.postgres_sql", "lucia_wsgi.adapters.postgres_accounts",
    "lucia_wsgi.adapters.redis_store", "lucia_wsgi.adapters.redis_accounts",
]


def package_modules() -> list[str]:
    found = ["lucia_wsgi"] + [info.name for info in pkgutil.walk_packages(lucia_wsgi.__path__, "lucia_wsgi.")]
    return [name for name in found if not name.endswith("__main__")]


def test_every_module_is_public_or_internal() -> None:
    assert sorted(package_modules()) == sorted(PUBLIC + INTERNAL)


def api_directives() -> list[tuple[str, str, list[str]]]:
    """``(directive, argument, option lines)`` of every autodoc/py directive in docs/api."""
    found = []
    for page in sorted((DOCS / "api").glob("*.rst")):
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"^([ \t]*)\.\. (auto\w+|py:\w+):: (\S+)\n((?:\1   :.*\n)*)", text, re.M):
            found.append((match[2], match[3], match[4].split("\n")))
    return found


def documented_objects() -> tuple[set[str], list[object]]:
    """The full names documented, and the objects they name (for names re-exported elsewhere)."""
    names: set[str] = set()
    module = ""
    for directive, argument, options in api_directives():
        if directive in ("automodule", "py:module"):
            module = argument
            if directive == "automodule" and any(line.strip() == ":members:" for line in options):
                excluded = {name.strip() for line in options if line.strip().startswith(":exclude-members:")
                            for name in line.split(":", 2)[2].split(",")}
                names |= {f"{argument}.{name}" for name in importlib.import_module(argument).__all__
                          if name not in excluded}
        else:
            names.add(argument if argument.startswith("lucia_wsgi") else f"{module}.{argument}")
    objects = []
    for name in names:
        owner, _, attribute = name.rpartition(".")
        objects.append(getattr(importlib.import_module(owner), attribute))
    return names, objects


@pytest.mark.parametrize("module_name", PUBLIC + INTERNAL)
def test_every_name_in_all_is_in_the_api_reference(module_name: str) -> None:
    module = importlib.import_module(module_name)
    modules = {argument for directive, argument, _ in api_directives() if directive == "automodule"}
    assert module_name in modules, f"no automodule for {module_name} in docs/api"
    names, objects = documented_objects()
    missing = [name for name in getattr(module, "__all__", ())
               if f"{module_name}.{name}" not in names
               and not any(getattr(module, name) is obj for obj in objects)]
    assert not missing, f"{module_name}.__all__ names missing from docs/api: {missing}"


def docstring_snippets() -> Iterator[tuple[str, str]]:
    for name in PUBLIC + INTERNAL:
        module = importlib.import_module(name)
        owners = [module, *(getattr(module, attr) for attr in getattr(module, "__all__", ()))]
        for owner in owners:
            doc = inspect.getdoc(owner) if inspect.ismodule(owner) or inspect.isclass(owner) else None
            for block in re.findall(r"::\n\n((?:    .*\n|\n)+)", (doc or "") + "\n"):
                yield name, textwrap.dedent(block)
            for block in re.findall(r"((?:^>>> .*\n)+)", (doc or "") + "\n", re.M):
                yield name, "\n".join(line[4:] for line in block.splitlines())


def test_docstring_snippets_compile() -> None:
    snippets = list(docstring_snippets())
    assert len(snippets) >= 5
    for name, code in snippets:
        if not re.search(r"^\s*(from|import|async|def|@|\w+ *=|\w+\()", code, re.M):
            continue  # not Python (an SQL statement, a table)
        compile(code, f"<docstring of {name}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


# -- running the examples ------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_quickstart_runs_twice(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):  # the second run meets alice from the first
        namespace = runpy.run_path(str(EXAMPLES / "quickstart.py"))
        assert namespace["session"].user_id == namespace["user"]["user_id"]
        assert namespace["headers"][0][1].startswith("auth_session=")
        namespace["adapter"].close()
    assert capsys.readouterr().out == ""  # the session validated both times
    assert (in_tmp / "app.db").exists()


def fresh(module: str) -> Any:
    """Import an example anew (a tutorial's ``main()`` opens app.db in the current directory)."""
    sys.modules.pop(module, None)
    return importlib.import_module(module)


@pytest.mark.parametrize("module", ["wsgi_recipe", "flask_recipe", "pyramid_recipe"])
def test_tutorial_mains_serve_a_user(in_tmp: Path, module: str) -> None:
    app = webtest.TestApp(fresh(module).main())
    auth = fresh("app_auth").make_auth("app.db")
    auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    app.get("/me", status=401)
    app.post("/login", {"username": "alice", "password": "correct horse"})
    assert app.get("/me").text == "hello alice"
    if module != "pyramid_recipe":  # the Pyramid tutorial has no log-out view
        app.post("/logout", headers={"Origin": "http://localhost"})
        app.get("/me", status=401)


def test_django_tutorial(in_tmp: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "recipes"))
    try:
        from django_setup import configure_django
    finally:
        sys.path.remove(str(ROOT / "tests" / "recipes"))
    configure_django()
    from django.test.utils import override_settings

    settings = fresh("django_settings")
    middleware = [name for name in settings.MIDDLEWARE if name is not ...]
    auth = fresh("django_auth").auth  # opens app.db here
    auth.create_user("username", "alice", password="correct horse", attributes={"username": "alice"})
    with override_settings(ROOT_URLCONF=settings.ROOT_URLCONF, MIDDLEWARE=middleware,
                           LUCIA_AUTH=settings.LUCIA_AUTH, ALLOWED_HOSTS=["localhost"]):
        from django.core.handlers.wsgi import WSGIHandler

        app = webtest.TestApp(WSGIHandler())
        app.get("/me", status=401)
        app.post("/login", {"username": "alice", "password": "correct horse"})
        assert app.get("/me").text == "hello alice"
        assert app.get("/api/auth/user").json["user"]["username"] == "alice"
        app.post("/logout", headers={"Origin": "http://localhost"})
        app.get("/me", status=401)


def memory_auth(**options: Any) -> Any:
    return lucia(adapter=MemoryAdapter(), env="DEV", hash=CHEAP_HASH,
                 transform_user_data=lambda row: {"user_id": row["id"], "username": row["username"]}, **options)


def test_standalone_request() -> None:
    auth = memory_auth()
    user = auth.create_user("username", "alice", attributes={"username": "alice"})
    session = auth.create_session(user["user_id"])
    app = webtest.TestApp(fresh("standalone_request").make_app(auth))
    anonymous = app.get("/", status=401)
    assert "Set-Cookie" not in anonymous.headers and anonymous.headers["Vary"] == "Cookie"
    assert app.get("/", headers={"Cookie": f"auth_session={session.session_id}"}).text == "hello alice"
    blanked = app.get("/", headers={"Cookie": "auth_session=" + "D" * 40}, status=401)
    assert blanked.headers["Set-Cookie"].startswith("auth_session=;")
    assert blanked.headers["Cache-Control"] == "private"


def websocket(app: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    """One WebSocket handshake through ``app``, as a server would drive it: the messages the app sent."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": "/feed", "raw_path": b"/feed",
             "query_string": b"", "root_path": "", "server": ("testserver", 80), "client": ("192.0.2.1", 5000),
             "headers": [(name.encode(), value.encode()) for name, value in {"host": "testserver", **headers}.items()],
             "subprotocols": []}
    asyncio.run(app(scope, receive, send))
    return sent


def test_websocket_recipe() -> None:
    auth = memory_auth()
    user = auth.create_user("username", "alice", attributes={"username": "alice"})
    session_id = auth.create_session(user["user_id"]).session_id
    app = fresh("websocket_recipe").make_app(auth)
    cookie = {"cookie": f"auth_session={session_id}"}
    same_site = websocket(app, {**cookie, "origin": "http://testserver"})
    assert [message["type"] for message in same_site] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert same_site[1]["text"] == "hello alice"
    cross_site = websocket(app, {**cookie, "origin": "https://evil.example"})
    assert [(message["type"], message.get("code")) for message in cross_site] == [("websocket.close", 4401)]


def test_configuration_example(in_tmp: Path) -> None:
    auth = fresh("configuration").make_auth("app.db")
    config = auth.config
    assert (config.env, config.active_period, config.idle_period) == ("PROD", 86_400_000, 14 * 86_400_000)
    assert (config.renewal, config.renewal_grace, config.max_concurrent_hashes) == ("rotate", 5_000, 4)
    defaults = lucia(adapter=MemoryAdapter(), env="PROD").config
    for option in ("csrf_protection", "auto_database_cleanup", "hash_session_ids", "bcrypt_migration",
                   "device_details", "login_throttle", "cookie_options"):
        attribute = "csrf" if option == "csrf_protection" else option
        if attribute == "csrf":
            assert config.csrf.enabled == defaults.csrf.enabled
        else:
            assert getattr(config, attribute) == getattr(defaults, attribute), option


def test_production_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    from services import postgres_schema, redis_prefix

    stores = fresh("production_stores")
    with postgres_schema() as (dsn, schema), redis_prefix() as (url, prefix):
        monkeypatch.setenv("DATABASE_URL", dsn)
        for redis_url in (None, url):
            if redis_url is None:
                monkeypatch.delenv("REDIS_URL", raising=False)
            else:
                monkeypatch.setenv("REDIS_URL", redis_url)
            auth = stores.make_auth(schema=schema, prefix=prefix)
            try:
                try:
                    user = auth.create_user("username", "alice", password="pw", attributes={"username": "alice"})
                except LuciaError:
                    user = auth.get_user_by_provider_id("username", "alice")
                session = auth.create_session(user["user_id"])
                assert auth.validate_session_user(session.session_id).user["username"] == "alice"
                assert auth.config.hash_session_ids
            finally:
                auth.config.user_adapter.close()
                if auth.config.session_adapter is not auth.config.user_adapter:
                    auth.config.session_adapter.close()


def test_lucia_js_database(tmp_path: Path) -> None:
    path = tmp_path / "lucia.sqlite"
    shutil.copyfile(ROOT / "tests" / "fixtures" / "lucia-0.3.3.sqlite", path)
    auth = fresh("lucia_js").make_auth(str(path))
    auth = lucia(**{**vars_of(auth.config), "clock": lambda: T0})
    assert auth.validate_session("PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW").user_id == "user-alice"
    renewed = auth.validate_session("m4d3hs7fgoHr5RF7cMH3n8HfYLhWwjwjOXFhJ2fU")
    assert renewed.is_fresh and renewed.user_id == "user-bob"
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session("EB0I6zkqgRL4nE3WrVR5uVxPQ1pSMp8XbJNX7jWt")
    assert auth.authenticate_user("username", "alice", "hunter2")["username"] == "Alice"
    cookie = auth.create_session_cookies(auth.get_session("PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW"))[0]
    assert cookie.serialize() == ("auth_session=PNvxH7fds2KeEgrnnX8zrtAU3vrI893uW4JipQlW; Path=/; "
                                  "Expires=Wed, 29 Nov 2023 22:13:20 GMT; HttpOnly; Secure; SameSite=Lax")


def vars_of(config: Any) -> dict[str, Any]:
    """The lucia() options that rebuild ``config`` (to inject a clock into an example's Auth)."""
    return {"adapter": config.user_adapter, "env": config.env,
            "session_timeout": {"active_period": config.active_period, "idle_period": config.idle_period},
            "transform_user_data": config.transform_user_data, "hash_session_ids": config.hash_session_ids,
            "renewal": config.renewal,
            "session_cookie": [{"same_site": option.same_site, "path": option.path}
                               for option in config.cookie_options]}


def test_flask_login_migration(tmp_path: Path) -> None:
    import flask_login
    from flask import Flask
    from werkzeug.security import generate_password_hash

    migration = fresh("migrate_flask_login")
    auth, adapter = migration.make_auth(str(tmp_path / "app.db"))
    migration.import_users(adapter, [(7, "alice", generate_password_hash("correct horse"))])

    old = Flask("old")  # the app being replaced: Flask-Login signs alice in
    old.secret_key = "k" * 32
    manager = flask_login.LoginManager(old)

    class OldUser(flask_login.UserMixin):
        id = 7

    manager.user_loader(lambda user_id: OldUser())

    @old.post("/login")
    def old_login() -> str:
        flask_login.login_user(OldUser())
        return "ok"

    old_client = old.test_client()
    old_client.post("/login")
    (old_cookie,) = [cookie for cookie in old_client._cookies.values() if cookie.key == "session"]

    app = migration.make_app(auth, adapter, secret_key="k" * 32)
    carried = app.test_client()
    carried.set_cookie("session", old_cookie.value)
    response = carried.get("/me")
    assert response.text == "hello alice"  # carried over, no log-in
    assert any(value.startswith("auth_session=") for value in response.headers.getlist("Set-Cookie"))
    assert carried.get("/me").text == "hello alice"  # now on the lucia session

    fresh_client = app.test_client()
    assert fresh_client.get("/me").status_code == 302  # login_view
    assert fresh_client.post("/login", data={"username": "alice", "password": "correct horse"}).status_code == 200
    assert adapter.get_user("7")["hashed_password"].startswith("s2:")  # re-hashed
    assert auth.authenticate_user("username", "alice", "correct horse")["user_id"] == "7"
    assert fresh_client.post("/logout", headers={"Origin": "http://localhost"}).text == "signed out"


def test_django_migration(tmp_path: Path) -> None:
    """In a process of its own: Django configured with django.contrib.auth on an in-memory database."""
    script = Path(__file__).with_name("docs_django_migration.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLES)])}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "carried over, re-hashed, signed out"


# -- the account-flow recipes ------------------------------------------------------------



@pytest.fixture
def accounts(in_tmp: Path) -> Iterator[tuple[Any, Any, MemorySender, Clock]]:
    module = fresh("accounts")
    built = module.make_auth("accounts.db")
    clock = Clock()
    config = built.config
    auth = lucia(adapter=config.user_adapter, env="DEV", device_details=True, clock=clock, hash=CHEAP_HASH,
                 transform_user_data=config.transform_user_data)
    sent = MemorySender()
    yield module.Accounts(auth, sent, "https://example.com", run_later=lambda job: job()), auth, sent, clock
    config.user_adapter.close()


def request(auth: Any, *, cookie: str = "", method: str = "POST", address: str = "192.0.2.1") -> Any:
    from lucia_wsgi import AuthRequest

    environ = {"REQUEST_METHOD": method, "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
               "HTTP_ORIGIN": "http://localhost", "REMOTE_ADDR": address, "HTTP_USER_AGENT": "Firefox",
               "HTTP_COOKIE": f"auth_session={cookie}" if cookie else ""}
    return AuthRequest(auth, environ)


def link_query(text: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    (url,) = re.findall(r"https://example\.com\S+", text)
    return dict(parse_qsl(urlsplit(url).query))


def test_account_sign_up_and_email_verification(accounts: Any) -> None:
    flows, auth, sent, _ = accounts
    user = flows.sign_up(request(auth), "alice@example.org", "correct horse")
    (mail,) = sent.messages
    assert mail.to == "alice@example.org"
    link = link_query(mail.text)
    assert flows.verify_email(link["token"], "alice@example.org")
    assert auth.get_user(user["user_id"])["email_verified"]
    assert not flows.verify_email(link["token"], "alice@example.org")  # once
    flows.send_verification(auth.get_user(user["user_id"]))
    other = link_query(sent.messages[-1].text)
    assert not flows.verify_email(other["token"], "mallory@example.org")  # bound to alice's address


def test_account_log_in_throttles(accounts: Any) -> None:
    flows, auth, _, _ = accounts
    flows.sign_up(request(auth), "alice@example.org", "correct horse")
    assert flows.log_in(request(auth), "alice@example.org", "correct horse")["email"] == "alice@example.org"
    errors = []
    for _ in range(12):
        try:
            flows.log_in(request(auth, address="198.51.100.7"), "alice@example.org", "wrong")
        except LuciaError as error:
            errors.append(sys.modules["accounts"].error_answer(error))
    assert errors[:9] == [(400, [])] * 9  # 10 per account; one was the good log-in
    assert errors[-1][0] == 429 and errors[-1][1][0][0] == "Retry-After"


def test_account_password_reset(accounts: Any) -> None:
    flows, auth, sent, _ = accounts
    user = flows.sign_up(request(auth), "alice@example.org", "correct horse")
    old_session = auth.create_session(user["user_id"])
    flows.forgot_password(request(auth), "nobody@example.org")  # no account: no mail, same answer
    flows.forgot_password(request(auth), "alice@example.org")
    assert len(sent.messages) == 2  # verification, then the reset link
    token = link_query(sent.messages[-1].text)["token"]
    with pytest.raises(LuciaError, match="AUTH_INVALID_PASSWORD"):
        flows.reset_password(request(auth), token, "x" * 5000)  # refused: the link still works
    reset = request(auth)
    session = flows.reset_password(reset, token, "new horse")
    assert reset.queued_cookies[0].value == session.session_id
    with pytest.raises(LuciaError, match="AUTH_INVALID_SESSION_ID"):
        auth.validate_session(old_session.session_id)  # ended
    assert auth.authenticate_user("email", "alice@example.org", "new horse")["user_id"] == user["user_id"]
    with pytest.raises(LuciaError, match="AUTH_INVALID_TOKEN"):
        flows.reset_password(request(auth), token, "another horse")


def test_account_sign_in_codes(accounts: Any) -> None:
    flows, auth, sent, _ = accounts
    user = flows.sign_up(request(auth), "alice@example.org", "correct horse")
    flows.request_code(request(auth), "alice@example.org")
    assert len(sent.messages) == 1  # not verified yet: no code
    flows.verify_email(link_query(sent.messages[0].text)["token"], "alice@example.org")
    flows.request_code(request(auth), "alice@example.org")
    code = re.findall(r"\d{8}", sent.messages[-1].text)[0]
    with pytest.raises(LuciaError, match="AUTH_INVALID_TOKEN"):
        flows.sign_in_with_code(request(auth), "alice@example.org", "00000000" if code != "00000000" else "1" * 8)
    assert flows.sign_in_with_code(request(auth), "alice@example.org", code).user_id == user["user_id"]
    with pytest.raises(LuciaError, match="AUTH_INVALID_TOKEN"):
        flows.sign_in_with_code(request(auth), "alice@example.org", code)  # used up


def test_devices(accounts: Any) -> None:
    flows, auth, _, clock = accounts
    flows.sign_up(request(auth), "alice@example.org", "correct horse")
    clock.now += 60_000  # the newer sign-in comes first
    phone = flows.log_in(request(auth, address="203.0.113.9"), "alice@example.org", "correct horse")
    sessions = auth.get_user_sessions(phone["user_id"])
    this, other = sessions[0], sessions[1]
    rows = flows.devices(request(auth, cookie=this.session_id, method="GET"))
    assert [row["this_device"] for row in rows] == [True, False]
    assert rows[0]["user_agent"] == "Firefox" and rows[0]["ip_address"] == "203.0.113.9"
    assert not flows.sign_out_device(request(auth, cookie=this.session_id), "0" * 20)
    assert flows.sign_out_device(request(auth, cookie=this.session_id), other.device_id)
    assert [s.device_id for s in auth.get_user_sessions(phone["user_id"])] == [this.device_id]
    third = auth.create_session(phone["user_id"])
    flows.sign_out_others(request(auth, cookie=third.session_id))
    assert [s.session_id for s in auth.get_user_sessions(phone["user_id"])] == [third.session_id]


def test_mail_senders(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    senders = fresh("mail_senders")
    monkeypatch.setenv("SMTP_PASSWORD", "secret")
    assert senders.production_sender() is not None  # built and checked; sending needs the relay
    memory = senders.test_sender()
    senders.mail_code(memory, "alice@example.org", "12345678")
    assert memory.messages[0].subject == "Your sign-in code"
    senders.mail_code(senders.development_sender(), "alice@example.org", "12345678")
    assert "12345678" in capsys.readouterr().err
