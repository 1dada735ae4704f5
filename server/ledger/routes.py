"""民情台账 pages and the concern API. Thin: parse, call the service, render or redirect (303)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_login, requires_role
from server.accounts.models import OrgUnit
from server.accounts.service import units_in_scope
from server.clock import local_today
from server.errors import AppError
from server.ledger import lists, lookback, reminders, service
from server.ledger.deadlines import DEADLINE_STATUS_LABELS, load_calendar
from server.ledger.forms import action_input, filters_from, opt_date, opt_int, text
from server.ledger.lifecycle import CLOSE_DETAIL_PROMPTS, allowed_actions
from server.ledger.models import (
    CLOSE_REASON_LABELS,
    DOMAIN_LABELS,
    LEVEL_LABELS,
    RATING_LABELS,
    SOURCE_LABELS,
    URGENCY_LABELS,
    Concern,
)
from server.places.service import display_name, get_target
from server.visits.photos import check_uuid
from server.web import render, see_other

LEDGER_LABELS = {
    "DOMAIN_LABELS": DOMAIN_LABELS,
    "LEVEL_LABELS": LEVEL_LABELS,
    "URGENCY_LABELS": URGENCY_LABELS,
    "CLOSE_REASON_LABELS": CLOSE_REASON_LABELS,
    "RATING_LABELS": RATING_LABELS,
    "SOURCE_LABELS": SOURCE_LABELS,
    "DEADLINE_STATUS_LABELS": DEADLINE_STATUS_LABELS,
    "LIST_LABELS": lists.LIST_LABELS,
    "CLOSE_DETAIL_PROMPTS": CLOSE_DETAIL_PROMPTS,
}


async def detail_context(db: AsyncSession, request: Request, concern: Concern) -> dict[str, Any]:
    viewer = request.user
    target = await get_target(db, viewer, concern.target_id)
    unit = await db.get(OrgUnit, concern.org_unit_id)
    assert unit is not None
    rows = [lists.ConcernRow(concern, target, unit)]
    await lists.decorate(db, rows, local_today(), await load_calendar(db))
    similar = []
    if concern.state in ("registered", "accepted", "assigned", "in_progress"):
        similar = await service.similar_open(db, viewer, target, concern.category, concern.text, exclude_id=concern.id)
    checks = await lookback.list_checks(db, viewer, concern_id=concern.id)
    return {
        "row": rows[0],
        "c": concern,
        "target": target,
        "timeline": await service.timeline(db, concern),
        "actions": {a.name: a for a in allowed_actions(concern, viewer)},
        "owners": await service.owner_choices(db, viewer) if viewer.has_role("leader") else [],
        "similar": similar,
        "extensions": await service.extensions(db, concern.id),  # type: ignore[arg-type]
        "photos": await service.photo_uuids(db, concern),
        "checks": checks,
        "today": local_today(),
        **LEDGER_LABELS,
    }


def concern_json(concern: Concern) -> dict[str, Any]:
    fields = (
        "id",
        "uuid",
        "visit_id",
        "target_id",
        "org_unit_id",
        "raised_by_id",
        "text",
        "category",
        "state",
        "version",
        "source",
        "meeting_id",
        "domain",
        "level",
        "urgency",
        "owner_id",
        "progress",
        "close_reason",
        "close_detail",
        "merged_into_id",
        "feedback",
        "rating",
        "reopen_count",
        "escalated_unit_id",
    )
    data = {name: getattr(concern, name) for name in fields}
    data["deadline"] = concern.deadline.isoformat() if concern.deadline else None
    for name in ("created_at", "updated_at", "closed_at", "urged_at", "feedback_at", "rated_at"):
        value = getattr(concern, name)
        data[name] = value.isoformat() if value else None
    return data


class LedgerController(Controller):
    guards = [requires_login]

    @get("/ledger", include_in_schema=False, opt={"writes_on_get": True})  # the overdue sweep writes
    async def index(self, request: Request, db: AsyncSession, page: int = 1) -> Template:
        params = request.query_params
        list_name = params.get("list") or "problem"
        filters = filters_from(params)
        await reminders.sweep(db)
        result = await lists.list_concerns(db, request.user, list_name, filters, page=page)
        context = {
            "list_name": list_name,
            "f": filters,
            "query": filters.query(),
            "result": result,
            "page": page,
            "units": await units_in_scope(db, request.user),
            "villages": await service.villages_in_scope(db, request.user),
            "owners": await service.owner_choices(db, request.user),
            "escalated": await lists.escalated_here(db, request.user),
            "mine": await lists.my_reminders(db, request.user),
            **LEDGER_LABELS,
        }
        return render(request, "ledger/index.html", context, fragment="ledger/_table.html")

    @get("/ledger/{concern_id:int}", include_in_schema=False)
    async def detail(self, request: Request, db: AsyncSession, concern_id: int) -> Template:
        concern = await service.get_concern(db, request.user, concern_id)
        return render(request, "ledger/detail.html", await detail_context(db, request, concern))

    async def _refuse(self, request: Request, db: AsyncSession, concern_id: int, exc: AppError) -> Template:
        await db.rollback()
        concern = await service.get_concern(db, request.user, concern_id)
        context = await detail_context(db, request, concern)
        context["error"] = exc.message
        return render(request, "ledger/detail.html", context, status_code=exc.status_code)

    async def _act(
        self, request: Request, db: AsyncSession, concern_id: int, work: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Run one write; on a refusal show the item again with the message (and the 4xx status)."""
        try:
            await work()
        except AppError as exc:
            if exc.status_code == 404:
                raise
            return await self._refuse(request, db, concern_id, exc)
        return see_other(f"/ledger/{concern_id}")

    @post("/ledger/{concern_id:int}/transition", include_in_schema=False)
    async def transition(self, request: Request, db: AsyncSession, concern_id: int) -> Any:
        form = await request.form()
        return await self._act(
            request, db, concern_id, lambda: service.transition(db, request.user, concern_id, action_input(form))
        )

    @post("/ledger/{concern_id:int}/extension", include_in_schema=False)
    async def extension(self, request: Request, db: AsyncSession, concern_id: int) -> Any:
        form = await request.form()

        async def work() -> None:
            new_deadline = opt_date(form, "new_deadline", "延期后的时限")
            if new_deadline is None:
                raise AppError("请填写延期后的时限。", 400)
            version = opt_int(form, "version", "版本号") or 0
            await reminders.request_extension(db, request.user, concern_id, version, new_deadline, text(form, "reason"))

        return await self._act(request, db, concern_id, work)

    @post("/ledger/{concern_id:int}/extension/{request_id:int}", include_in_schema=False)
    async def decide(self, request: Request, db: AsyncSession, concern_id: int, request_id: int) -> Any:
        form = await request.form()
        version = opt_int(form, "version", "版本号") or 0
        approve = text(form, "decision") == "approve"
        return await self._act(
            request,
            db,
            concern_id,
            lambda: reminders.decide_extension(db, request.user, concern_id, version, request_id, approve),
        )

    @post("/ledger/{concern_id:int}/photos-public", guards=[requires_role("leader")], include_in_schema=False)
    async def photos_public(self, request: Request, db: AsyncSession, concern_id: int) -> Redirect:
        form = await request.form()
        await service.set_photos_public(db, request.user, concern_id, text(form, "public") == "1")
        return see_other(f"/ledger/{concern_id}")

    @get("/ledger/new", include_in_schema=False)
    async def new(self, request: Request, db: AsyncSession, target_id: int | None = None, q: str = "") -> Template:
        target = await get_target(db, request.user, target_id) if target_id else None
        found = await service.search_targets(db, request.user, q) if q and not target else []
        context = {
            "target": target,
            "name": display_name(target) if target else "",
            "q": q,
            "found": found,
            "values": {},
            **LEDGER_LABELS,
        }
        return render(request, "ledger/new.html", context)

    @post("/ledger", include_in_schema=False)
    async def create(self, request: Request, db: AsyncSession) -> Any:
        form = await request.form()
        target_id = opt_int(form, "target_id", "反映对象")
        if target_id is None:
            raise AppError("请先选择反映诉求的走访对象。", 400)
        try:
            concern = await service.create_concern(
                db,
                request.user,
                target_id,
                text(form, "text"),
                text(form, "category"),
                text(form, "urgency") or "normal",
                uuid=check_uuid(text(form, "uuid")) if text(form, "uuid") else None,
            )
        except AppError as exc:
            if exc.status_code == 404:
                raise
            target = await get_target(db, request.user, target_id)
            context = {
                "target": target,
                "name": display_name(target),
                "q": "",
                "found": [],
                "error": exc.message,
                "values": dict(form),
                **LEDGER_LABELS,
            }
            return render(request, "ledger/new.html", context, status_code=exc.status_code)
        return see_other(f"/ledger/{concern.id}")

    @get("/ledger/similar", include_in_schema=False)
    async def similar(
        self, request: Request, db: AsyncSession, target_id: int, category: str = "problem", text: str = ""
    ) -> Template:
        target = await get_target(db, request.user, target_id)
        found = await service.similar_open(db, request.user, target, category, text)
        return render(request, "ledger/_similar.html", {"similar": found, "merge": False})

    @get("/ledger/review", include_in_schema=False)
    async def review(
        self, request: Request, db: AsyncSession, unit_id: int | None = None, month: str | None = None
    ) -> Template:
        the_month = lists.parse_month(month)
        data = await lists.monthly_review(db, request.user, unit_id, the_month)
        context = {
            "r": data,
            "month": the_month.strftime("%Y-%m"),
            "units": await units_in_scope(db, request.user),
            **LEDGER_LABELS,
        }
        return render(request, "ledger/review.html", context)

    @post("/ledger/sweep", guards=[requires_role("leader")], include_in_schema=False)
    async def sweep(self, request: Request, db: AsyncSession) -> Redirect:
        await reminders.sweep(db)
        return see_other("/ledger?list=task&status=overdue")


class ConcernApi(Controller):
    """JSON for phones and the offline outbox: read a concern, apply a versioned transition."""

    path = "/api/v1/concerns"
    guards = [requires_login]
    tags = ["ledger"]

    @get("/{concern_id:int}")
    async def read(self, request: Request, db: AsyncSession, concern_id: int) -> dict[str, Any]:
        """One concern in the caller's scope."""
        return concern_json(await service.get_concern(db, request.user, concern_id))

    @post("/{concern_id:int}/transition", status_code=200)
    async def transition(
        self, request: Request, db: AsyncSession, concern_id: int, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply an action (accept, assign, start, progress, submit, return, close, merge, feedback, rate,
        reopen, urge) with the ``version`` the client last saw. A stale version → 409 with
        ``current_version``; an action not legal in the current state → 409; missing fields → 400."""
        concern = await service.transition(db, request.user, concern_id, action_input(data))
        return concern_json(concern)


from server.ledger.routes_io import ROUTES as IO_ROUTES  # noqa: E402
from server.ledger.routes_public import ROUTES as PUBLIC_ROUTES  # noqa: E402

ROUTES = [LedgerController, ConcernApi, *IO_ROUTES, *PUBLIC_ROUTES]
