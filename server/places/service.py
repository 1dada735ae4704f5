"""Targets in the viewer's scope, the cadre's assignments, nearest first, and what is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.accounts.service import Viewer
from server.clock import local_today, utcnow
from server.errors import NotFound
from server.geo import distance_m
from server.places.models import Assignment, Target
from server.visits.models import Visit

# Visiting rhythm per kind (days) for the "due" badge on 今日 where no coverage rule asks for visits.
DUE_AFTER_DAYS = {"household": 30, "village": 7, "enterprise": 30, "driver": 30, "project": 30}


@dataclass
class MyTarget:
    """One of my targets. ``due_since``: when a coverage rule asks me to visit it every period, the start of
    the current period (a visit before it does not count); None: the rolling ``DUE_AFTER_DAYS``."""

    target: Target
    assignment_kind: str
    last_visit: datetime | None
    distance_m: float | None
    due_since: datetime | None = None
    period_words: str = ""  # 本月, 本周 …: the period ``due`` refers to

    @property
    def due(self) -> bool:
        if self.last_visit is None:
            return True
        if self.due_since is not None:
            return self.last_visit < self.due_since
        days = DUE_AFTER_DAYS.get(self.target.kind, 30)
        return utcnow() - self.last_visit > timedelta(days=days)


def in_scope_clause(viewer: Viewer):  # type: ignore[no-untyped-def]
    """SQL condition: the target's org unit lies in the viewer's subtree (join OrgUnit first)."""
    return OrgUnit.path.startswith(viewer.unit_path)  # type: ignore[attr-defined]


def active_assignment_clause(day: date):  # type: ignore[no-untyped-def]
    return and_(
        Assignment.start_date <= day,
        or_(Assignment.end_date.is_(None), Assignment.end_date >= day),  # type: ignore[union-attr]
    )


async def get_target(db: AsyncSession, viewer: Viewer, target_id: int) -> Target:
    """A target in the viewer's scope, else 404 (the same answer whether it exists elsewhere or not)."""
    target = await db.scalar(
        select(Target)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(Target.id == target_id, in_scope_clause(viewer))
    )
    if target is None:
        raise NotFound("找不到该走访对象，或它不在您的管辖范围内。")
    return target


async def is_assigned(db: AsyncSession, user_id: int, target_id: int, day: date | None = None) -> bool:
    found = await db.scalar(
        select(Assignment.id).where(
            Assignment.user_id == user_id,
            Assignment.target_id == target_id,
            active_assignment_clause(day or local_today()),
        )
    )
    return found is not None


async def my_targets(
    db: AsyncSession,
    viewer: Viewer,
    *,
    lat: float | None = None,
    lon: float | None = None,
    query: str = "",
    kind: str = "",
    limit: int = 300,
    due_since: dict[tuple[str, str], tuple[datetime, str]] | None = None,
) -> list[MyTarget]:
    """My active assignments with my last visit; nearest first when a position is given. ``due_since``:
    (target kind, assignment kind) → (start of the current period, its words), from the coverage rules."""
    last_visit = (
        select(Visit.target_id, func.max(Visit.visited_at).label("last"))
        .where(Visit.user_id == viewer.id)
        .group_by(Visit.target_id)
        .subquery()
    )
    stmt = (
        select(Target, Assignment.kind, last_visit.c.last)
        .join(Assignment, Assignment.target_id == Target.id)
        .outerjoin(last_visit, last_visit.c.target_id == Target.id)
        .where(Assignment.user_id == viewer.id, active_assignment_clause(local_today()))
    )
    if query:
        like = f"%{query.strip()}%"
        stmt = stmt.where(or_(Target.name.like(like), Target.head_name.like(like), Target.plate.like(like)))  # type: ignore[union-attr]
    if kind:
        stmt = stmt.where(Target.kind == kind)
    rows = (await db.execute(stmt.order_by(Target.kind, Target.name).limit(limit))).all()
    items: dict[int, MyTarget] = {}
    for target, assignment_kind, last in rows:
        if target.id in items:
            continue
        dist = None
        if lat is not None and lon is not None and target.lat is not None and target.lon is not None:
            dist = distance_m(lat, lon, target.lat, target.lon)
        since, words = (due_since or {}).get((target.kind, assignment_kind), (None, ""))
        items[target.id] = MyTarget(target, assignment_kind, last, dist, since, words)
    result = list(items.values())
    if lat is not None and lon is not None:
        result.sort(key=lambda t: (t.distance_m is None, t.distance_m or 0.0))
    return result


async def village_name(db: AsyncSession, target: Target) -> str:
    if target.village_id is None:
        return target.name if target.kind == "village" else ""
    return await db.scalar(select(Target.name).where(Target.id == target.village_id)) or ""


def display_name(target: Target) -> str:
    """How a target is named in lists: households by their head (户主)."""
    if target.kind == "household" and target.head_name:
        return f"{target.head_name}户"
    return target.name
