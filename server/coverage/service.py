"""Coverage services: quotas, the three full coverages (三个全覆盖) and the dashboard's lists.

Other capabilities use ``cadre_quota`` (e.g. assessment's "quota met"); its signature is stable.
Definitions of every number: docs/coverage.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.accounts.service import Viewer, person_in_scope, unit_in_scope
from server.clock import local_day, local_today
from server.coverage import periods
from server.coverage.quota import QuotaLine, QuotaResult, TallyCache, quotas
from server.coverage.report import Coverage, Report, build_report
from server.coverage.rules import rules_for
from server.errors import AppError
from server.visits.models import Visit

__all__ = ["QuotaLine", "QuotaResult", "cadre_quota", "check_window"]

MAX_WINDOW_DAYS = 800


EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


def check_day(day: date) -> date:
    """A calendar day the reports can handle (2000–2099), else a Chinese 400."""
    if not EARLIEST <= day <= LATEST:
        raise AppError("日期超出范围（2000年至2099年），请重新选择。", 400)
    return day


def check_window(first: date, last: date) -> None:
    """A report window: first ≤ last, within 2000–2099, at most about two years long (else a Chinese 400)."""
    check_day(first)
    check_day(last)
    if first > last:
        raise AppError("开始日期不能晚于结束日期，请重新选择时间范围。", 400)
    if (last - first).days > MAX_WINDOW_DAYS:
        raise AppError("时间范围过长（最多两年），请缩短后重试。", 400)




async def cadre_quota(db: AsyncSession, viewer: Viewer, user_id: int, first: date, last: date) -> QuotaResult:
    """What the coverage rules required of ``user_id`` for the local days ``first..last`` and what they did.

    ``required``/``done`` count visits (and village meetings for leaders) of every rule period that
    ends inside the window; ``met`` is True when the person went down at least once in the window and
    ``done >= required``; ``lines`` explain each rule and period ("暂无数据" when meeting data is missing).
    Raises NotFound (404) when the person is outside the viewer's org subtree, AppError (400) for a bad
    window. Read-only.
    """
    check_window(first, last)
    user, unit = await person_in_scope(db, viewer, user_id)
    ruleset = await rules_for(db, unit.path, first, last)
    cache = TallyCache(db, int(user.id))  # type: ignore[arg-type]
    return (await quotas(db, ruleset, [user_id], first, last, cache))[user_id]


def default_window(today: date | None = None) -> tuple[date, date]:
    """This calendar month (Asia/Shanghai)."""
    day = today or local_today()
    return periods.period_of("month", day)


def window(first: date | None, last: date | None) -> tuple[date, date]:
    """The requested window, defaulting to this month; validated."""
    default_first, default_last = default_window()
    first = first or (default_first if last is None else periods.period_of("month", last)[0])
    last = last or (default_last if first == default_first else periods.period_of("month", first)[1])
    check_window(first, last)
    return first, last




async def breadcrumbs(db: AsyncSession, viewer: Viewer, unit: OrgUnit) -> list[OrgUnit]:
    """The units from the viewer's own unit down to ``unit`` (for the drill-down trail)."""
    ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    rows = {u.id: u for u in (await db.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))).all()}  # type: ignore[union-attr]
    return [rows[i] for i in ids if i in rows and rows[i].path.startswith(viewer.unit_path)]


async def coverage_report(
    db: AsyncSession, viewer: Viewer, first: date, last: date, unit_id: int | None = None
) -> Report:
    """The three full coverages of a unit in the viewer's scope, with a row per child unit."""
    check_window(first, last)
    unit = await unit_in_scope(db, viewer, unit_id)
    return await build_report(db, unit, first, last)


def report_json(report: Report) -> dict[str, Any]:
    """The JSON of ``GET /api/v1/coverage``: the same numbers the dashboard shows."""
    campaign = report.ruleset.campaign
    return {
        "unit": {"id": report.unit.id, "name": report.unit.name, "kind": report.unit.kind},
        "from": report.first.isoformat(),
        "to": report.last.isoformat(),
        "campaign": {
            "id": campaign.id,
            "name": campaign.name,
            "start": campaign.start_date.isoformat(),
            "end": campaign.end_date.isoformat(),
        }
        if campaign
        else None,
        **report.total.as_dict(),
        "children": [
            {"unit": {"id": r.unit.id, "name": r.unit.name, "kind": r.unit.kind}, "own": r.own, **r.coverage.as_dict()}
            for r in report.children
        ],
        "people_detail": [
            {
                "user_id": p.id,
                "name": p.name,
                "role": p.role,
                "visits": p.quota.visits,
                "required": p.quota.required,
                "done": p.quota.done,
                "met": p.quota.met,
            }
            for p in report.persons
        ],
    }


async def trend(
    db: AsyncSession, viewer: Viewer, unit_id: int | None, last: date, by: str, count: int = 8
) -> tuple[list[str], list[Coverage]]:
    """The three numbers for the ``count`` weeks or months up to ``last``, leaving out periods before the
    campaign or before the first visit ever recorded (nothing to chart there)."""
    if by not in ("week", "month"):
        raise AppError("趋势只能按周（week）或按月（month）统计。", 400)
    check_day(last)
    unit = await unit_in_scope(db, viewer, unit_id)
    spans: list[periods.Span] = []
    day = last
    for _ in range(count):
        span = periods.period_of(by, day)
        spans.insert(0, span)
        day = span[0] - timedelta(days=1)
    ruleset = await rules_for(db, unit.path, spans[0][0], last)
    if ruleset.campaign is not None:
        spans = [s for s in spans if s[1] >= ruleset.campaign.start_date] or spans[-1:]
    first_visit = await db.scalar(select(func.min(Visit.visited_at)))  # index: one seek
    if first_visit is not None:  # periods before any visit was recorded are not charted (no data)
        spans = [s for s in spans if s[1] >= local_day(first_visit)] or spans[-1:]
    labels, values = [], []
    for span in spans:
        labels.append(f"{span[0].month}月" if by == "month" else f"{span[0].month}/{span[0].day}")
        values.append((await build_report(db, unit, span[0], span[1], children=False)).total)
    return labels, values
