"""setup.py agrees with the package, the changelog, CI and the code's install hints.

setup.py is run with a stand-in ``setuptools`` that records the arguments of
``setup()``, so these checks see exactly what a build would, without building
(``.ci/wheel-check`` builds, installs and smoke-tests the wheel).
"""

from __future__ import annotations

import ast
import functools
import itertools
import re
import runpy
import sys
import types
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import lucia_wsgi

ROOT = Path(__file__).resolve().parents[1]

# What users install, by name (README and the code's ImportError hints say these).
EXTRAS = {"postgres", "redis", "bcrypt", "asgi", "flask", "django", "demo", "docs", "test", "bench"}

# Imported by a file under tests/ but on purpose in no extra.
NOT_IN_ANY_EXTRA = {
    "atheris": "tests/security/fuzz_cookies_atheris.py is run by hand, after pip install atheris; pytest imports "
               "only its check()",
}


@pytest.fixture(scope="module")
def setup_args() -> dict[str, Any]:
    captured: dict[str, Any] = {}
    stand_in = types.ModuleType("setuptools")
    stand_in.setup = lambda **kwargs: captured.update(kwargs)  # type: ignore[attr-defined]
    stand_in.find_packages = lambda **kwargs: list(kwargs.get("include", ()))  # type: ignore[attr-defined]
    with mock.patch.dict(sys.modules, {"setuptools": stand_in}):
        runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    assert captured, "setup.py did not call setup()"
    return captured


def changelog_version(text: str) -> str:
    """The version of the first section heading (``0.2.0 (2025-01-31)``, ``v0.2.0``, ``Version 0.2.0``)."""
    lines = text.splitlines()
    for title, underline in itertools.pairwise(lines):
        match = re.match(r"(?:v|version\s+)?(\d+(?:\.\d+)+(?:(?:a|b|rc|\.post|\.dev)\d+)?)\b", title.strip(), re.I)
        if match and re.fullmatch(r"([=\-~^\"'`#*+])\1+", underline.strip()):
            return match.group(1)
    raise AssertionError("no version heading in the changelog")


@pytest.mark.parametrize(("text", "version"), [
    pytest.param("Changelog\n=========\n\n0.2.0 (unreleased)\n------------------\n\n0.1.0\n-----\n", "0.2.0",
                 id="first-of-two"),
    pytest.param("Changes\n=======\n\nVersion 1.0rc1\n~~~~~~~~~~~~~~\n", "1.0rc1", id="version-prefix"),
    pytest.param("v0.3.1 - 2025-02-01\n===================\n", "0.3.1", id="v-prefix"),
])
def test_changelog_version_reads_the_first_version_heading(text: str, version: str) -> None:
    assert changelog_version(text) == version


def test_changelog_version_needs_a_heading() -> None:
    with pytest.raises(AssertionError):
        changelog_version("Changelog\n=========\n\n0.1.0 is mentioned here, not a heading.\n")


def test_version_agrees_between_setup_the_package_and_the_changelog(setup_args: dict[str, Any]) -> None:
    top = changelog_version((ROOT / "docs" / "changelog.rst").read_text(encoding="utf-8"))
    assert (setup_args["version"], lucia_wsgi.__version__) == (top, top)


def supported_pythons() -> list[str]:
    """The versions .ci/other-pythons runs the suite under (it skips .ci/run's own, which ran already)."""
    match = re.search(r'^SUPPORTED="([^"]+)"$', (ROOT / ".ci" / "other-pythons").read_text(), re.MULTILINE)
    assert match is not None, ".ci/other-pythons has no SUPPORTED= line"
    return sorted(match.group(1).split(), key=lambda version: tuple(map(int, version.split("."))))


def test_claimed_pythons_are_the_ones_ci_runs(setup_args: dict[str, Any]) -> None:
    prefix = "Programming Language :: Python :: 3."
    claimed = {c.removeprefix("Programming Language :: Python :: ") for c in setup_args["classifiers"]
               if c.startswith(prefix)}
    supported = supported_pythons()
    assert claimed == set(supported)
    assert setup_args["python_requires"] == f">={supported[0]}"


def test_lint_and_type_check_target_the_oldest_python() -> None:
    oldest = supported_pythons()[0]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'target-version = "py{oldest.replace(".", "")}"' in pyproject
    assert f'python_version = "{oldest}"' in pyproject


def test_extras_are_named_for_what_users_install(setup_args: dict[str, Any]) -> None:
    assert set(setup_args["extras_require"]) == EXTRAS


