"""The ASGI plumbing of ``demo_app.py --asgi``: the request body, the response, lifespan, uvicorn.

``demo_app.AsgiDemo`` serves the demo's pages (the same ones as the WSGI
shell, see ``demo_visit.py``) under ``LuciaASGIMiddleware`` with these;
nothing here knows a page.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from webob import Response

__all__ = ["lifespan", "listening_socket", "read_body", "send_response", "uvicorn_server"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def read_body(receive: Receive, length: int | None) -> bytes | None:
    """The first ``length`` bytes of the request body, as ``wsgi.input.read(length)`` gives them
    (fewer if the client sent fewer, or left); ``None`` for ``None``, without reading."""
    if length is None:
        return None
    body = bytearray()
    while len(body) < length:
        message = await receive()
        if message.get("type") != "http.request":  # http.disconnect: nobody to answer
            break
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return bytes(body[:length])


async def send_response(send: Send, response: Response, environ: Mapping[str, Any]) -> None:
    """Send a WebOb ``response`` (the demo's pages build them) as WebOb hands it to a WSGI
    server for ``environ``: ``Location`` made absolute, no body for ``HEAD``. So both shells
    answer alike, byte for byte."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started[:] = [int(status.split(" ", 1)[0]), headers]

    body = b"".join(response(dict(environ), start_response))
    status, headers = started
    await send({"type": "http.response.start", "status": status,
                "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]})
    await send({"type": "http.response.body", "body": body})


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer a server's lifespan messages: nothing to start, and :func:`serve`'s caller closes the demo."""
    while True:
        message = await receive()
        if message.get("type") == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message.get("type") == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: a free port) and listening, as waitress's
    ``create_server`` makes one: the port is known, and taken, before the server runs."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def uvicorn_server(app: Any) -> Any:
    """A uvicorn ``Server`` for ``app``; ``.run(sockets=[sock])`` serves until told to stop
    (Ctrl-C: ``KeyboardInterrupt`` once it has shut down)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        access_log=False,  # as waitress: no line per request
        # The socket's peer is the client, as under waitress: X-Forwarded-For
        # counts only with lucia's own trust_proxy rules, never uvicorn's.
        proxy_headers=False,
    )
    return uvicorn.Server(config)
