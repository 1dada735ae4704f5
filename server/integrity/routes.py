"""督导 pages: the review queue of integrity flags, 随机抽查 runs, and the flags fragment on a visit page."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_login, requires_role
from server.accounts.models import Role
from server.accounts.service import units_in_scope
from server.clock import local_day, period_bounds_utc, utcnow
from server.errors import AppError
from server.integrity import service, spotcheck
from server.integrity.models import (
    FLAG_CODE_LABELS,
    FLAG_STATUS_LABELS,
    SEVERITY_LABELS,
    SPOT_RESULT_LABELS,
)
from server.integrity.periods import parse_day, parse_period
from server.visits.service import get_visit
from server.web import is_fragment_request, render, see_other

LABELS = {
    "FLAG_CODE_LABELS": FLAG_CODE_LABELS,
    "FLAG_STATUS_LABELS": FLAG_STATUS_LABELS,
    "SEVERITY_LABELS": SEVERITY_LABELS,
    "SPOT_RESULT_LABELS": SPOT_RESULT_LABELS,
}


def _int(raw: str | None, what: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise AppError(f"{what}应为整数。", 400) from None


def _float(raw: str | None, what: str) -> float:
    try:
        return float((raw or "").strip())
    except ValueError:
        raise AppError(f"{what}应为数字，例如 10。", 400) from None


def _in_place(request: Request, exc: AppError, fragment: str, context: dict[str, Any]) -> Template:
    """A 400 from an htmx form: show the message inside the same row instead of replacing it."""
    if exc.status_code != 400 or not is_fragment_request(request):
        raise exc
    return render(request, fragment, {**context, "error": exc.message}, status_code=400)


class IntegrityController(Controller):
    path = "/integrity"
    guards = [requires_role(Role.supervisor)]

    @get("/", include_in_schema=False)
    async def queue(
        self,
        request: Request,
        db: AsyncSession,
        code: str | None = None,
        status: str | None = "open",
        user_id: str | None = None,
        unit_id: str | None = None,
        start: str | None = None,
        end: str | None = None,
        page: int = 1,
    ) -> Template:
        viewer = request.user
        first, last = parse_day(start, "开始日期"), parse_day(end, "结束日期")
        filt = service.FlagFilter(
            code=code or None,
            status=status or None,
            user_id=_int(user_id, "干部"),
            unit_id=_int(unit_id, "单位"),
            start=period_bounds_utc(first, first)[0] if first else None,
            end=period_bounds_utc(last, last)[1] if last else None,
        )
        rows, total = await service.list_flags(db, viewer, filt, page)
        context = {
            **LABELS,
            "rows": rows,
            "total": total,
            "page": max(page, 1),
            "pages": max(1, -(-total // service.PAGE_SIZE)),
            "q": {"code": code or "", "status": status or "", "user_id": user_id or "", "unit_id": unit_id or ""}
            | {"start": start or "", "end": end or ""},
            "units": await units_in_scope(db, viewer),
            "cadres": await service.cadres_in_unit(db, viewer.unit_path),
        }
        return render(request, "integrity/queue.html", context, fragment="integrity/_flag_list.html")

    @post("/flags/{flag_id:int}", include_in_schema=False)
    async def review(self, request: Request, db: AsyncSession, flag_id: int) -> Any:
        form = await request.form()
        viewer = request.user
        try:
            row = await service.review_flag(db, viewer, flag_id, form.get("action") or "", form.get("note") or "")
        except AppError as exc:
            row = await service.get_flag(db, viewer, flag_id)
            return _in_place(request, exc, "integrity/_flag_row.html", {**LABELS, "r": row})
        if is_fragment_request(request):
            return render(request, "integrity/_flag_row.html", {**LABELS, "r": row})
        back = form.get("next") or "/integrity"
        return see_other(back if back.startswith("/") and not back.startswith("//") else "/integrity")

    @get("/spot-checks", include_in_schema=False)
    async def runs(self, request: Request, db: AsyncSession) -> Template:
        today = local_day(utcnow())
        context = {
            "runs": await spotcheck.list_runs(db, request.user),
            "units": await units_in_scope(db, request.user),
            "default_start": today.replace(day=1).isoformat(),
            "default_end": today.isoformat(),
        }
        return render(request, "integrity/spot_runs.html", context)

    @post("/spot-checks", include_in_schema=False)
    async def create_run(self, request: Request, db: AsyncSession) -> Any:
        form = await request.form()
        first, last = parse_period(form.get("start"), form.get("end"))
        run = await spotcheck.create_run(
            db,
            request.user,
            unit_id=_int(form.get("unit_id"), "单位"),
            first=first,
            last=last,
            percent=_float(form.get("percent"), "抽查比例"),
            seed=_int(form.get("seed"), "随机种子"),
        )
        return see_other(f"/integrity/spot-checks/{run.id}")

    @get("/spot-checks/{run_id:int}", include_in_schema=False)
    async def run_page(self, request: Request, db: AsyncSession, run_id: int) -> Template:
        run, unit, items = await spotcheck.get_run(db, request.user, run_id)
        context = {**LABELS, "run": run, "unit": unit, "items": items}
        return render(request, "integrity/spot_run.html", context)

    @post("/spot-checks/items/{check_id:int}", include_in_schema=False)
    async def record_result(self, request: Request, db: AsyncSession, check_id: int) -> Any:
        form = await request.form()
        viewer = request.user
        try:
            item = await spotcheck.record_result(db, viewer, check_id, form.get("result") or "", form.get("note") or "")
        except AppError as exc:
            item = await spotcheck.get_item(db, viewer, check_id)
            return _in_place(request, exc, "integrity/_spot_item.html", {**LABELS, "i": item})
        if is_fragment_request(request):
            return render(request, "integrity/_spot_item.html", {**LABELS, "i": item})
        return see_other(f"/integrity/spot-checks/{item.check.run_id}#check-{check_id}")


class VisitFlagsController(Controller):
    """The flags of one visit, loaded into the visit page (anyone who may see the visit sees its flags)."""

    guards = [requires_login]

    @get("/integrity/visits/{visit_id:int}", include_in_schema=False)
    async def visit_flags(self, request: Request, db: AsyncSession, visit_id: int) -> Template:
        await get_visit(db, request.user, visit_id)  # 404 outside the viewer's scope
        rows = await service.visit_flags(db, request.user, visit_id)
        context = {**LABELS, "rows": rows, "visit_id": visit_id}
        return render(request, "integrity/visit_flags.html", context, fragment="integrity/_visit_flags.html")


ROUTES = [IntegrityController, VisitFlagsController]
