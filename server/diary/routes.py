"""工作日志 pages: a day's diary (printable), the cadre's own note, and a conflict view."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_login
from server.clock import local_today, parse_day
from server.diary import service
from server.errors import AppError, Conflict
from server.web import render, see_other


def _day(raw: str | None) -> date:
    return parse_day(raw) or local_today()


class DiaryController(Controller):
    guards = [requires_login]

    @get("/diary", include_in_schema=False)
    async def diary(
        self, request: Request, db: AsyncSession, day: str | None = None, user_id: int | None = None
    ) -> Template:
        the_day = _day(day)
        user = await service.diary_user(db, request.user, user_id)
        diary = await service.compile_day(db, request.user, user, the_day)
        context = {
            "d": diary,
            "prev": (the_day - timedelta(days=1)).isoformat(),
            "next": (the_day + timedelta(days=1)).isoformat() if the_day < local_today() else None,
            "own": user.id == request.user.id,
            "conflict": None,
        }
        return render(request, "diary/day.html", context)

    @post("/diary/note", include_in_schema=False)
    async def save_note(self, request: Request, db: AsyncSession) -> Any:
        form = await request.form()
        the_day = _day(form.get("day"))
        try:
            version = int(form.get("version") or 0)
        except ValueError:
            raise AppError("版本号格式不正确，请刷新页面。", 400) from None
        try:
            await service.save_note(db, request.user, the_day, form.get("note") or "", version)
        except Conflict as exc:
            user = await service.diary_user(db, request.user, None)
            diary = await service.compile_day(db, request.user, user, the_day)
            context = {
                "d": diary,
                "prev": None,
                "next": None,
                "own": True,
                "conflict": exc.extra,
                "message": exc.message,
            }
            return render(request, "diary/day.html", context, status_code=409)
        return see_other(f"/diary?day={the_day.isoformat()}")


ROUTES = [DiaryController]
