"""Quotas: what the coverage rules require of each person for a window, and what they did.

An obligation of a rule is due at the end of each of its periods (clipped to the campaign), so a
window counts the periods that *end* inside it: October holds the October household visits; December
also holds the fourth quarter and the year. Visits are counted over the whole period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import User
from server.clock import local_today, period_bounds_utc
from server.coverage import periods
from server.coverage.compute import Scope, Tally, UserRange, meeting_tally, users_of, visit_tally
from server.coverage.models import CoverageRule
from server.coverage.rules import RuleSet
from server.db import Job
from server.visits.models import Visit

NO_DATA = "暂无数据"


@dataclass
class QuotaLine:
    """One rule in one period for one person; ``required`` None means the data is not there (暂无数据)."""

    label: str
    period: str
    required: int | None
    done: int | None

    @property
    def status(self) -> str:
        if self.required is None:
            return NO_DATA
        return "已完成" if (self.done or 0) >= self.required else "未完成"


@dataclass
class QuotaResult:
    """A person's quota for ``first..last``: required visits/meetings, done, and whether it is met.

    ``met`` = went down at least once in the window (``visits`` > 0) and ``done >= required``.
    Rules without data (暂无数据) are listed in ``lines`` but count neither way.
    """

    user_id: int
    first: date
    last: date
    required: int = 0
    done: int = 0
    visits: int = 0
    lines: list[QuotaLine] = field(default_factory=list)

    @property
    def went_down(self) -> bool:
        return self.visits > 0

    @property
    def met(self) -> bool:
        return self.went_down and self.done >= self.required

    @property
    def ratio(self) -> float:
        return self.done / self.required if self.required else 1.0


class TallyCache:
    """Tallies per (rule, period) and visit counts per window for a whole scope, computed once and shared
    by all numbers. ``jobs`` computes them ahead, in parts that several sessions can share (``db.share_out``)."""

    def __init__(self, db: AsyncSession, scope: Scope, today: date | None = None) -> None:
        self.db = db
        self.scope = scope
        self.user_ids = users_of(scope)
        self.today = today or local_today()
        self._cache: dict[tuple[int, Any, periods.Span], dict[int, Tally] | None] = {}
        self._visits: dict[tuple[date, date], dict[int, int]] = {}

    def _ref_day(self, span: periods.Span) -> date:
        return min(span[1], self.today)

    async def get(self, rule: CoverageRule, span: periods.Span) -> dict[int, Tally] | None:
        key = (id(rule), rule.id, span)
        if key not in self._cache:
            if rule.metric == "meeting":
                self._cache[key] = await meeting_tally(self.db, rule, span, self.scope)
            else:
                self._cache[key] = await visit_tally(self.db, rule, span, self._ref_day(span), self.scope)
        return self._cache[key]

    async def visit_counts(self, first: date, last: date) -> dict[int, int]:
        """Per user of the scope: visits made in ``first..last``."""
        if (first, last) not in self._visits:
            self._visits[first, last] = await visit_counts(self.db, self.user_ids, first, last)
        return self._visits[first, last]

    async def jobs(
        self, ruleset: RuleSet, first: date, last: date, parts: int = 1, part_users: int = 1
    ) -> list[Job]:
        """Jobs (each runs on the session it is given) that fill the cache for ``quotas(…, first, last)``:
        the visit counts, and every visit rule's tally of every period due in the window, split into up
        to ``parts`` ranges of user ids of about as many users each, at least ``part_users`` (the ranges
        cover all ids, so a user added meanwhile still falls in one). Run them all before ``get``."""
        ranges: list[UserRange] = [(None, None)]
        if parts > 1 and not isinstance(self.scope, int):
            ids = list(await self.db.scalars(self.user_ids.order_by(User.id)))
            n = min(parts, len(ids) // max(part_users, 1))
            cuts = sorted({ids[len(ids) * i // n] for i in range(1, n)})
            ranges = list(zip([None, *cuts], [*cuts, None], strict=True))

        async def counts(db: AsyncSession) -> None:
            self._visits[first, last] = await visit_counts(db, self.user_ids, first, last)

        def tally_part(rule: CoverageRule, span: periods.Span, users: UserRange) -> Job:
            async def job(db: AsyncSession) -> None:
                part = await visit_tally(db, rule, span, self._ref_day(span), self.scope, users)
                self._cache[id(rule), rule.id, span].update(part)  # type: ignore[union-attr]

            return job

        jobs: list[Job] = [counts]
        for rule in ruleset.of_metric("visit"):
            for span in periods.due_periods(rule.period, first, last, ruleset.span):
                self._cache[id(rule), rule.id, span] = {}
                jobs += [tally_part(rule, span, users) for users in ranges]
        return jobs


async def visit_counts(db: AsyncSession, user_ids: Any, first: date, last: date) -> dict[int, int]:
    start, end = period_bounds_utc(first, last)
    rows = await db.execute(
        select(Visit.user_id, func.count())
        .where(Visit.user_id.in_(user_ids), Visit.visited_at >= start, Visit.visited_at < end)
        .group_by(Visit.user_id)
    )
    return {int(u): int(n) for u, n in rows.all()}


async def quotas(
    db: AsyncSession, ruleset: RuleSet, person_ids: list[int], first: date, last: date, cache: TallyCache
) -> dict[int, QuotaResult]:
    """QuotaResult for each of ``person_ids`` (the cache's scope must include them)."""
    results = {uid: QuotaResult(uid, first, last) for uid in person_ids}
    for uid, n in (await cache.visit_counts(first, last)).items():
        if uid in results:
            results[uid].visits = n
    for rule in ruleset.of_metric("visit", "meeting"):
        for span in periods.due_periods(rule.period, first, last, ruleset.span):
            tallies = await cache.get(rule, span)
            period_label = periods.label(rule.period, span)
            for uid, result in results.items():
                if tallies is None:
                    if rule.metric == "meeting" and uid in await _leaders(cache):
                        result.lines.append(QuotaLine(rule.label, period_label, None, None))
                    continue
                if (tally := tallies.get(uid)) is None or tally.required == 0:
                    continue
                result.required += tally.required
                result.done += tally.done
                result.lines.append(QuotaLine(rule.label, period_label, tally.required, tally.done))
    return results


async def _leaders(cache: TallyCache) -> set[int]:
    if not hasattr(cache, "_leaders"):
        rows = await cache.db.scalars(select(User.id).where(User.role == "leader", User.id.in_(cache.user_ids)))  # type: ignore[union-attr]
        cache._leaders = set(rows.all())  # type: ignore[attr-defined]
    return cache._leaders  # type: ignore[attr-defined,no-any-return]
