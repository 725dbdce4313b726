"""``import lucia_wsgi`` needs neither Flask nor Django; the integrations say what to install."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in ("flask", "django", "werkzeug", "asgiref"):
                raise ImportError(f"No module named {name!r} (blocked)")

    sys.meta_path.insert(0, Block())
    import lucia_wsgi, lucia_wsgi.login, lucia_wsgi.routes, lucia_wsgi.wsgi, lucia_wsgi.cli, lucia_wsgi.adapters
    for integration, extra in (("lucia_wsgi.flask", "flask"), ("lucia_wsgi.django", "django")):
        try:
            __import__(integration)
        except ImportError as error:
            print(integration, "->", error)
            assert f"lucia_wsgi[{extra}]" in str(error), error
        else:
            raise AssertionError(integration + " imported without its framework")
    print("ok", sorted(m for m in sys.modules if m.partition(".")[0] in ("flask", "django")))
    """
)


def test_base_package_imports_without_flask_or_django() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "ok []"
