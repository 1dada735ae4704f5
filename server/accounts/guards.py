"""Route guards: login required, and role checks. Put them on controllers, not inside handlers."""

from __future__ import annotations

from collections.abc import Callable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from server.accounts.models import Role

Guard = Callable[[ASGIConnection, BaseRouteHandler], None]


def requires_login(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.scope.get("user") is None:
        raise NotAuthorizedException("请先登录。")


def requires_role(*roles: str) -> Guard:
    """Allow these roles (admins always pass)."""

    def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        requires_login(connection, handler)
        role = connection.scope["user"].role
        if role != Role.admin and role not in roles:
            raise PermissionDeniedException("您没有权限进行此操作。")

    guard.__name__ = f"requires_role_{'_'.join(roles)}"
    return guard


requires_field = requires_role(Role.cadre, Role.leader)
requires_supervision = requires_role(Role.supervisor, Role.leader)
requires_admin = requires_role(Role.admin)
