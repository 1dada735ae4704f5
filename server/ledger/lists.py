"""The three lists of the ledger (问题清单 / 任务清单 / 效果清单) with filters and counts, and the
monthly review (每月专题研究) of a unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.clock import local_today, period_bounds_utc
from server.errors import AppError, NotFound
from server.ledger.deadlines import DUE_SOON_WORKING_DAYS, OPEN_STATES, WorkCalendar, deadline_status, load_calendar
from server.ledger.models import Concern, ConcernEvent, ConcernState
from server.ledger.service import scoped_concerns
from server.places.models import Target
from server.places.service import display_name

S = ConcernState
LIST_LABELS = {"problem": "问题清单", "task": "任务清单", "result": "效果清单"}
LIST_STATES: dict[str, tuple[str, ...]] = {
    "problem": tuple(S),
    "task": (S.accepted, S.assigned, S.in_progress, S.pending_review),
    "result": (S.closed,),
}
PAGE_SIZE = 100


@dataclass
class Filters:
    unit_id: int | None = None
    village_id: int | None = None
    start: date | None = None
    end: date | None = None
    category: str = ""
    state: str = ""
    owner_id: int | None = None
    status: str = ""  # overdue | due_soon | escalated (to the viewer's unit)

    def query(self) -> dict[str, str]:
        """The non-empty filters as query parameters (for links and exports)."""
        values = {k: v for k, v in vars(self).items() if v not in (None, "")}
        return {k: v.isoformat() if isinstance(v, date) else str(v) for k, v in values.items()}


@dataclass
class ConcernRow:
    concern: Concern
    target: Target
    unit: OrgUnit
    village: str = ""
    owner: str = ""
    raised_by: str = ""
    status: str = ""

    @property
    def who(self) -> str:
        return display_name(self.target)


@dataclass
class ListResult:
    rows: list[ConcernRow]
    total: int
    counts: dict[str, int] = field(default_factory=dict)


async def _unit_path(db: AsyncSession, viewer: Viewer, unit_id: int) -> str:
    unit = await db.get(OrgUnit, unit_id)
    if unit is None or not unit.path.startswith(viewer.unit_path):
        raise NotFound("找不到该单位，或它不在您的管辖范围内。")
    return unit.path


async def _filtered(  # type: ignore[no-untyped-def]
    db: AsyncSession, viewer: Viewer, list_name: str, f: Filters, today: date, calendar: WorkCalendar
):
    if list_name not in LIST_STATES:
        raise AppError("未知的清单，请选择问题清单、任务清单或效果清单。", 400)
    stmt = scoped_concerns(viewer).where(Concern.state.in_(LIST_STATES[list_name]))  # type: ignore[attr-defined]
    if f.unit_id:
        stmt = stmt.where(OrgUnit.path.startswith(await _unit_path(db, viewer, f.unit_id)))  # type: ignore[attr-defined]
    if f.village_id:
        stmt = stmt.where(or_(Target.id == f.village_id, Target.village_id == f.village_id))
    if f.start or f.end:
        start, end = period_bounds_utc(f.start or date(2000, 1, 1), f.end or today)
        stmt = stmt.where(Concern.created_at >= start, Concern.created_at < end)
    if f.category:
        stmt = stmt.where(Concern.category == f.category)
    if f.owner_id:
        stmt = stmt.where(Concern.owner_id == f.owner_id)
    if f.status == "overdue":
        stmt = stmt.where(Concern.state.in_(OPEN_STATES), Concern.deadline < today)  # type: ignore[attr-defined]
    elif f.status == "escalated":
        stmt = stmt.where(Concern.escalated_unit_id == viewer.unit_id, Concern.state.in_(OPEN_STATES))  # type: ignore[attr-defined]
    elif f.status == "due_soon":
        soon = calendar.add_working_days(today, DUE_SOON_WORKING_DAYS)
        stmt = stmt.where(Concern.state.in_(OPEN_STATES), Concern.deadline >= today, Concern.deadline <= soon)  # type: ignore[attr-defined,operator]
    return stmt


async def list_concerns(
    db: AsyncSession, viewer: Viewer, list_name: str, f: Filters, *, page: int = 1, limit: int | None = PAGE_SIZE
) -> ListResult:
    """One of the three lists. ``counts`` are per state over the filtered set (before the state filter)."""
    today = local_today()
    calendar = await load_calendar(db)
    stmt = await _filtered(db, viewer, list_name, f, today, calendar)
    counts: dict[str, int] = {}
    sub = stmt.with_only_columns(Concern.state, Concern.deadline).subquery()
    for state, deadline, n in (
        await db.execute(select(sub.c.state, sub.c.deadline, func.count()).group_by(sub.c.state, sub.c.deadline))
    ).all():
        counts[state] = counts.get(state, 0) + n
        if state in OPEN_STATES and deadline is not None and deadline < today:
            counts["overdue"] = counts.get("overdue", 0) + n
    if f.state:
        stmt = stmt.where(Concern.state == f.state)
    stmt = stmt.order_by(Concern.created_at.desc(), Concern.id.desc())  # type: ignore[attr-defined]
    if limit is not None:
        stmt = stmt.limit(limit).offset((max(page, 1) - 1) * limit)
    rows = [ConcernRow(c, t, u) for c, t, u in (await db.execute(stmt)).all()]
    await decorate(db, rows, today, calendar)
    total = sum(n for s, n in counts.items() if s != "overdue" and (not f.state or s == f.state))
    return ListResult(rows, total, counts)


async def decorate(db: AsyncSession, rows: list[ConcernRow], today: date, calendar: WorkCalendar) -> None:
    """Fill village, owner and raiser names and the deadline status with two queries."""
    user_ids = {r.concern.owner_id for r in rows} | {r.concern.raised_by_id for r in rows}
    users = {}
    if user_ids - {None}:
        users = {u.id: u.display_name for u in await db.scalars(select(User).where(User.id.in_(user_ids - {None})))}  # type: ignore[attr-defined]
    village_ids = {r.target.village_id for r in rows if r.target.village_id}
    villages = {}
    if village_ids:
        villages = {t.id: t.name for t in await db.scalars(select(Target).where(Target.id.in_(village_ids)))}  # type: ignore[attr-defined]
    for r in rows:
        r.village = r.target.name if r.target.kind == "village" else villages.get(r.target.village_id, "")  # type: ignore[arg-type]
        r.owner = users.get(r.concern.owner_id, "")  # type: ignore[arg-type]
        r.raised_by = users.get(r.concern.raised_by_id, "")
        r.status = deadline_status(r.concern, today, calendar)


async def escalated_here(db: AsyncSession, viewer: Viewer) -> int:
    """Open items escalated to the viewer's own unit (上级督办)."""
    stmt = scoped_concerns(viewer).where(
        Concern.escalated_unit_id == viewer.unit_id,
        Concern.state.in_(OPEN_STATES),  # type: ignore[attr-defined]
    )
    sub = stmt.with_only_columns(Concern.id).subquery()
    return int(await db.scalar(select(func.count()).select_from(sub)) or 0)


