"""The ``/api/auth`` routes as Django views: the WSGI routes' own answers, carried over.

Each view hands the request's ``AuthRequest`` and ``request.META`` to
:meth:`lucia_wsgi.routes.ApiRoutes.respond` and copies the status, headers
and body it answers into an ``HttpResponse``; the middleware then adds the
cookies and ``Vary``, as the WSGI middleware does. So ``user``, ``logout`` and
``client.js`` answer as ``handle_api_routes`` does, 404s and 405s included.

``logout`` is exempt from Django's CSRF middleware: like every unsafe route
of Lucia it is guarded by Lucia's ``Origin`` check instead (403 on a
cross-site request), which needs no token in the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..routes import ApiRoutes
from .middleware import lucia_request

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest

__all__ = ["route"]


def _no_write(data: bytes) -> None:
    raise RuntimeError("the auth routes do not use write()")


def _answer(request: HttpRequest, name: str) -> HttpResponse:
    auth_request = lucia_request(request)
    routes = ApiRoutes(auth_request.auth)
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return _no_write

    body = routes.respond(auth_request, request.META, start_response, path=f"{routes.prefix}/{name}")
    try:
        content = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    status, headers = started
    code, _, reason = status.partition(" ")
    response = HttpResponse(content, status=int(code), reason=reason or None)
    if not any(header.lower() == "content-type" for header, _ in headers):
        del response.headers["Content-Type"]  # Django's default; a 304 has none
    for header, value in headers:  # each once: the routes repeat none (cookies come later, from the middleware)
        response.headers[header] = value
    return response


def route(name: str) -> Callable[..., HttpResponse]:
    """The Django view answering ``{prefix}/{name}`` as the WSGI routes do.

    Under a ``<path:rest>`` pattern it answers for ``rest`` instead (the
    routes' JSON 404 for anything that is not one of theirs).
    """

    @csrf_exempt
    def view(request: HttpRequest, rest: str | None = None) -> HttpResponse:
        return _answer(request, name if rest is None else rest)

    view.__name__ = view.__qualname__ = "lucia_" + "".join(c if c.isalnum() else "_" for c in name)
    return view
