"""督导 dashboard, 不漏不重 assignment page, map page, and their JSON/GeoJSON APIs. Thin: the work is in
``service``, ``lists``, ``assignments`` and ``maps``. Supervisors and leaders (admins pass)."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Template
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_admin, requires_supervision
from server.accounts.models import OrgUnit, User
from server.clock import local_today
from server.coverage import assignments, campaigns, charts, lists, maps, service
from server.coverage.models import PERIOD_LABELS, WHO_LABELS
from server.coverage.report import KIND_ORDER
from server.errors import AppError
from server.geo import parse_bbox
from server.places.models import TARGET_KIND_LABELS
from server.web import render, see_other

FROM = Parameter(query="from", default=None, description="first local day, YYYY-MM-DD (default: 1st of this month)")
TO = Parameter(query="to", default=None, description="last local day, YYYY-MM-DD (default: end of the month)")


MAX_ID = 2**31 - 1


def _id(description: str) -> Any:
    return Parameter(default=None, ge=1, le=MAX_ID, description=description)


UNIT = _id("org unit in the viewer's subtree (default: the viewer's own unit)")
USER = _id("a cadre or leader in the viewer's subtree")


def _kind(kind: str) -> str:
    if kind and kind not in TARGET_KIND_LABELS:
        raise AppError("未知的对象类型，可选：village、household、enterprise、driver、project。", 400)
    return kind


async def _filters(db: AsyncSession, viewer: Any) -> dict[str, Any]:
    """Units and field workers of the viewer's subtree, for the filter selects."""
    units = (
        await db.scalars(
            select(OrgUnit).where(OrgUnit.path.startswith(viewer.unit_path)).order_by(OrgUnit.path)  # type: ignore[attr-defined]
        )
    ).all()
    people = (
        await db.execute(
            select(User.id, User.display_name, OrgUnit.name)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(OrgUnit.path.startswith(viewer.unit_path), User.role.in_(("cadre", "leader")))  # type: ignore[attr-defined]
            .order_by(OrgUnit.path, User.display_name)
        )
    ).all()
    return {"units": units, "people": people}


class CoverageController(Controller):
    guards = [requires_supervision]
    include_in_schema = False

    @get("/coverage")
    async def dashboard(
        self,
        request: Request,
        db: AsyncSession,
        first: date | None = FROM,
        last: date | None = TO,
        unit_id: int | None = UNIT,
    ) -> Template:
        first, last = service.window(first, last)
        report = await service.coverage_report(db, request.user, first, last, unit_id)
        unit = report.unit
        uncovered = await lists.uncovered_targets(db, unit.path, first, last)
        uncovered_count = report.total.space.total - report.total.space.covered
        context = {
            "report": report,
            "unit": unit,
            "first": first,
            "last": last,
            "trail": await service.breadcrumbs(db, request.user, unit),
            "uncovered": uncovered,
            "uncovered_count": uncovered_count,
            "crowded": await lists.crowding(db, unit.path, first, last),
            "crowd_threshold": lists.crowd_threshold(first, last),
            "inactive": [p for p in report.persons if not p.quota.went_down],
            "unmet": [p for p in report.persons if p.quota.went_down and not p.quota.met],
            "targets": await lists.unit_targets(db, unit, first, last) if not report.children else [],
            "kinds": KIND_ORDER,
            "PERIOD_LABELS": PERIOD_LABELS,
            "WHO_LABELS": WHO_LABELS,
            **await _filters(db, request.user),
        }
        return render(request, "coverage/dashboard.html", context)

    @get("/coverage/trend")
    async def trend(
        self, request: Request, db: AsyncSession, last: date | None = TO, unit_id: int | None = UNIT, by: str = "month"
    ) -> Template:
        _, last = service.window(None, last)
        labels, values = await service.trend(db, request.user, unit_id, last, by)
        series = [
            ("空间全覆盖", [v.space.pct for v in values]),
            ("时间全覆盖", [v.time.pct for v in values]),
            ("人员全覆盖", [v.people.pct for v in values]),
        ]
        title = "按周趋势" if by == "week" else "按月趋势"
        chart = charts.line_chart(title, labels, series)
        context = {"chart": chart, "by": by, "labels": labels, "series": series}
        return render(request, "coverage/trend_page.html", context, fragment="coverage/_trend.html")

    @get("/coverage/strip")
    async def strip(
        self,
        request: Request,
        db: AsyncSession,
        first: date | None = FROM,
        last: date | None = TO,
        unit_id: int | None = UNIT,
    ) -> Template:
        first, last = service.window(first, last)
        unit = await service.unit_in_scope(db, request.user, unit_id)
        today = local_today()
        days, rows = await lists.strip(db, unit, first, last, today)
        context = {"days": days, "rows": rows, "today": today}
        return render(request, "coverage/strip_page.html", context, fragment="coverage/_strip.html")

    @get("/coverage/assignments")
    async def assignment_page(self, request: Request, db: AsyncSession, unit_id: int | None = UNIT) -> Template:
        unit = await service.unit_in_scope(db, request.user, unit_id)
        today = local_today()
        ruleset = await service.rules_for(db, unit.path, today, today)
        checks = await assignments.assignment_checks(db, ruleset, unit.path, today)
        context = {
            "unit": unit,
            "checks": checks,
            "describe": assignments.describe,
            "today": today,
            **await _filters(db, request.user),
        }
        return render(request, "coverage/assignments.html", context)

    @get("/coverage/campaign")
    async def campaign_page(self, request: Request, db: AsyncSession, unit_id: int | None = UNIT) -> Template:
        unit = await service.unit_in_scope(db, request.user, unit_id)
        ruleset = await campaigns.campaign_for(db, unit)
        context = {"unit": unit, "ruleset": ruleset, "today": local_today(), "PERIOD_LABELS": PERIOD_LABELS}
        return render(request, "coverage/campaign.html", context)

    @post("/coverage/campaign", guards=[requires_admin], status_code=303)
    async def start_campaign(self, request: Request, db: AsyncSession) -> Any:
        await campaigns.start_default_campaign(db, request.user)
        return see_other("/coverage/campaign")

    @post("/coverage/rules/{rule_id:int}", guards=[requires_admin], status_code=303)
    async def update_rule(self, request: Request, db: AsyncSession, rule_id: int) -> Any:
        form = await request.form()
        await campaigns.update_rule(
            db, request.user, rule_id, str(form.get("period") or ""), form.get("min_count"), form.get("max_count")
        )
        return see_other("/coverage/campaign")

    @get("/map")
    async def map_page(
        self,
        request: Request,
        db: AsyncSession,
        first: date | None = FROM,
        last: date | None = TO,
        unit_id: int | None = UNIT,
        user_id: int | None = USER,
        kind: str = "",
        day: date | None = None,
    ) -> Template:
        first, last = service.window(first, last)
        unit = await service.unit_in_scope(db, request.user, unit_id)
        if user_id is not None:
            await service.person_in_scope(db, request.user, user_id)
        context = {
            "first": first,
            "last": last,
            "unit": unit,
            "user_id": user_id,
            "kind": _kind(kind),
            "bounds": await maps.unit_bounds(db, unit.path),
            "day": service.check_day(day) if day else min(last, local_today()),
            **await _filters(db, request.user),
        }
        return render(request, "coverage/map.html", context)