async def my_reminders(db: AsyncSession, viewer: Viewer) -> dict[str, int]:
    """The viewer's own open items (as 责任人): how many in hand, 即将到期 and 已超期."""
    today = local_today()
    soon = (await load_calendar(db)).add_working_days(today, DUE_SOON_WORKING_DAYS)
    rows = await db.execute(
        select(Concern.deadline).where(Concern.owner_id == viewer.id, Concern.state.in_(OPEN_STATES))  # type: ignore[attr-defined]
    )
    deadlines = [d for (d,) in rows.all()]
    return {
        "open": len(deadlines),
        "due_soon": sum(1 for d in deadlines if d is not None and today <= d <= soon),
        "overdue": sum(1 for d in deadlines if d is not None and d < today),
    }


@dataclass
class MonthlyReview:
    unit: OrgUnit
    month: date
    new: int
    closed: int
    overdue: int
    reopened: int
    rated: int
    satisfied: int
    by_category: dict[str, int]
    to_discuss: list[ConcernRow]

    @property
    def satisfaction_rate(self) -> str:
        return f"{self.satisfied * 100 / self.rated:.0f}%" if self.rated else "—"


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first, last


async def monthly_review(db: AsyncSession, viewer: Viewer, unit_id: int | None, month: date) -> MonthlyReview:
    """每月专题研究: what came in, what was closed, overdue, reopened, satisfaction, and what to discuss."""
    unit = await db.get(OrgUnit, unit_id or viewer.unit_id)
    if unit is None or not unit.path.startswith(viewer.unit_path):
        raise NotFound("找不到该单位，或它不在您的管辖范围内。")
    first, last = month_bounds(month)
    start, end = period_bounds_utc(first, last)
    today = min(local_today(), last)
    base = scoped_concerns(viewer).where(OrgUnit.path.startswith(unit.path))  # type: ignore[attr-defined]

    async def count(*where) -> int:  # type: ignore[no-untyped-def]
        sub = base.where(*where).with_only_columns(Concern.id).subquery()
        return int(await db.scalar(select(func.count()).select_from(sub)) or 0)

    new = await count(Concern.created_at >= start, Concern.created_at < end)
    closed_at = func.coalesce(Concern.closed_at, Concern.updated_at)  # rows closed before the ledger kept closed_at
    closed = await count(Concern.state == S.closed, closed_at >= start, closed_at < end)
    overdue = await count(Concern.state.in_(OPEN_STATES), Concern.deadline < today)  # type: ignore[attr-defined,union-attr,operator]
    ids = base.with_only_columns(Concern.id).subquery()
    reopened = int(
        await db.scalar(
            select(func.count(func.distinct(ConcernEvent.concern_id))).where(
                ConcernEvent.concern_id.in_(select(ids.c.id)),  # type: ignore[attr-defined]
                ConcernEvent.at >= start,
                ConcernEvent.at < end,
                ConcernEvent.from_state == S.closed,
                ConcernEvent.to_state == S.in_progress,
            )
        )
        or 0
    )
    rated = await count(Concern.rated_at >= start, Concern.rated_at < end)  # type: ignore[operator]
    satisfied = await count(
        Concern.rated_at >= start,
        Concern.rated_at < end,
        Concern.rating.in_(("satisfied", "basic")),  # type: ignore[union-attr,operator]
    )
    sub = (
        base.where(Concern.created_at >= start, Concern.created_at < end).with_only_columns(Concern.category).subquery()
    )
    by_category = {
        c: n for c, n in (await db.execute(select(sub.c.category, func.count()).group_by(sub.c.category))).all()
    }
    discuss_stmt = (
        base.where(
            or_(
                Concern.state.in_(OPEN_STATES) & (Concern.deadline < today),  # type: ignore[attr-defined,operator]
                Concern.escalated_unit_id.is_not(None) & Concern.state.in_(OPEN_STATES),  # type: ignore[union-attr,attr-defined]
                Concern.state == S.pending_review,
                Concern.level == "village_major",
                Concern.level == "higher",
                Concern.reopen_count > 0,
            ),
            Concern.state != S.closed,
        )
        .order_by(Concern.deadline, Concern.id)
        .limit(200)
    )  # type: ignore[arg-type]
    rows = [ConcernRow(c, t, u) for c, t, u in (await db.execute(discuss_stmt)).all()]
    await decorate(db, rows, local_today(), await load_calendar(db))
    return MonthlyReview(unit, first, new, closed, overdue, reopened, rated, satisfied, by_category, rows)


def parse_month(raw: str | None) -> date:
    if not raw:
        return local_today().replace(day=1)
    try:
        return datetime.strptime(raw, "%Y-%m").date()
    except ValueError:
        raise AppError("月份格式应为 2025-03。", 400) from None
