"""Check what `python -m build` made: ``python .ci/check_dist.py DIST_DIR`` (run by .ci/wheel-check).

* The wheel holds exactly the package's tracked files (modules, ``py.typed``,
  ``static/client.js``) and its metadata, with the ``lucia-wsgi`` script.
* The sdist holds every tracked file but git's own: what builds the wheel,
  and the tests, demo, benchmark, CI scripts and docs to run the suite from it.
  Nothing untracked gets in.
* Both are named for ``lucia_wsgi.__version__``.

Prints the wheel's file list; exits 1 naming every difference.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
# Tracked, but not for the sdist: git's settings.
NOT_IN_SDIST = (".gitignore", ".gitattributes")
# What setuptools writes into every sdist on its own.
SDIST_GENERATED = re.compile(r"PKG-INFO|setup\.cfg|lucia_wsgi\.egg-info/.+")
REQUIRED_IN_WHEEL = ("lucia_wsgi/py.typed", "lucia_wsgi/static/client.js")


def tracked_files() -> set[str]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return {name for name in done.stdout.decode().split("\0") if name and (ROOT / name).is_file()}


def version() -> str:
    source = (ROOT / "lucia_wsgi" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', source, re.MULTILINE)
    assert match is not None, "no __version__ in lucia_wsgi/__init__.py"
    return match.group(1)


def one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"expected one {pattern} in {dist}, found {[path.name for path in found]}")
    return found[0]


def check_wheel(path: Path, tracked: set[str], problems: list[str]) -> None:
    with zipfile.ZipFile(path) as wheel:
        names = [info.filename for info in wheel.infolist() if not info.is_dir()]
        info_dir = f"lucia_wsgi-{version()}.dist-info/"
        entry_points = wheel.read(info_dir + "entry_points.txt").decode() if info_dir + "entry_points.txt" in names \
            else ""
    print(f"{path.name}:")
    for name in names:
        print(f"    {name}")
    package = {name for name in names if not name.startswith(info_dir)}
    expected = {name for name in tracked if name.startswith("lucia_wsgi/")}
    problems += [f"wheel lacks {name}" for name in sorted(expected - package)]
    problems += [f"wheel has {name}, not a tracked file of lucia_wsgi/" for name in sorted(package - expected)]
    problems += [f"wheel lacks {name} (and git does not track it)" for name in REQUIRED_IN_WHEEL
                 if name not in package and name not in expected]
    if "lucia-wsgi = lucia_wsgi.cli:main" not in entry_points:
        problems.append(f"wheel's entry_points.txt has no lucia-wsgi script: {entry_points!r}")


def check_sdist(path: Path, tracked: set[str], problems: list[str]) -> None:
    top = PurePosixPath(f"lucia_wsgi-{version()}")
    with tarfile.open(path) as sdist:
        names = {str(PurePosixPath(member.name).relative_to(top)) for member in sdist.getmembers() if member.isfile()}
    print(f"{path.name}: {len(names)} files")
    expected = {name for name in tracked if not name.startswith(NOT_IN_SDIST)}
    problems += [f"sdist lacks {name}" for name in sorted(expected - names)]
    problems += [f"sdist has {name}, not a tracked file" for name in sorted(names - expected)
                 if not SDIST_GENERATED.fullmatch(name)]


def main(argv: list[str]) -> int:
    dist = Path(argv[1])
    tracked = tracked_files()
    problems: list[str] = []
    check_wheel(one(dist, f"lucia_wsgi-{version()}-py3-none-any.whl"), tracked, problems)
    check_sdist(one(dist, f"lucia_wsgi-{version()}.tar.gz"), tracked, problems)
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print("ok   the wheel and the sdist hold what they should")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
