"""The SQL aggregates behind the coverage numbers. Each function answers one question for a whole
scope in one query (no per-target round trips), so a county of 150k households stays fast.

* ``visit_tally``: per responsible person, the visits a visit rule requires in one period and how many
  of them were made (a target visited more often than required counts only ``min_count``).
* ``meeting_tally``: per leader, village meetings attended in a period (None: no meeting data).
* ``space_rows``: per org unit and target kind, targets in scope and targets covered in a window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, case, distinct, exists, func, inspect, literal, or_, select, text
from sqlalchemy.orm import aliased
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.clock import period_bounds_utc
from server.coverage.models import CoverageRule, VisitedMonth
from server.coverage.periods import Span, whole_months
from server.places.models import CHECKIN_KINDS, Assignment, Target
from server.visits.models import CheckIn, Visit

Scope = int | str  # one user id, or an org unit path (everyone active under it)


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


def users_of(scope: Scope) -> Any:
    """Select of user ids for a scope (one user id, or everyone active under a unit path)."""
    return select(User.id).where(User.id == scope) if isinstance(scope, int) else users_in(scope)


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


def sql_time(db: AsyncSession, value: datetime) -> Any:
    """Bind value for a timestamp in raw SQL: aware on PostgreSQL, SQLAlchemy's stored text on SQLite."""
    if db.bind.dialect.name == "postgresql":
        return value
    return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


UserRange = tuple[int | None, int | None]  # user ids lo <= id < hi; None: unbounded on that side


def user_clause(user_ids: Scope, params: dict[str, Any], users: UserRange = (None, None)) -> str:
    """SQL condition on ``a.user_id`` for a scope: one person, or everyone under a unit path (those of
    them in ``users`` when given: the range narrows the subquery's list, so each part seeks only its own)."""
    if isinstance(user_ids, int):
        params["uid"] = user_ids
        return "a.user_id = :uid"
    params["path"] = user_ids + "%"
    narrow = ""
    for bound, op in zip(users, (">=", "<"), strict=True):
        if bound is not None:
            name = "ulo" if op == ">=" else "uhi"
            params[name] = bound
            narrow += f" AND u.id {op} :{name}"
    return (
        "a.user_id IN (SELECT u.id FROM user_account u JOIN org_unit o ON o.id = u.org_unit_id "
        f"WHERE o.path LIKE :path AND u.is_active{narrow})"
    )


async def visit_tally(
    db: AsyncSession, rule: CoverageRule, span: Span, ref_day: date, scope: Scope, users: UserRange = (None, None)
) -> dict[int, Tally]:
    """Per user: (Σ min_count over their targets, Σ min(visits in the period, min_count)); with ``users``,
    only for the scope's users in that id range (a part of the tally: the parts of a partition add up
    to the whole, since every assignment, and its repeats, belong to one user).

    Raw SQL on purpose: ``CROSS JOIN`` makes SQLite walk the assignments first and probe the visit
    index ``(target_id, visited_at, user_id)`` once per responsibility (PostgreSQL plans it freely).
    A target counts once however often it is assigned: the inner query groups the active assignments
    by (person, target). SQLite walks ``ix_assignment_user_target`` in that order, so for 包保 the groups
    stream without a sort and the visit probe runs once per group; this replaced a ``NOT EXISTS`` probe
    for an earlier repeat per assignment (the monthly county tally ≈ 205 → 180 ms, bench/RESULTS.md §4).
    """
    start, end = period_bounds_utc(*span)
    k = max(rule.min_count, 1)
    params: dict[str, Any] = {
        "s": sql_time(db, start),
        "e": sql_time(db, end),
        "ref": ref_day if db.bind.dialect.name == "postgresql" else ref_day.isoformat(),
        "k": k,
        "tkind": rule.target_kind,
        "akind": "lian" if rule.who in ("lian", "village_lian") else "bao",
    }
    target = "t.id" if rule.who == "village_lian" else "a.target_id"  # a 包村 leader answers for every household
    join = "t.village_id = a.target_id" if rule.who == "village_lian" else "t.id = a.target_id"
    extra = " AND t.is_key AND t.is_transport" if rule.target_filter == "key_transport" else ""
    visits = f"""FROM visit v WHERE v.target_id = {target} AND v.user_id = a.user_id
                   AND v.visited_at >= :s AND v.visited_at < :e"""
    if k == 1:  # the usual rule: one probe per responsibility, in index order
        done = f"CASE WHEN EXISTS (SELECT 1 {visits}) THEN 1 ELSE 0 END"
    else:  # scalar min: the count is computed once
        done = f"{'least' if db.bind.dialect.name == 'postgresql' else 'min'}((SELECT count(*) {visits}), :k)"
    sql = f"""SELECT user_id, count(*), sum(done) FROM (
                SELECT a.user_id AS user_id, {done} AS done FROM assignment a CROSS JOIN target t
                WHERE {join} AND a.kind = :akind AND t.kind = :tkind{extra}
                  AND a.start_date <= :ref AND (a.end_date IS NULL OR a.end_date >= :ref)
                  AND {user_clause(scope, params, users)}
                GROUP BY a.user_id, {target}) AS responsibility
              GROUP BY user_id"""
    rows = await db.execute(text(sql), params)
    return {int(uid): Tally(int(n) * k, int(d or 0)) for uid, n, d in rows.all()}


