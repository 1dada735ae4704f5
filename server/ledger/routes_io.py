"""Excel in and out (exports, roster import with preview) and the ledger settings (deadline rules,
holidays). Exports are for everyone logged in (scoped); import and settings for leaders/admins."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect, Template
from sqlalchemy import delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_admin, requires_login, requires_role
from server.config import Settings
from server.errors import AppError
from server.ledger import excel, imports, lists
from server.ledger.deadlines import DEFAULT_RULES, load_rules
from server.ledger.forms import filters_from, opt_date, opt_int, text
from server.ledger.models import CONCERN_CATEGORY_LABELS, URGENCY_LABELS, CalendarDay, DeadlineRule
from server.web import render, see_other, xlsx_response

MAX_IMPORT_BYTES = 10 * 1024 * 1024
UPLOAD_TTL_SECONDS = 86400
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


xlsx = xlsx_response


class ExportController(Controller):
    guards = [requires_login]

    @get("/ledger/export.xlsx", include_in_schema=False)
    async def export_list(self, request: Request, db: AsyncSession) -> Response:
        params = request.query_params
        list_name = params.get("list") or "problem"
        redact = params.get("redact") == "1"
        content = await excel.export_list(db, request.user, list_name, filters_from(params), redact)
        name = "民情台账" if list_name == "problem" else lists.LIST_LABELS.get(list_name, "清单")
        return xlsx(content, f"{name}.xlsx")

    @get("/ledger/review.xlsx", include_in_schema=False)
    async def export_review(
        self, request: Request, db: AsyncSession, unit_id: int | None = None, month: str | None = None, redact: str = ""
    ) -> Response:
        review = await lists.monthly_review(db, request.user, unit_id, lists.parse_month(month))
        return xlsx(excel.export_review(review, redact == "1"), f"{review.month.strftime('%Y-%m')}月度研究.xlsx")

    @get("/ledger/diary.xlsx", include_in_schema=False)
    async def export_diary(
        self, request: Request, db: AsyncSession, user_id: int | None = None, month: str | None = None
    ) -> Response:
        the_month = lists.parse_month(month)
        content, name = await excel.export_diary(db, request.user, user_id, the_month)
        return xlsx(content, f"{name}{the_month.strftime('%Y-%m')}工作日志.xlsx")


def _upload_dir(settings: Settings) -> Path:
    path = Path(settings.data_dir) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _forget_old_uploads(settings: Settings) -> None:
    """Previewed files that were never applied are kept for a day."""
    cutoff = time.time() - UPLOAD_TTL_SECONDS
    for path in _upload_dir(settings).iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def _stored(settings: Settings, upload_id: str) -> tuple[str, bytes]:
    if not _UPLOAD_ID.match(upload_id or ""):
        raise AppError("导入文件已失效，请重新上传。", 400)
    for suffix in (".xlsx", ".csv"):
        path = _upload_dir(settings) / f"{upload_id}{suffix}"
        if path.exists():
            return path.name, path.read_bytes()
    raise AppError("导入文件已失效，请重新上传。", 400)


class ImportController(Controller):
    guards = [requires_role("leader")]

    @get("/ledger/import", include_in_schema=False)
    async def form(self, request: Request) -> Template:
        return render(request, "ledger/import.html", {"kinds": imports.KIND_LABELS, "columns": imports.COLUMNS})

    @get("/ledger/import/template/{kind:str}", include_in_schema=False)
    async def template(self, kind: str) -> Response:
        if kind not in imports.COLUMNS:
            raise AppError("未知的导入类型。", 404)
        return xlsx(imports.template_xlsx(kind), f"{imports.KIND_LABELS[kind]}导入模板.xlsx")

    @post("/ledger/import", include_in_schema=False)
    async def preview(self, request: Request, db: AsyncSession, settings: Settings) -> Template:
        form = await request.form()
        kind = text(form, "kind")
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise AppError("请选择要导入的 .xlsx 或 .csv 文件。", 400)
        content = await upload.read()
        if len(content) > MAX_IMPORT_BYTES:
            raise AppError("文件过大（最多 10 MB），请分批导入。", 413)
        suffix = ".xlsx" if upload.filename.lower().endswith(".xlsx") else ".csv"
        report = await imports.preview(db, request.user, kind, upload.filename, content)
        upload_id = secrets.token_urlsafe(18)
        _forget_old_uploads(settings)
        if report.ok:
            (_upload_dir(settings) / f"{upload_id}{suffix}").write_bytes(content)
        context = {
            "report": report,
            "kind": kind,
            "upload_id": upload_id,
            "kinds": imports.KIND_LABELS,
            "filename": upload.filename,
        }
        return render(request, "ledger/import_preview.html", context, status_code=200 if report.ok else 400)

    @post("/ledger/import/apply", include_in_schema=False)
    async def apply(self, request: Request, db: AsyncSession, settings: Settings) -> Template:
        form = await request.form()
        name, content = _stored(settings, text(form, "upload_id"))
        report = await imports.apply(db, request.user, text(form, "kind"), name, content)
        (_upload_dir(settings) / name).unlink(missing_ok=True)
        return render(request, "ledger/import_done.html", {"report": report, "kinds": imports.KIND_LABELS})


class SettingsController(Controller):
    """时限规则 and the work calendar (holidays, 调休 make-up days)."""

    guards = [requires_admin]

    @get("/ledger/settings", include_in_schema=False)
    async def page(self, request: Request, db: AsyncSession) -> Template:
        days = list(await db.scalars(select(CalendarDay).order_by(CalendarDay.day)))
        context = {
            "rules": await load_rules(db),
            "defaults": DEFAULT_RULES,
            "days": days,
            "CATS": CONCERN_CATEGORY_LABELS,
            "URG": URGENCY_LABELS,
        }
        return render(request, "ledger/settings.html", context)

    @post("/ledger/settings/rules", include_in_schema=False)
    async def rules(self, request: Request, db: AsyncSession) -> Redirect:
        form = await request.form()
        values: dict[tuple[str, str], int] = {}
        for category in CONCERN_CATEGORY_LABELS:
            for urgency in URGENCY_LABELS:
                days = opt_int(form, f"{category}:{urgency}", "工作日数")
                if days is None or not 0 <= days <= 60:
                    raise AppError("每项时限应为 0～60 个工作日（0 表示当天办结）。", 400)
                values[(category, urgency)] = days
        await db.execute(delete(DeadlineRule))
        db.add_all(DeadlineRule(category=c, urgency=u, working_days=d) for (c, u), d in values.items())
        await db.commit()
        return see_other("/ledger/settings")

    @post("/ledger/settings/days", include_in_schema=False)
    async def add_day(self, request: Request, db: AsyncSession) -> Redirect:
        form = await request.form()
        day = opt_date(form, "day", "日期")
        if day is None:
            raise AppError("请填写日期。", 400)
        existing = await db.scalar(select(CalendarDay).where(CalendarDay.day == day))
        row: Any = existing or CalendarDay(day=day)
        row.workday = text(form, "workday") == "1"
        row.name = text(form, "name").strip()[:50]
        db.add(row)
        await db.commit()
        return see_other("/ledger/settings")

    @post("/ledger/settings/days/{day_id:int}/delete", include_in_schema=False)
    async def delete_day(self, db: AsyncSession, day_id: int) -> Redirect:
        await db.execute(delete(CalendarDay).where(CalendarDay.id == day_id))
        await db.commit()
        return see_other("/ledger/settings")


from server.ledger.routes_meetings import ROUTES as MEETING_ROUTES  # noqa: E402

ROUTES = [ExportController, ImportController, SettingsController, *MEETING_ROUTES]
