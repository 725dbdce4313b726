"""Sphinx configuration for the lucia_wsgi documentation.

Build (from the repository root, after ``pip install -e '.[docs]'``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

``-W`` makes every warning an error and ``nitpicky`` makes every
unresolved cross-reference one, so a renamed function breaks the build.

No intersphinx: the machines this project builds on reach only package
registries, not docs.python.org or other projects' sites, so there is no
inventory to link the standard library, WebOb, Flask, Django, Starlette or
psycopg against. Their names, where autodoc meets them in signatures, are
listed in ``nitpick_ignore_regex`` below (rendered as plain text, not links);
the prose names them in double back-quotes instead of cross-referencing them.
Every name of lucia_wsgi itself resolves.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this checkout, not an installed copy

import lucia_wsgi  # noqa: E402

project = "lucia_wsgi"
author = "the lucia_wsgi authors"
copyright = "the lucia_wsgi authors"  # noqa: A001 - Sphinx's name
release = version = lucia_wsgi.__version__  # the one place it is written

extensions = ["sphinx.ext.autodoc"]

exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"lucia_wsgi {release}"

# Every reference must resolve (with -W a broken one fails the build).
nitpicky = True

_STDLIB_MODULES = "|".join([
    "typing", "typing_extensions", "collections", "abc", "types", "enum", "datetime", "concurrent",
    "asyncio", "threading", "ssl", "smtplib", "email", "sqlite3", "argparse", "io", "os", "pathlib",
    "logging", "contextlib", "dataclasses", "http",
])
_THIRD_PARTY_MODULES = "webob|flask|werkzeug|django|starlette|fastapi|psycopg|psycopg_pool|redis|pydantic|_typeshed"
_BARE_NAMES = "|".join([
    # typing and collections.abc, as annotations spell them
    "Any", "Callable", "Iterable", "Iterator", "Mapping", "MutableMapping", "Sequence", "Awaitable",
    "Coroutine", "Generator", "AsyncIterator", "Literal", "Protocol", "NamedTuple", "TypeVar", "ParamSpec",
    # other standard library classes
    "timedelta", "datetime", "EmailMessage", "SSLContext", "Executor", "ThreadPoolExecutor", "Path",
    "ArgumentParser", "Enum",
    # typeshed's WSGI names, imported only for type checkers
    "StartResponse", "WSGIApplication", "WSGIEnvironment", "OptExcInfo",
    # Flask's, Django's and Starlette's classes, imported only for type checkers in the integrations
    "Flask", "Response", "HttpRequest", "HttpResponse", "HttpResponseBase", "HTTPConnection", "Request",
    "WebSocket",
])
_BUILTINS = ("int|str|bytes|bool|float|dict|list|tuple|set|frozenset|object|None|type|Exception"
             "|ValueError|TypeError|RuntimeError|ImportError|OSError|KeyError|ConnectionError")

# Names with no inventory to link against (see the module docstring): the
# standard library, typing constructs, the third-party packages whose types
# appear in our signatures, and type variables (``F``, ``P``, ``R``: not
# objects to link to). Only these; everything else of ours resolves.
nitpick_ignore_regex = [
    (r"py:.*", rf"({_STDLIB_MODULES})\..*"),
    (r"py:.*", rf"({_THIRD_PARTY_MODULES})(\..*)?"),
    (r"py:.*", rf"({_BARE_NAMES}|{_BUILTINS})"),
    (r"py:(class|obj)", r"(lucia_wsgi\.[\w.]+\.)?[A-Z]"),
]

# Members need a docstring (or a ``#:`` comment) to show: tests/test_docs.py
# checks that every name in a public module's __all__ is documented.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# -- flows in the reference ------------------------------------------------------
# Store methods (``Auth.create_user``...) are ``lucia_wsgi.flow.flowmethod``
# descriptors around generators: called on ``auth`` they return the flow's
# result, on ``auth.aio`` a coroutine of it. autodoc sees the descriptor, which
# is not callable, and the generator's ``Flow[X]`` return annotation. For the
# reference only (this process, not the package), the descriptor is made
# callable so ``inspect.signature`` follows its ``__wrapped__`` generator, and
# the hooks below show ``X`` as the return type and say which methods are
# awaitable.

from lucia_wsgi.flow import flowmethod  # noqa: E402

flowmethod.__call__ = lambda self, *args, **kwargs: self.function(*args, **kwargs)  # type: ignore[attr-defined]

_FLOW_RETURN = re.compile(r"(?:~?lucia_wsgi\.flow\.)?Flow\[(.*)\]\Z")
_AWAITABLE_OWNERS = ("lucia_wsgi.AsyncAuth.",)


def _flow_signature(app: Any, what: str, name: str, obj: object, options: Any, signature: str | None,
                    return_annotation: str | None) -> tuple[str | None, str] | None:
    if isinstance(obj, flowmethod) and return_annotation:
        match = _FLOW_RETURN.match(return_annotation)
        if match:
            return signature, match[1]
    return None


def _flow_docstring(app: Any, what: str, name: str, obj: object, options: Any, lines: list[str]) -> None:
    if isinstance(obj, flowmethod) and name.startswith(_AWAITABLE_OWNERS):
        method = name.rpartition(".")[2]
        lines[:0] = [f"Awaitable: ``await auth.aio.{method}(...)`` gives what :meth:`lucia_wsgi.Auth.{method}` "
                     "returns (or raises).", ""]


def setup(app: Any) -> None:
    app.connect("autodoc-process-signature", _flow_signature)
    app.connect("autodoc-process-docstring", _flow_docstring)
