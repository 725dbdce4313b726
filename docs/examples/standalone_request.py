"""``AuthRequest`` without the middleware: build it from the environ, send its headers yourself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lucia_wsgi import Auth, AuthRequest


def make_app(auth: Auth) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        lucia_request = AuthRequest(auth, environ)
        session, user = lucia_request.validate_user()
        body = b"sign in first" if session is None else f"hello {user['username']}".encode()
        status = "401 Unauthorized" if session is None else "200 OK"
        # Set-Cookie (a renewal, or a blank cookie for a bad one), Cache-Control: private with
        # it, and Vary: Cookie, since the answer depends on the session.
        start_response(status, [("Content-Type", "text/plain"), *lucia_request.response_headers()])
        return [body]

    return app
