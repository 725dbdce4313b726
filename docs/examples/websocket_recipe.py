"""A Starlette WebSocket endpoint: the handshake is checked like a POST, cookies go out on accept."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from lucia_wsgi import Auth
from lucia_wsgi.asgi import LuciaASGIMiddleware


async def feed(websocket: WebSocket) -> None:
    session, user = await websocket.scope["lucia.auth"].validate_user()
    if session is None:  # no session, or a cross-site handshake (another site's page)
        await websocket.close(code=4401)
        return
    await websocket.accept()  # a renewed session's cookie goes out here
    await websocket.send_text(f"hello {user['username']}")
    await websocket.close()


def make_app(auth: Auth) -> Starlette:
    return Starlette(routes=[WebSocketRoute("/feed", feed)], middleware=[Middleware(LuciaASGIMiddleware, auth=auth)])
