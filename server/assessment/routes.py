"""考核 pages: the table per unit (督导 and 班子成员 read it), its Excel export, and the weights (督导 sets them)."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.response import Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_role
from server.accounts.models import Role
from server.accounts.service import units_in_scope
from server.assessment import service
from server.assessment.export import workbook_bytes
from server.integrity.periods import parse_period
from server.web import render, see_other, xlsx_response


class AssessmentController(Controller):
    path = "/assessment"
    guards = [requires_role(Role.supervisor, Role.leader)]

    async def _table(
        self, request: Request, db: AsyncSession, unit_id: int | None, start: str | None, end: str | None
    ) -> service.AssessmentTable:
        first, last = parse_period(start, end)
        return await service.assess(db, request.user, unit_id, first, last)

    @get("/", include_in_schema=False)
    async def table(
        self,
        request: Request,
        db: AsyncSession,
        unit_id: int | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Template:
        table = await self._table(request, db, unit_id, start, end)
        context = {
            "t": table,
            "parts": service.PARTS,
            "weight_fields": service.WEIGHT_FIELDS,
            "units": await units_in_scope(db, request.user),
            "can_configure": request.user.has_role(Role.supervisor),
            "query": f"unit_id={table.unit.id}&start={table.first}&end={table.last}",
        }
        return render(request, "assessment/index.html", context, fragment="assessment/_table.html")

    @get("/export.xlsx", include_in_schema=False)
    async def export(
        self,
        request: Request,
        db: AsyncSession,
        unit_id: int | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Response:
        table = await self._table(request, db, unit_id, start, end)
        return xlsx_response(workbook_bytes(table), f"考核_{table.unit.name}_{table.first}_{table.last}.xlsx")

    @post("/config", guards=[requires_role(Role.supervisor)], include_in_schema=False)
    async def configure(self, request: Request, db: AsyncSession) -> Response:
        form = await request.form()
        raw_unit = (form.get("unit_id") or "").strip()
        unit_id = int(raw_unit) if raw_unit.isdigit() else None
        values = {k: form.get(k) or "" for k in [*service.WEIGHT_FIELDS.values(), "flag_penalty"]}
        config = await service.save_config(db, request.user, unit_id, values)
        back = {"unit_id": config.org_unit_id, "start": form.get("start") or "", "end": form.get("end") or ""}
        return see_other(f"/assessment?{urlencode(back)}")


ROUTES = [AssessmentController]
