"""The three full coverages (三个全覆盖) for a unit and a window, rolled up to the unit's children.

* 空间 space: targets (all kinds) visited, checked in at, or — for villages — with any visit inside,
  during the window, over all targets of the subtree; also per target kind.
* 时间 time: of the visits the rules required in their own periods (week/month/quarter/year) that
  end inside the window (the obligations due in it, as for quotas), the share made within their
  period (a target visited more often than required counts once per required visit).
* 人员 people: cadres and leaders of the subtree who went down at least once in the window and met
  their quota (``quota.QuotaResult.met``), over all cadres and leaders.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.coverage import periods
from server.coverage.compute import space_rows, users_in
from server.coverage.quota import QuotaResult, TallyCache, quotas
from server.coverage.rules import RuleSet, rules_for
from server.db import Job, share_out, side_session

FIELD_ROLES = ("cadre", "leader")
KIND_ORDER = ("village", "household", "enterprise", "driver", "project")
TALLY_PARTS = 8  # with a side connection, each tally in up to this many parts by user id (they balance the two)
PART_USERS = 100  # … of at least this many users: a small scope's tally stays one query


@dataclass
class Ratio:
    covered: int = 0
    total: int = 0

    def add(self, covered: int, total: int) -> None:
        self.covered += covered
        self.total += total

    @property
    def pct(self) -> float | None:
        return round(100.0 * self.covered / self.total, 1) if self.total else None

    def as_dict(self) -> dict[str, object]:
        return {"covered": self.covered, "total": self.total, "pct": self.pct}


@dataclass
class Coverage:
    """The three numbers for one unit (or the whole report)."""

    space: Ratio = field(default_factory=Ratio)
    time: Ratio = field(default_factory=Ratio)
    people: Ratio = field(default_factory=Ratio)
    space_by_kind: dict[str, Ratio] = field(default_factory=dict)

    def add_space(self, kind: str, covered: int, total: int) -> None:
        self.space.add(covered, total)
        self.space_by_kind.setdefault(kind, Ratio()).add(covered, total)

    def as_dict(self) -> dict[str, object]:
        kinds = sorted(self.space_by_kind, key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else 99)
        return {
            "space": self.space.as_dict(),
            "time": self.time.as_dict(),
            "people": self.people.as_dict(),
            "space_by_kind": {k: self.space_by_kind[k].as_dict() for k in kinds},
        }


@dataclass
class Person:
    id: int
    name: str
    role: str
    unit_id: int
    quota: QuotaResult
    slots: Ratio = field(default_factory=Ratio)


@dataclass
class ChildRow:
    """A direct child unit's numbers, or (``own``) those of the unit's own targets and people (本级)."""

    unit: OrgUnit
    coverage: Coverage = field(default_factory=Coverage)
    own: bool = False

    @property
    def empty(self) -> bool:
        return not (self.coverage.space.total or self.coverage.people.total)


@dataclass
class Report:
    unit: OrgUnit
    first: date
    last: date
    ruleset: RuleSet
    total: Coverage
    children: list[ChildRow]
    persons: list[Person]


def child_of(unit: OrgUnit, units: dict[int, OrgUnit]) -> dict[int, int]:
    """Map every unit id of the subtree to the id of ``unit``'s direct child it lies under (or itself)."""
    out: dict[int, int] = {}
    depth = unit.path.count("/") - 1
    for uid, u in units.items():
        parts = [p for p in u.path.split("/") if p]
        out[uid] = int(parts[depth]) if len(parts) > depth else int(unit.id)  # type: ignore[arg-type]
    return out