class CoverageApiController(Controller):
    path = "/api/v1"
    guards = [requires_supervision]
    tags = ["coverage"]

    @get("/coverage", summary="三个全覆盖: space, time and people coverage of a unit for a window")
    async def coverage(
        self,
        request: Request,
        db: AsyncSession,
        first: date | None = FROM,
        last: date | None = TO,
        unit_id: int | None = UNIT,
    ) -> dict[str, Any]:
        first, last = service.window(first, last)
        return service.report_json(await service.coverage_report(db, request.user, first, last, unit_id))

    @get("/map/targets", summary="Targets in a bbox as GeoJSON, with status; grid cells when too many")
    async def targets(
        self,
        request: Request,
        db: AsyncSession,
        bbox: str,
        first: date | None = FROM,
        last: date | None = TO,
        kind: str = "",
        unit_id: int | None = UNIT,
        user_id: int | None = USER,
    ) -> dict[str, Any]:
        first, last = service.window(first, last)
        unit = await service.unit_in_scope(db, request.user, unit_id)
        return await maps.map_targets(
            db, request.user, parse_bbox(bbox), first, last, kind=_kind(kind), unit_path=unit.path, user_id=user_id
        )

    @get("/map/visits", summary="Visits and check-ins in a bbox as GeoJSON; grid cells when too many")
    async def visits(
        self,
        request: Request,
        db: AsyncSession,
        bbox: str,
        first: date | None = FROM,
        last: date | None = TO,
        unit_id: int | None = UNIT,
        user_id: int | None = USER,
    ) -> dict[str, Any]:
        first, last = service.window(first, last)
        unit = await service.unit_in_scope(db, request.user, unit_id)
        return await maps.map_visits(
            db, request.user, parse_bbox(bbox), first, last, unit_path=unit.path, user_id=user_id
        )

    @get("/map/route", summary="One person's check-ins and visits of a day in time order, as GeoJSON")
    async def route(
        self, request: Request, db: AsyncSession, day: date, user_id: int = Parameter(ge=1, le=MAX_ID)
    ) -> dict[str, Any]:
        return await maps.map_route(db, request.user, user_id, day)


ROUTES = [CoverageController, CoverageApiController]
