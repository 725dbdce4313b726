"""lucia_wsgi: Lucia auth 0.3's sessions and users for any WSGI application."""

from __future__ import annotations

from .auth import AsyncAuth, Auth, GeneratedSessionId, SessionUser, lucia
from .cookies import SESSION_COOKIE_NAME, Cookie
from .errors import LuciaError
from .passwords import generate_random_string
from .session import Session
from .wsgi import AuthRequest, LuciaMiddleware, handle_api_routes

__version__ = "0.1.0"

__all__ = [
    "AsyncAuth",
    "Auth",
    "AuthRequest",
    "Cookie",
    "GeneratedSessionId",
    "LuciaError",
    "LuciaMiddleware",
    "SESSION_COOKIE_NAME",
    "Session",
    "SessionUser",
    "generate_random_string",
    "handle_api_routes",
    "lucia",
    "__version__",
]