async def has_table(db: AsyncSession, name: str) -> bool:
    return bool(await db.run_sync(lambda s: inspect(s.connection()).has_table(name)))


async def meeting_tally(db: AsyncSession, rule: CoverageRule, span: Span, scope: Scope) -> dict[int, Tally] | None:
    """Per leader: meetings required and attended (capped at ``min_count``); None when the ledger's
    village meetings are not there (yet): the rule then reports 暂无数据."""
    try:
        from server.ledger.models import MeetingAttendee, VillageMeeting  # type: ignore[attr-defined]
    except ImportError:
        return None
    if not await has_table(db, "village_meeting") or not await has_table(db, "meeting_attendee"):
        return None
    leaders = select(User.id).where(User.role == "leader", User.id.in_(users_of(scope)))  # type: ignore[union-attr]
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


def covered_clause(first: date, last: date, target: Any = Target) -> Any:
    """SQL condition: ``target`` was covered in the window: visited; or, for places one checks in at,
    checked in at; or, for a village, any of its targets was visited. Correlated EXISTS probes on
    ``(target_id, time)`` indexes, so a scope costs one index seek per target."""
    start, end = period_bounds_utc(first, last)
    child = aliased(Target)
    return or_(
        exists(
            select(literal(1)).where(Visit.target_id == target.id, Visit.visited_at >= start, Visit.visited_at < end)
        ),
        and_(
            target.kind.in_(CHECKIN_KINDS),
            exists(
                select(literal(1)).where(
                    CheckIn.target_id == target.id, CheckIn.device_time >= start, CheckIn.device_time < end
                )
            ),
        ),
        and_(
            target.kind == "village",
            exists(
                select(literal(1))
                .where(child.village_id == target.id, Visit.target_id == child.id)
                .where(Visit.visited_at >= start, Visit.visited_at < end)
            ),
        ),
    )


async def space_rows(db: AsyncSession, unit_path: str, first: date, last: date) -> list[tuple[int, str, int, int]]:
    """(org_unit_id, kind, targets, covered) for every unit of the subtree that has targets.

    A window of whole months counts the households and drivers covered from ``visited_month`` (one index
    range per unit, kept by triggers); the places one checks in at and villages, whose coverage has more
    ways (a check-in, a household's visit), and any other window are probed per target."""
    units = select(OrgUnit.id).where(OrgUnit.path.startswith(unit_path))  # type: ignore[attr-defined]
    months = whole_months(first, last)
    if months is None:
        return await _probed_rows(db, first, last, Target.org_unit_id.in_(units))  # type: ignore[attr-defined]
    probed = await _probed_rows(db, first, last, Target.org_unit_id.in_(units), Target.kind.in_(CHECKIN_KINDS))  # type: ignore[attr-defined]
    totals = await db.execute(
        select(Target.org_unit_id, Target.kind, func.count())
        .where(Target.org_unit_id.in_(units), Target.kind.not_in(CHECKIN_KINDS))  # type: ignore[attr-defined]
        .group_by(Target.org_unit_id, Target.kind)
    )
    if months[0] == months[1]:  # one month: the key's order groups the rows, each target is there once
        visited, in_window = func.count(), VisitedMonth.month == months[0]
    else:
        visited, in_window = func.count(distinct(VisitedMonth.target_id)), VisitedMonth.month.between(*months)  # type: ignore[attr-defined]
    covered = await db.execute(
        select(VisitedMonth.org_unit_id, VisitedMonth.kind, visited)
        .where(in_window, VisitedMonth.org_unit_id.in_(units))  # type: ignore[attr-defined]
        .where(VisitedMonth.kind.not_in(CHECKIN_KINDS))  # type: ignore[attr-defined]
        .group_by(VisitedMonth.org_unit_id, VisitedMonth.kind)
    )
    done = {(int(u), str(k)): int(c) for u, k, c in covered.all()}
    return probed + [(int(u), str(k), int(n), done.get((int(u), str(k)), 0)) for u, k, n in totals.all()]


async def _probed_rows(db: AsyncSession, first: date, last: date, *where: Any) -> list[tuple[int, str, int, int]]:
    """The space rows of the targets ``where`` selects, one ``covered_clause`` probe per target. The units
    as an IN-list: SQLite seeks ``ix_target_unit_kind`` per unit instead of looking up each target's unit."""
    covered = case((covered_clause(first, last), 1), else_=0)
    rows = await db.execute(
        select(Target.org_unit_id, Target.kind, func.count(), func.sum(covered))
        .where(*where)
        .group_by(Target.org_unit_id, Target.kind)
    )
    return [(int(u), str(k), int(n), int(c or 0)) for u, k, n, c in rows.all()]
