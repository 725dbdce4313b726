"""FastAPI dependencies: the signed-in user of a request under :class:`~lucia_wsgi.asgi.LuciaASGIMiddleware`.

::

    from fastapi import Depends, FastAPI
    from lucia_wsgi.asgi import LuciaASGIMiddleware
    from lucia_wsgi.fastapi import current_user, require_user

    api = FastAPI()

    @api.get("/me")
    async def me(user=Depends(require_user)):
        return user

    app = LuciaASGIMiddleware(api, auth)

``current_user`` gives the user or ``None``; ``require_user`` answers 401
(``{"detail": "unauthorized"}``, with ``WWW-Authenticate: Cookie``) without
one. Both read the session once per request (the request object caches it),
renewing it as ``validate_user()`` does.
"""

from __future__ import annotations

from typing import Any

from .asgi import AsyncAuthRequest
from .request import ENVIRON_KEY

try:
    from fastapi import Depends, HTTPException
    from starlette.requests import HTTPConnection
except ModuleNotFoundError as error:  # pragma: no cover - the message says what to install
    if (error.name or "").split(".")[0] in ("fastapi", "starlette"):
        raise ModuleNotFoundError("lucia_wsgi.fastapi needs FastAPI: pip install 'lucia_wsgi[asgi]' fastapi",
                                  name=error.name) from error
    raise

__all__ = ["auth_request", "current_user", "require_user"]


def auth_request(connection: HTTPConnection) -> AsyncAuthRequest:
    """The request's :class:`~lucia_wsgi.asgi.AsyncAuthRequest` (the middleware must wrap the app)."""
    request = connection.scope.get(ENVIRON_KEY)
    if not isinstance(request, AsyncAuthRequest):
        raise RuntimeError("no lucia request in the scope: wrap the application in LuciaASGIMiddleware")
    return request


async def current_user(connection: HTTPConnection) -> Any:
    """The signed-in user, or ``None``."""
    return (await auth_request(connection).validate_user()).user


async def require_user(user: Any = Depends(current_user)) -> Any:  # noqa: B008 - FastAPI's idiom
    """The signed-in user; a 401 without one."""
    if user is None:
        raise HTTPException(status_code=401, detail="unauthorized", headers={"WWW-Authenticate": "Cookie"})
    return user