def install_hints() -> Iterator[tuple[str, str]]:
    """(file, extra) for each ``lucia_wsgi[extra]`` in the package, the demo, README and docs."""
    files = [*ROOT.glob("lucia_wsgi/**/*.py"), *ROOT.glob("demo_*.py"), ROOT / "README.rst",
             *ROOT.glob("docs/**/*.rst")]
    for path in files:
        for group in re.findall(r"lucia_wsgi\[([\w,-]+)\]", path.read_text(encoding="utf-8")):
            for extra in group.split(","):
                yield str(path.relative_to(ROOT)), extra.strip()


def test_every_install_hint_names_an_extra(setup_args: dict[str, Any]) -> None:
    hints = list(install_hints())
    assert {extra for _, extra in hints} >= {"postgres", "redis", "flask", "django", "asgi"}, hints
    unknown = [(path, extra) for path, extra in hints if extra not in setup_args["extras_require"]]
    assert unknown == []


def test_console_script_is_the_cli(setup_args: dict[str, Any]) -> None:
    from lucia_wsgi import cli

    assert setup_args["entry_points"]["console_scripts"] == [f"{cli.PROG} = lucia_wsgi.cli:main"]
    assert callable(cli.main)


def test_package_data_ships_every_file_that_is_not_a_module(setup_args: dict[str, Any]) -> None:
    package = ROOT / "lucia_wsgi"
    patterns = setup_args["package_data"]["lucia_wsgi"]
    shipped = {path for pattern in patterns for path in package.glob(pattern)}
    data = {path for path in package.rglob("*")
            if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts}
    assert {str(path.relative_to(package)) for path in data - shipped} == set()
    assert [pattern for pattern in patterns if not any(package.glob(pattern))] == [], "a pattern matching nothing"
    assert {"py.typed", "static/client.js"} <= {str(path.relative_to(package)) for path in shipped}


# The extras pull what their users import.


def local_modules() -> set[str]:
    """Top-level names the repository itself provides (tests/ puts its own modules on sys.path)."""
    paths = [*ROOT.glob("*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/*.py"),
             *ROOT.glob("docs/examples/*.py")]  # tests/conftest.py puts docs/examples on sys.path
    dirs = [path for path in [ROOT / "lucia_wsgi", ROOT / "bench", *ROOT.glob("tests/**/")] if path.is_dir()]
    return {path.stem for path in paths} | {path.name for path in dirs}


def third_party_imports(files: Iterable[Path]) -> dict[str, str]:
    """Top-level third-party module -> the first file importing it (``pytest.importorskip`` counts)."""
    skip = set(sys.stdlib_module_names) | local_modules()
    found: dict[str, str] = {}
    for path in sorted(files):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "importorskip" and node.args and isinstance(node.args[0], ast.Constant)):
                names = [str(node.args[0].value)]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in skip and not top.startswith("_"):  # _typeshed: typing-only
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def installed_closure(requirements: Iterable[str]) -> set[str]:
    """Canonical names of ``requirements`` and, through installed metadata, everything they pull in."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dependencies = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed: its own dependencies are unknown here, the name itself still counts
        for text in dependencies:
            dependency = Requirement(text)
            extras = requirement.extras | {""}
            if dependency.marker is None or any(dependency.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(dependency)
    return {name for name, _ in seen}


@functools.cache
def module_distributions() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def distribution_of(module: str) -> str:
    """The distribution an installed module comes from; an uninstalled one by its own name (``flask_login``)."""
    names = module_distributions().get(module)
    return canonicalize_name(names[0]) if names else canonicalize_name(module)


@pytest.mark.parametrize(("extra", "globs"), [
    pytest.param("test", ["tests/**/*.py", "bench/*.py", "demo_*.py"], id="test-covers-tests-bench-demo"),
    pytest.param("bench", ["bench/*.py"], id="bench-covers-bench"),
    pytest.param("demo", ["demo_*.py"], id="demo-covers-demo"),
])
def test_extra_pulls_every_third_party_import(setup_args: dict[str, Any], extra: str, globs: list[str]) -> None:
    files = {path for pattern in globs for path in ROOT.glob(pattern)}
    imports = third_party_imports(files)
    pulled = installed_closure([*setup_args["install_requires"], *setup_args["extras_require"][extra]])
    missing = {module: path for module, path in imports.items()
               if module not in NOT_IN_ANY_EXTRA and distribution_of(module) not in pulled}
    assert missing == {}, f"imported, but the {extra!r} extra does not pull it in"
    assert imports, "found no imports at all"


def test_readme_renders_for_pypi(setup_args: dict[str, Any]) -> None:
    from readme_renderer.rst import render

    assert setup_args["long_description_content_type"] == "text/x-rst"
    warnings: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            warnings.append(text)

    assert render(setup_args["long_description"], stream=Stream()) is not None, "".join(warnings)
