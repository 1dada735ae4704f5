"""One error type with the message users see, and one handler that renders it as page, fragment or JSON."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.exceptions import ValidationException as LitestarValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = logging.getLogger("minqing")


class AppError(Exception):
    """An error whose ``message`` (Chinese, telling the user what to do) is shown as-is."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None, *, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra or {}


class NotFound(AppError):
    status_code = 404


class Forbidden(AppError):
    status_code = 403


class Conflict(AppError):
    status_code = 409


DEFAULT_MESSAGES = {
    400: "请求内容有误，请检查后重试。",
    401: "请先登录。",
    403: "您没有权限进行此操作。",
    404: "找不到该页面或记录，它可能已被删除或不在您的管辖范围内。",
    405: "不支持该请求方式。",
    409: "数据已被他人修改，请刷新后重试。",
    413: "上传内容过大，请压缩照片或分批上传。",
    415: "不支持的文件类型，请上传 JPEG、PNG、WebP 或 HEIC 格式的照片。",
    429: "操作过于频繁，请稍后再试。",
    500: "服务器出错了，请稍后重试；如果问题持续，请联系管理员。",
}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path == "/healthz":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _validation_message(exc: LitestarValidationException) -> str:
    extra = exc.extra if isinstance(exc.extra, list) else []
    fields = [str(item.get("key")) for item in extra if isinstance(item, dict) and item.get("key")]
    if fields:
        return f"提交的数据格式不正确（字段：{'、'.join(fields)}），请检查后重试。"
    return "提交的数据格式不正确，请检查后重试。"


def error_response(request: Request, status: int, message: str, extra: dict[str, Any] | None = None) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {"error": message, "status": status}
        if extra:
            body.update(extra)
        return Response(body, status_code=status, media_type=MediaType.JSON)
    # A boosted navigation or form post swaps the whole body: it needs the full page, not the snippet.
    fragment = request.headers.get("hx-request") == "true" and request.headers.get("hx-boosted") != "true"
    # A path that matches no route never passed the auth middleware: the layout still asks for the user.
    request.scope.setdefault("user", None)  # type: ignore[typeddict-item]
    return Template(
        template_name="_error_fragment.html" if fragment else "error.html",
        context={"status": status, "message": message},
        status_code=status,
    )


def handle_exception(request: Request, exc: Exception) -> Response:
    # Unmatched routes never pass the auth middleware: the layout still asks for request.user.
    request.scope.setdefault("user", None)  # type: ignore[typeddict-item]
    request.scope.setdefault("auth", None)  # type: ignore[typeddict-item]
    if isinstance(exc, AppError):
        return error_response(request, exc.status_code, exc.message, exc.extra)
    if isinstance(exc, NotAuthorizedException) and not wants_json(request):
        if request.headers.get("hx-request") == "true":
            return Response(b"", status_code=401, headers={"HX-Redirect": "/login"})
        return Redirect(path=f"/login?next={request.url.path}")
    if isinstance(exc, LitestarValidationException):
        return error_response(request, 400, _validation_message(exc))
    if isinstance(exc, PermissionDeniedException):
        return error_response(request, 403, DEFAULT_MESSAGES[403])
    if isinstance(exc, HTTPException):
        status = exc.status_code
        message = DEFAULT_MESSAGES.get(status)
        if message is None:
            message = DEFAULT_MESSAGES[400] if status < 500 else DEFAULT_MESSAGES[500]
        return error_response(request, status, message)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR, DEFAULT_MESSAGES[500])
