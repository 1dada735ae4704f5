"""Puts the logged-in ``Viewer`` (or ``None``) into every request's scope.

A request is authenticated by ``Authorization: Bearer <token>`` (API clients; exempt from CSRF) or
by the ``minqing_session`` cookie (browsers; unsafe methods need the CSRF token).
"""

from __future__ import annotations

from litestar.datastructures import Cookie
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from server.accounts.service import viewer_for_token

SESSION_COOKIE = "minqing_session"
_SKIP_PREFIXES = ("/static/", "/healthz", "/sw.js", "/manifest.webmanifest")


def _cookie_value(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
    return None


def _bearer(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class AuthMiddleware(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope["user"] = None
        scope["auth"] = None
        path = scope.get("path", "")
        if not path.startswith(_SKIP_PREFIXES):
            token, kind = _bearer(scope), "bearer"
            if token is None:
                token, kind = _cookie_value(scope, SESSION_COOKIE), "cookie"
            if token:
                maker = scope["litestar_app"].state.db_read_maker  # a read transaction: no write lock
                async with maker() as db:
                    viewer = await viewer_for_token(db, token, kind)
                if viewer is not None:
                    scope["user"] = viewer
                    scope["auth"] = kind
        await next_app(scope, receive, send)


def session_cookie(token: str, days: int, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=days * 86400,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
