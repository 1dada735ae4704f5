"""不漏不重: assignment warnings from the rules: targets nobody answers for, targets with more than one
assignee where the rule wants exactly one, and leaders who link too few or too many targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.coverage.compute import active_on, target_filter
from server.coverage.models import WHO_LABELS, CoverageRule
from server.coverage.rules import RuleSet
from server.places.models import TARGET_KIND_LABELS, Assignment, Target

LIST_LIMIT = 100


@dataclass
class TargetWarning:
    target: Target
    unit_name: str
    assignees: list[str]


@dataclass
class PersonWarning:
    user_id: int
    name: str
    count: int


@dataclass
class RuleCheck:
    """The outcome of one rule: ``missed`` (nobody), ``doubled`` (more than allowed), ``people`` out of range."""

    rule: CoverageRule
    missed: list[TargetWarning] = field(default_factory=list)
    missed_count: int = 0
    doubled: list[TargetWarning] = field(default_factory=list)
    people: list[PersonWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missed_count or self.doubled or self.people)


async def _target_checks(db: AsyncSession, rule: CoverageRule, unit_path: str, day: date) -> RuleCheck:
    kind = "bao" if rule.who == "bao" else "lian"
    # village_lian: the responsibility sits on the village, so check that every village has a 联系 leader.
    conditions = [Target.kind == "village"] if rule.who == "village_lian" else target_filter(rule, Target)
    holders = (
        select(Assignment.target_id, func.count(func.distinct(Assignment.user_id)).label("n"))
        .where(Assignment.kind == kind, active_on(day))
        .group_by(Assignment.target_id)
        .subquery()
    )
    n = func.coalesce(holders.c.n, 0)
    base = (
        select(Target, OrgUnit.name, n)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .outerjoin(holders, holders.c.target_id == Target.id)
        .where(OrgUnit.path.startswith(unit_path), *conditions)  # type: ignore[attr-defined]
    )
    check = RuleCheck(rule)
    missed_q = base.where(n == 0)
    check.missed_count = int(await db.scalar(select(func.count()).select_from(missed_q.subquery())) or 0)
    check.missed = [
        TargetWarning(t, unit_name, [])
        for t, unit_name, _ in (await db.execute(missed_q.order_by(OrgUnit.path, Target.name).limit(LIST_LIMIT))).all()
    ]
    if rule.max_count is not None:
        doubled = (await db.execute(base.where(n > rule.max_count).order_by(OrgUnit.path, Target.name))).all()
        for t, unit_name, _ in doubled:
            names = await db.scalars(
                select(User.display_name)
                .join(Assignment, Assignment.user_id == User.id)
                .where(Assignment.target_id == t.id, Assignment.kind == kind, active_on(day))
                .order_by(User.display_name)
                .distinct()
            )
            check.doubled.append(TargetWarning(t, unit_name, list(names.all())))
    return check


async def _link_checks(db: AsyncSession, rule: CoverageRule, unit_path: str, day: date) -> RuleCheck:
    linked = (
        select(Assignment.user_id, func.count(func.distinct(Assignment.target_id)).label("n"))
        .join(Target, Target.id == Assignment.target_id)
        .where(Assignment.kind == "lian", active_on(day), *target_filter(rule, Target))
        .group_by(Assignment.user_id)
        .subquery()
    )
    n = func.coalesce(linked.c.n, 0)
    rows = await db.execute(
        select(User.id, User.display_name, n)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .outerjoin(linked, linked.c.user_id == User.id)
        .where(OrgUnit.path.startswith(unit_path), User.role == "leader", User.is_active.is_(True))  # type: ignore[attr-defined]
        .order_by(OrgUnit.path, User.display_name)
    )
    check = RuleCheck(rule)
    for uid, name, count in rows.all():
        if count < rule.min_count or (rule.max_count is not None and count > rule.max_count):
            check.people.append(PersonWarning(int(uid), name, int(count)))
    return check


async def assignment_checks(db: AsyncSession, ruleset: RuleSet, unit_path: str, day: date) -> list[RuleCheck]:
    """One RuleCheck per rule that concerns assignments: exactly-one, links, and the visit rules' targets
    without anyone responsible."""
    checks = []
    for rule in ruleset.rules:
        if rule.metric in ("exactly_one", "visit"):
            checks.append(await _target_checks(db, rule, unit_path, day))
        elif rule.metric == "links":
            checks.append(await _link_checks(db, rule, unit_path, day))
    return checks


def describe(rule: CoverageRule) -> str:
    kind = TARGET_KIND_LABELS.get(rule.target_kind, rule.target_kind)  # type: ignore[call-overload]
    return f"{kind} · {WHO_LABELS.get(rule.who, rule.who)}"  # type: ignore[call-overload]
