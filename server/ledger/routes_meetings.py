"""党群说事会 pages, 回头看 (supervisors) and making rating links with QR codes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_login, requires_role
from server.clock import local_today
from server.errors import AppError
from server.ledger import lookback, meetings, ratings, service
from server.ledger.forms import opt_date, opt_int, text
from server.ledger.lists import month_bounds
from server.ledger.meetings import LEADER_VISITS_PER_YEAR, MeetingInput
from server.web import render, see_other


def meeting_input(form: Any) -> MeetingInput:
    village_id = opt_int(form, "village_id", "村")
    held_on = opt_date(form, "held_on", "会议日期")
    if village_id is None or held_on is None:
        raise AppError("请选择村并填写会议日期。", 400)
    texts = form.getall("item_text") if "item_text" in form else []
    cats = form.getall("item_category") if "item_category" in form else []
    items = [(t, cats[i] if i < len(cats) else "problem") for i, t in enumerate(texts) if t.strip()]
    others = [n for n in text(form, "others").replace("，", ",").replace("、", ",").split(",") if n.strip()]
    return MeetingInput(
        village_id=village_id,
        held_on=held_on,
        host=text(form, "host"),
        place=text(form, "place"),
        notes=text(form, "notes"),
        residents_count=opt_int(form, "residents_count", "参会群众人数") or 0,
        leader_ids=[int(x) for x in (form.getall("leader_ids") if "leader_ids" in form else []) if x.isdigit()],
        other_attendees=others,
        items=items,
    )


class MeetingController(Controller):
    guards = [requires_login]

    @get("/ledger/meetings", include_in_schema=False)
    async def index(self, request: Request, db: AsyncSession, village_id: int | None = None) -> Template:
        rows = await meetings.list_meetings(db, request.user, village_id)
        first, last = month_bounds(local_today())
        missing = await meetings.villages_without_meeting(db, request.user, first, last)
        context = {
            "rows": rows,
            "villages": await service.villages_in_scope(db, request.user),
            "village_id": village_id,
            "missing": missing,
        }
        return render(request, "ledger/meetings.html", context)

    @get("/ledger/meetings/new", guards=[requires_role("cadre", "leader")], include_in_schema=False)
    async def new(self, request: Request, db: AsyncSession, village_id: int | None = None) -> Template:
        return await self._form(request, db, {"village_id": village_id}, None)

    async def _form(
        self, request: Request, db: AsyncSession, values: dict[str, Any], error: str | None, status: int = 200
    ) -> Template:
        context = {
            "villages": await service.villages_in_scope(db, request.user),
            "leaders": await meetings.leader_choices(db, request.user),
            "values": values,
            "error": error,
            "today": local_today().isoformat(),
        }
        return render(request, "ledger/meeting_form.html", context, status_code=status)

    @post("/ledger/meetings", guards=[requires_role("cadre", "leader")], include_in_schema=False)
    async def create(self, request: Request, db: AsyncSession) -> Any:
        form = await request.form()
        try:
            meeting = await meetings.record_meeting(db, request.user, meeting_input(form))
        except AppError as exc:
            if exc.status_code == 404:
                raise
            await db.rollback()
            values = {k: form.get(k) for k in ("village_id", "held_on", "host", "place", "notes", "others")}
            return await self._form(request, db, values, exc.message, exc.status_code)
        return see_other(f"/ledger/meetings/{meeting.id}")

    @get("/ledger/meetings/{meeting_id:int}", include_in_schema=False)
    async def detail(self, request: Request, db: AsyncSession, meeting_id: int) -> Template:
        view = await meetings.get_meeting(db, request.user, meeting_id)
        return render(request, "ledger/meeting.html", {"m": view, "required": LEADER_VISITS_PER_YEAR})


class LookBackController(Controller):
    guards = [requires_role("supervisor", "leader")]

    @get("/ledger/lookbacks", include_in_schema=False)
    async def index(self, request: Request, db: AsyncSession) -> Template:
        rows = await lookback.list_checks(db, request.user)
        return render(request, "ledger/lookbacks.html", {"rows": rows, "RESULTS": lookback.RESULT_LABELS})

    @post("/ledger/lookbacks/sample", guards=[requires_role("supervisor")], include_in_schema=False)
    async def sample(self, request: Request, db: AsyncSession) -> Redirect:
        form = await request.form()
        await lookback.sample(db, request.user, opt_int(form, "count", "抽取条数") or 5)
        return see_other("/ledger/lookbacks")

    @post("/ledger/lookbacks/{check_id:int}", guards=[requires_role("supervisor")], include_in_schema=False)
    async def record(self, request: Request, db: AsyncSession, check_id: int) -> Redirect:
        form = await request.form()
        await lookback.record_finding(db, request.user, check_id, text(form, "result"), text(form, "finding"))
        return see_other("/ledger/lookbacks")


class RatingLinkController(Controller):
    """The cadre's phone shows (or prints) the link and its QR code; the secret is shown only here."""

    guards = [requires_login]

    def _page(self, request: Request, token: str, back: str, what: str) -> Template:
        url = str(request.base_url).rstrip("/") + f"/r/{token}"
        context = {"url": url, "qr": ratings.qr_svg(url), "back": back, "what": what, "days": ratings.TOKEN_DAYS}
        return render(request, "ledger/rating_link.html", context)

    @post("/ledger/{concern_id:int}/rating-link", include_in_schema=False)
    async def concern_link(self, request: Request, db: AsyncSession, concern_id: int) -> Template:
        token = await ratings.create_concern_link(db, request.user, concern_id)
        return self._page(request, token, f"/ledger/{concern_id}", f"诉求 #{concern_id} 的办理结果")

    @post("/ledger/visits/{visit_id:int}/rating-link", include_in_schema=False)
    async def visit_link(self, request: Request, db: AsyncSession, visit_id: int) -> Template:
        token = await ratings.create_visit_link(db, request.user, visit_id)
        return self._page(request, token, f"/visits/{visit_id}", "这次走访")


ROUTES = [MeetingController, LookBackController, RatingLinkController]
