"""CSRF protection (double-submit cookie) and security headers.

Browsers get a ``minqing_csrf`` cookie; every unsafe request authenticated by cookie (or anonymous,
such as the login form) must send the same value as the ``_csrf`` form field or ``X-CSRF-Token``
header. Bearer-token requests are exempt.
"""

from __future__ import annotations

import hmac
import secrets

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import AppError

CSRF_COOKIE = "minqing_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_EXEMPT_PATHS = {"/api/v1/auth/token"}


def csrf_token(request: Request) -> str:
    """The CSRF token for forms on this page (a new one is set as a cookie when missing)."""
    token = request.cookies.get(CSRF_COOKIE) or request.scope.get("new_csrf")  # type: ignore[call-overload]
    if not token:
        token = secrets.token_urlsafe(32)
        request.scope["new_csrf"] = token  # type: ignore[typeddict-unknown-key]
    return token


async def check_csrf(request: Request) -> None:
    """before_request hook: refuse unsafe cookie-authenticated requests without the right token."""
    if request.method in SAFE_METHODS or request.scope.get("auth") == "bearer":
        return
    if request.url.path in CSRF_EXEMPT_PATHS:
        return
    expected = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if not sent and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        sent = form.get(CSRF_FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise AppError("页面已过期或来源不明（CSRF 校验失败），请刷新页面后重新提交。", 403)


MAX_ID = 2**31 - 1  # integer primary keys are 32-bit on PostgreSQL; SQLite overflows at 2**63


async def check_path_ids(request: Request) -> None:
    """before_request hook: an integer path parameter no row can have is a 404, not a driver overflow (500)."""
    for value in request.path_params.values():
        if isinstance(value, int) and not 0 <= value <= MAX_ID:
            raise AppError("找不到该页面或记录，它可能已被删除或不在您的管辖范围内。", 404)


class SecurityHeadersMiddleware(ASGIMiddleware):
    """Adds security headers and sets the CSRF cookie when a page created a new token."""

    def __init__(self, secure_cookies: bool = False) -> None:
        self.secure_cookies = secure_cookies

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                if token := scope.get("new_csrf"):
                    secure = "; Secure" if self.secure_cookies else ""
                    headers.add(
                        "Set-Cookie",
                        f"{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}",
                    )
            await send(message)

        await next_app(scope, receive, send_wrapper)