async def build_report(
    db: AsyncSession, unit: OrgUnit, first: date, last: date, *, today: date | None = None, children: bool = True
) -> Report:
    """Compute the report for ``unit``'s subtree (the caller has checked the viewer may see it).

    In a read session the space pass starts at once on a second connection; this one meanwhile reads
    the rules and units and works through the tallies' parts, which the second joins when its pass is
    done, so that both finish about together (docs/coverage.md, Performance)."""
    async with side_session(db) as side:
        space = asyncio.ensure_future(space_rows(side, unit.path, first, last)) if side else None
        try:
            ruleset = await rules_for(db, unit.path, first, last)
            units = {
                int(u.id): u  # type: ignore[arg-type]
                for u in (await db.scalars(select(OrgUnit).where(OrgUnit.path.startswith(unit.path)))).all()  # type: ignore[attr-defined]
            }
            cache = TallyCache(db, unit.path, today)
            jobs: list[Job] = [lambda session: _field_people(session, unit.path)]
            jobs += await cache.jobs(ruleset, first, last, TALLY_PARTS if side else 1, PART_USERS)
            helpers = [db, _free_after(space, side)] if space and side else [db]
            persons = await _people(db, (await share_out(helpers, jobs))[0], ruleset, first, last, cache)
            space_counts = await space if space else await space_rows(db, unit.path, first, last)
        finally:
            if space and not space.done():
                space.cancel()
                with suppress(asyncio.CancelledError):
                    await space
    under = child_of(unit, units)
    rows: dict[int, ChildRow] = {}
    if children:
        rows = {uid: ChildRow(u) for uid, u in units.items() if u.parent_id == unit.id}
        if rows:  # targets and people attached to the unit itself (e.g. a town's cadres) get a 本级 row
            rows[int(unit.id)] = ChildRow(unit, own=True)  # type: ignore[arg-type]
    total = Coverage()

    def row_of(unit_id: int) -> Coverage | None:
        row = rows.get(under.get(unit_id, -1))
        return row.coverage if row else None

    for unit_id, kind, n, covered in space_counts:
        total.add_space(kind, covered, n)
        if (cov := row_of(unit_id)) is not None:
            cov.add_space(kind, covered, n)
    for p in persons:
        for cov in (total, row_of(p.unit_id)):
            if cov is not None:
                cov.people.add(int(p.quota.met), 1)
                cov.time.add(p.slots.covered, p.slots.total)
    ordered = sorted(
        (r for r in rows.values() if not (r.own and r.empty)), key=lambda r: (r.own, r.unit.kind, r.unit.name)
    )
    return Report(unit, first, last, ruleset, total, ordered, persons)


async def _free_after(task: asyncio.Future[Any], session: AsyncSession) -> AsyncSession:
    """``session`` once ``task`` (its own work on it) is over, to help ``share_out`` with the rest; the
    task's error, if any, ends the sharing."""
    await task
    return session


async def _field_people(db: AsyncSession, unit_path: str) -> list[Any]:
    """(id, name, role, org_unit_id) of the subtree's active cadres and leaders."""
    rows = await db.execute(
        select(User.id, User.display_name, User.role, User.org_unit_id)
        .where(User.id.in_(users_in(unit_path)), User.role.in_(FIELD_ROLES))  # type: ignore[union-attr]
        .order_by(User.org_unit_id, User.display_name)
    )
    return list(rows.all())


async def _people(
    db: AsyncSession, people_rows: list[Any], ruleset: RuleSet, first: date, last: date, cache: TallyCache
) -> list[Person]:
    """The cadres and leaders with their quotas and their share of the required visits (slots)."""
    results = await quotas(db, ruleset, [int(r[0]) for r in people_rows], first, last, cache)
    persons = [Person(int(u), name, role, int(unit_id), results[int(u)]) for u, name, role, unit_id in people_rows]
    by_id = {p.id: p for p in persons}
    for rule in ruleset.of_metric("visit"):
        for span in periods.due_periods(rule.period, first, last, ruleset.span):
            for uid, tally in ((await cache.get(rule, span)) or {}).items():
                if tally.required and (person := by_id.get(uid)):
                    person.slots.add(tally.done, tally.required)
    return persons
