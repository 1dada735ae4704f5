"""The SQL aggregates behind the coverage numbers. Each function answers one question for a whole
scope in one query (no per-target round trips), so a county of 150k households stays fast.

* ``visit_tally``: per responsible person, the visits a visit rule requires in one period and how many
  of them were made (a target visited more often than required counts only ``min_count``).
* ``meeting_tally``: per leader, village meetings attended in a period (None: no meeting data).
* ``space_rows``: per org unit and target kind, targets in scope and targets covered in a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, case, distinct, func, inspect, literal, or_, select, union
from sqlalchemy.orm import aliased
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.clock import period_bounds_utc
from server.coverage.models import CoverageRule
from server.coverage.periods import Span
from server.places.models import Assignment, Target
from server.visits.models import CheckIn, Visit


@dataclass
class Tally:
    required: int = 0
    done: int = 0

    def add(self, other: Tally) -> None:
        self.required += other.required
        self.done += other.done

    @property
    def met(self) -> bool:
        return self.done >= self.required


def users_in(unit_path: str) -> Any:
    """Select of the ids of active users whose org unit lies in the subtree ``unit_path``."""
    return (
        select(User.id)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(OrgUnit.path.startswith(unit_path), User.is_active.is_(True))  # type: ignore[attr-defined]
    )


def active_on(day: date) -> Any:
    return and_(
        Assignment.start_date <= day,
        or_(Assignment.end_date.is_(None), Assignment.end_date >= day),  # type: ignore[union-attr]
    )


def target_filter(rule: CoverageRule, target: Any) -> list[Any]:
    conditions = [target.kind == rule.target_kind]
    if rule.target_filter == "key_transport":
        conditions += [target.is_key.is_(True), target.is_transport.is_(True)]
    return conditions


def responsibility_pairs(rule: CoverageRule, ref_day: date, user_ids: Any) -> Any:
    """Distinct (user_id, target_id) a visit rule makes someone responsible for on ``ref_day``."""
    if rule.who == "village_lian":  # the village's 联系 leader answers for the village's targets
        stmt = select(Assignment.user_id, Target.id.label("target_id")).join(  # type: ignore[union-attr]
            Target, Target.village_id == Assignment.target_id
        )
        kind = "lian"
    else:
        stmt = select(Assignment.user_id, Assignment.target_id).join(Target, Target.id == Assignment.target_id)
        kind = rule.who
    return (
        stmt.where(
            Assignment.kind == kind, active_on(ref_day), Assignment.user_id.in_(user_ids), *target_filter(rule, Target)
        )
        .distinct()
        .subquery()
    )


async def visit_tally(
    db: AsyncSession, rule: CoverageRule, span: Span, ref_day: date, user_ids: Any
) -> dict[int, Tally]:
    """Per user: (Σ min_count over their targets, Σ min(visits in the period, min_count))."""
    pairs = responsibility_pairs(rule, ref_day, user_ids)
    start, end = period_bounds_utc(*span)
    visits = (
        select(func.count())
        .where(
            Visit.target_id == pairs.c.target_id,
            Visit.user_id == pairs.c.user_id,
            Visit.visited_at >= start,
            Visit.visited_at < end,
        )
        .correlate(pairs)
        .scalar_subquery()
    )
    k = max(rule.min_count, 1)
    done = case((visits >= k, literal(k)), else_=visits)
    rows = await db.execute(select(pairs.c.user_id, func.count(), func.sum(done)).group_by(pairs.c.user_id))
    return {uid: Tally(int(n) * k, int(d or 0)) for uid, n, d in rows.all()}


async def has_table(db: AsyncSession, name: str) -> bool:
    return bool(await db.run_sync(lambda s: inspect(s.connection()).has_table(name)))


async def meeting_tally(db: AsyncSession, rule: CoverageRule, span: Span, user_ids: Any) -> dict[int, Tally] | None:
    """Per leader: meetings required and attended (capped at ``min_count``); None when the ledger's
    village meetings are not there (yet): the rule then reports 暂无数据."""
    try:
        from server.ledger.models import MeetingAttendee, VillageMeeting  # type: ignore[attr-defined]
    except ImportError:
        return None
    if not await has_table(db, "village_meeting") or not await has_table(db, "meeting_attendee"):
        return None
    leaders = select(User.id).where(User.role == "leader", User.id.in_(user_ids))  # type: ignore[union-attr]
    attended = dict(
        (
            await db.execute(
                select(MeetingAttendee.user_id, func.count(distinct(VillageMeeting.id)))
                .join(VillageMeeting, VillageMeeting.id == MeetingAttendee.meeting_id)
                .where(
                    MeetingAttendee.user_id.in_(leaders),  # type: ignore[union-attr]
                    VillageMeeting.held_on >= span[0],
                    VillageMeeting.held_on <= span[1],
                )
                .group_by(MeetingAttendee.user_id)
            )
        ).all()
    )
    k = rule.min_count
    return {int(uid): Tally(k, min(int(attended.get(uid, 0)), k)) for uid in (await db.scalars(leaders)).all()}


def covered_ids(first: date, last: date) -> Any:
    """Ids of targets covered in the window: visited, checked in at, or a village where someone visited."""
    start, end = period_bounds_utc(first, last)
    in_window = and_(Visit.visited_at >= start, Visit.visited_at < end)
    visited = select(Visit.target_id).where(in_window)
    child = aliased(Target)
    villages = (
        select(child.village_id)
        .join(Visit, Visit.target_id == child.id)
        .where(in_window, child.village_id.is_not(None))  # type: ignore[union-attr]
    )
    checked_in = select(CheckIn.target_id).where(CheckIn.device_time >= start, CheckIn.device_time < end)
    return union(visited, villages, checked_in)


async def space_rows(db: AsyncSession, unit_path: str, first: date, last: date) -> list[tuple[int, str, int, int]]:
    """(org_unit_id, kind, targets, covered) for every unit of the subtree that has targets."""
    covered = case((Target.id.in_(covered_ids(first, last)), 1), else_=0)  # type: ignore[union-attr]
    rows = await db.execute(
        select(Target.org_unit_id, Target.kind, func.count(), func.sum(covered))
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(OrgUnit.path.startswith(unit_path))  # type: ignore[attr-defined]
        .group_by(Target.org_unit_id, Target.kind)
    )
    return [(int(u), str(k), int(n), int(c or 0)) for u, k, n, c in rows.all()]
