"""Login / logout pages and the token API. Thin: the work is in ``service``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from msgspec import Struct
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts import service
from server.accounts.guards import requires_login
from server.accounts.middleware import SESSION_COOKIE, session_cookie
from server.config import Settings
from server.web import render


class LoginForm(Struct):
    username: str = ""
    password: str = ""
    next: str = "/"


class TokenRequest(Struct):
    username: str
    password: str


class TokenResponse(Struct):
    token: str
    token_type: str = "bearer"


class MeResponse(Struct):
    id: int
    username: str
    display_name: str
    role: str
    role_label: str
    unit_id: int
    unit_name: str


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


class AuthController(Controller):
    tags = ["accounts"]

    @get("/login", include_in_schema=False)
    async def login_page(self, request: Request, next: str = "/") -> Template:
        return render(request, "accounts/login.html", {"next": _safe_next(next), "error": None})

    @post("/login", include_in_schema=False, status_code=303)
    async def login(
        self,
        request: Request,
        db: AsyncSession,
        settings: Settings,
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Any:
        try:
            user = await service.authenticate(
                db, data.username, data.password, _client_ip(request), settings.login_failures_per_minute
            )
        except service.AppError as exc:
            context = {"next": _safe_next(data.next), "error": exc.message, "username": data.username}
            return render(request, "accounts/login.html", context, status_code=exc.status_code)
        token = await service.start_session(db, user, "cookie", settings.session_days)
        response = Redirect(path=_safe_next(data.next), status_code=303)
        response.cookies.append(session_cookie(token, settings.session_days, settings.cookie_secure))
        return response

    @post("/logout", guards=[requires_login], include_in_schema=False, status_code=303)
    async def logout(self, request: Request, db: AsyncSession) -> Redirect:
        if token := request.cookies.get(SESSION_COOKIE):
            await service.end_session(db, token)
        response = Redirect(path="/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


class AuthApiController(Controller):
    path = "/api/v1"
    tags = ["accounts"]

    @post("/auth/token", status_code=200, summary="Exchange a username and password for a bearer token")
    async def token(self, request: Request, db: AsyncSession, settings: Settings, data: TokenRequest) -> TokenResponse:
        user = await service.authenticate(
            db, data.username, data.password, _client_ip(request), settings.login_failures_per_minute
        )
        return TokenResponse(token=await service.start_session(db, user, "bearer", settings.session_days))

    @get("/me", guards=[requires_login], summary="The logged-in user")
    async def me(self, request: Request) -> MeResponse:
        viewer: service.Viewer = request.user
        return MeResponse(
            id=viewer.id,
            username=viewer.username,
            display_name=viewer.display_name,
            role=viewer.role,
            role_label=viewer.role_label,
            unit_id=viewer.unit_id,
            unit_name=viewer.unit_name,
        )


@get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    """Cadres and leaders start on 今日; supervisors on the coverage dashboard (督导)."""
    user = request.scope.get("user")
    if user is None:
        return Redirect(path="/login")
    return Redirect(path="/coverage" if user.role == "supervisor" else "/today")


ROUTES = [AuthController, AuthApiController, home]
