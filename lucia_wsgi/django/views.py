"""The ``/api/auth`` routes as Django views: the routes' own answers, carried over.

Each view runs :meth:`lucia_wsgi.routes.ApiRoutes.answer` on the request's
``AuthRequest`` and copies the status, headers and body it answers into an
``HttpResponse``; the middleware then adds the session's headers, as the
WSGI middleware does. So ``user``, ``logout`` and ``client.js`` answer as
``handle_api_routes`` does, 404s and 405s included.

``logout`` is exempt from Django's CSRF middleware: like every unsafe route
of Lucia it is guarded by Lucia's ``Origin`` check instead (403 on a
cross-site request), which needs no token in the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ..routes import ApiRoutes, RouteAnswer
from .middleware import lucia_request

if TYPE_CHECKING:
    from collections.abc import Callable

    from django.http import HttpRequest

__all__ = ["route"]


def _response(answer: RouteAnswer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status)
    if not any(header.lower() == "content-type" for header, _ in answer.headers):
        del response.headers["Content-Type"]  # Django's default; a 304 has none
    for header, value in answer.headers:  # each once: the routes repeat none (cookies come later, from the middleware)
        response.headers[header] = value
    return response


def route(name: str) -> Callable[..., HttpResponse]:
    """The Django view answering ``{prefix}/{name}`` as the WSGI routes do.

    Under a ``<path:rest>`` pattern it answers for ``rest`` instead (the
    routes' JSON 404 for anything that is not one of theirs).
    """

    @csrf_exempt
    def view(request: HttpRequest, rest: str | None = None) -> HttpResponse:
        auth_request = lucia_request(request)
        flow = ApiRoutes(auth_request.auth).answer(auth_request, "/" + (name if rest is None else rest),
                                                   request.method or "")
        return _response(auth_request.auth._run_flow(flow))

    view.__name__ = view.__qualname__ = "lucia_" + "".join(c if c.isalnum() else "_" for c in name)
    return view
