"""The dashboard's lists: uncovered targets, 扎堆 (crowding), a leaf unit's targets, the calendar strip."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.clock import period_bounds_utc
from server.coverage import periods
from server.coverage.compute import active_on, covered_clause
from server.places.models import Assignment, Target
from server.visits.models import Visit

CROWD_FACTOR = 3  # "far beyond the rule": at least 3 visits per month of the window


def _in_subtree(unit_path: str) -> Any:
    return Target.org_unit_id.in_(select(OrgUnit.id).where(OrgUnit.path.startswith(unit_path)))  # type: ignore[attr-defined]


async def uncovered_targets(
    db: AsyncSession, unit_path: str, first: date, last: date, limit: int = 50
) -> list[tuple[Target, str]]:
    """The first ``limit`` targets of the subtree not covered in the window, with their unit's name, in
    (unit, kind) index order so the scan stops as soon as it has found them. (How many there are in
    all comes from the report: space total − covered.)"""
    rows = await db.execute(
        select(Target, OrgUnit.name)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(_in_subtree(unit_path), ~covered_clause(first, last))
        .order_by(Target.org_unit_id, Target.kind)
        .limit(limit)
    )
    return [(t, name) for t, name in rows.all()]


@dataclass
class Crowded:
    target: Target
    visits: int
    unit_name: str
    uncovered_in_unit: int


def crowd_threshold(first: date, last: date) -> int:
    return CROWD_FACTOR * len(periods.periods_overlapping("month", first, last))


async def crowding(db: AsyncSession, unit_path: str, first: date, last: date, limit: int = 30) -> list[Crowded]:
    """扎堆: targets visited at least ``crowd_threshold`` times in the window while targets of the same
    kind in the same unit were not visited at all."""
    start, end = period_bounds_utc(first, last)
    threshold = crowd_threshold(first, last)
    heavy = (
        select(Visit.target_id, func.count().label("n"))
        .where(Visit.visited_at >= start, Visit.visited_at < end)
        .group_by(Visit.target_id)
        .having(func.count() >= threshold)
        .subquery()
    )
    rows = (
        await db.execute(
            select(Target, heavy.c.n, OrgUnit.name)
            .join(heavy, heavy.c.target_id == Target.id)
            .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
            .where(_in_subtree(unit_path))
            .order_by(heavy.c.n.desc())
        )
    ).all()
    out: list[Crowded] = []
    gaps: dict[tuple[int, str], int] = {}
    for target, n, unit_name in rows:
        key = (target.org_unit_id, target.kind)
        if key not in gaps:
            gaps[key] = int(
                await db.scalar(
                    select(func.count())
                    .select_from(Target)
                    .where(
                        Target.org_unit_id == target.org_unit_id,
                        Target.kind == target.kind,
                        ~covered_clause(first, last),
                    )
                )
                or 0
            )
        if gaps[key]:
            out.append(Crowded(target, int(n), unit_name, gaps[key]))
        if len(out) >= limit:
            break
    return out


@dataclass
class TargetRow:
    target: Target
    visits: int
    last_visit: datetime | None
    assignees: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.visits:
            return "visited"
        return "due" if self.last_visit else "never"


async def unit_targets(db: AsyncSession, unit: OrgUnit, first: date, last: date, limit: int = 1000) -> list[TargetRow]:
    """A leaf unit's own targets with visits in the window, the last visit and who is assigned."""
    start, end = period_bounds_utc(first, last)
    in_window = (
        select(func.count())
        .where(Visit.target_id == Target.id, Visit.visited_at >= start, Visit.visited_at < end)
        .scalar_subquery()
    )
    last_visit = select(func.max(Visit.visited_at)).where(Visit.target_id == Target.id, Visit.visited_at < end)
    rows = (
        await db.execute(
            select(Target, in_window, last_visit.scalar_subquery())
            .where(Target.org_unit_id == unit.id)
            .order_by(Target.kind != "village", Target.kind, Target.name)
            .limit(limit)
        )
    ).all()
    result = {t.id: TargetRow(t, int(n or 0), lv) for t, n, lv in rows}
    names = await db.execute(
        select(Assignment.target_id, User.display_name)
        .join(User, User.id == Assignment.user_id)
        .where(Assignment.target_id.in_(list(result)), active_on(last))  # type: ignore[union-attr,arg-type]
        .order_by(User.display_name)
    )
    for target_id, name in names.all():
        result[target_id].assignees.append(name)
    return list(result.values())


@dataclass
class StripRow:
    label: str
    counts: list[int]
    gaps: int = 0  # days up to today without a visit


def local_day_sql(db: AsyncSession) -> str:
    """SQL for the Asia/Shanghai calendar day of ``visit.visited_at`` (UTC+8, no daylight saving)."""
    if db.bind.dialect.name == "postgresql":
        return "to_char(v.visited_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
    return "date(v.visited_at, '+8 hours')"


async def strip(
    db: AsyncSession, unit: OrgUnit, first: date, last: date, today: date
) -> tuple[list[date], list[StripRow]]:
    """Visits per local day for each field worker of the unit's subtree (rows) over the window's days
    (at most 62): the calendar strip whose empty cells are the gaps."""
    last = min(last, first + timedelta(days=61))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    start, end = period_bounds_utc(first, last)
    sql = text(
        f"SELECT v.user_id, {local_day_sql(db)} AS d, count(*) FROM visit v "
        "WHERE v.visited_at >= :s AND v.visited_at < :e AND v.user_id IN "
        "(SELECT u.id FROM user_account u JOIN org_unit o ON o.id = u.org_unit_id "
        " WHERE o.path LIKE :p AND u.role IN ('cadre', 'leader') AND u.is_active) "
        "GROUP BY v.user_id, d"
    )
    is_pg = db.bind.dialect.name == "postgresql"
    bind_s = start if is_pg else start.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    bind_e = end if is_pg else end.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    counts: dict[int, dict[str, int]] = {}
    for uid, d, n in (await db.execute(sql, {"s": bind_s, "e": bind_e, "p": unit.path + "%"})).all():
        counts.setdefault(int(uid), {})[str(d)] = int(n)
    people = (
        await db.execute(
            select(User.id, User.display_name)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(OrgUnit.path.startswith(unit.path), User.role.in_(("cadre", "leader")), User.is_active.is_(True))  # type: ignore[attr-defined]
            .order_by(OrgUnit.path, User.display_name)
        )
    ).all()
    rows = []
    for uid, name in people:
        mine = counts.get(int(uid), {})
        values = [mine.get(d.isoformat(), 0) for d in days]
        rows.append(StripRow(name, values, sum(1 for d, n in zip(days, values, strict=True) if d <= today and not n)))
    rows.sort(key=lambda r: -r.gaps)  # most gaps first (stable: unit order otherwise)
    return days, rows
