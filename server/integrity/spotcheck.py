"""随机抽查: draw a reproducible random sample of each cadre's visits for call-back verification.

The sample depends only on the visits, the percentage and the seed (recorded on the run): each cadre's
visit ids are sorted and ``ceil(n × percent / 100)`` of them are drawn with ``random.Random(f"{seed}:{user_id}")``.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer, unit_in_scope
from server.clock import period_bounds_utc, utcnow
from server.errors import AppError, NotFound
from server.integrity.models import SPOT_RESULT_LABELS, SpotCheck, SpotCheckRun
from server.places.models import Target
from server.visits.models import Visit

MAX_DAYS = 366
MAX_NOTE = 500


def draw_sample(visits_by_user: dict[int, list[int]], percent: float, seed: int) -> dict[int, list[int]]:
    """For each cadre, ``ceil(n × percent / 100)`` of their visit ids, drawn reproducibly from ``seed``."""
    sample: dict[int, list[int]] = {}
    for user_id in sorted(visits_by_user):
        ids = sorted(visits_by_user[user_id])
        k = min(len(ids), math.ceil(len(ids) * percent / 100))
        if k:
            sample[user_id] = sorted(random.Random(f"{seed}:{user_id}").sample(ids, k))
    return sample


def check_period(first: date, last: date) -> None:
    if first > last:
        raise AppError("开始日期不能晚于结束日期。", 400)
    if (last - first).days >= MAX_DAYS:
        raise AppError(f"期间最长 {MAX_DAYS} 天，请缩短后再试。", 400)


async def create_run(
    db: AsyncSession,
    viewer: Viewer,
    *,
    unit_id: int | None,
    first: date,
    last: date,
    percent: float,
    seed: int | None = None,
) -> SpotCheckRun:
    """Draw a sample of the unit's visits in the period and save it as a run (one transaction)."""
    check_period(first, last)
    if not (0 < percent <= 100):
        raise AppError("抽查比例应在 0～100% 之间（例如 10）。", 400)
    if seed is not None and not (0 <= seed < 2**31):
        raise AppError("随机种子应为 0～2147483647 之间的整数，留空则自动生成。", 400)
    unit = await unit_in_scope(db, viewer, unit_id)
    start, end = period_bounds_utc(first, last)
    rows = await db.execute(
        select(Visit.user_id, Visit.id)
        .join(Target, Target.id == Visit.target_id)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(OrgUnit.path.startswith(unit.path), Visit.visited_at >= start, Visit.visited_at < end)  # type: ignore[attr-defined]
    )
    by_user: dict[int, list[int]] = {}
    for user_id, visit_id in rows.all():
        by_user.setdefault(user_id, []).append(visit_id)
    if not by_user:
        raise AppError("该单位在这段时间内没有走访记录，无法抽查。请调整单位或日期。", 400)
    seed = secrets.randbelow(2**31) if seed is None else seed
    run = SpotCheckRun(
        org_unit_id=unit.id,  # type: ignore[arg-type]
        first_day=first,
        last_day=last,
        percent=percent,
        seed=seed,
        created_by_id=viewer.id,
    )
    db.add(run)
    await db.flush()
    for user_id, visit_ids in draw_sample(by_user, percent, seed).items():
        for visit_id in visit_ids:
            db.add(SpotCheck(run_id=run.id, visit_id=visit_id, user_id=user_id))  # type: ignore[arg-type]
    await db.commit()
    return run


@dataclass
class RunSummary:
    run: SpotCheckRun
    unit: str
    total: int
    done: int
    untrue: int


async def list_runs(db: AsyncSession, viewer: Viewer, limit: int = 30) -> list[RunSummary]:
    done = func.count(SpotCheck.result)
    untrue = func.sum(case((SpotCheck.result == "false", 1), else_=0))
    rows = await db.execute(
        select(SpotCheckRun, OrgUnit.name, func.count(SpotCheck.id), done, untrue)
        .join(OrgUnit, OrgUnit.id == SpotCheckRun.org_unit_id)
        .outerjoin(SpotCheck, SpotCheck.run_id == SpotCheckRun.id)
        .where(OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        .group_by(SpotCheckRun.id, OrgUnit.name)
        .order_by(SpotCheckRun.id.desc())  # type: ignore[union-attr]
        .limit(limit)
    )
    return [RunSummary(r, name, int(t), int(d), int(u or 0)) for r, name, t, d, u in rows.all()]


@dataclass
class SpotItem:
    check: SpotCheck
    visit: Visit
    target: Target
    cadre: str
    checker: str | None = None

    @property
    def result_label(self) -> str:
        return SPOT_RESULT_LABELS.get(self.check.result, "待核实") if self.check.result else "待核实"  # type: ignore[call-overload]


async def get_run(db: AsyncSession, viewer: Viewer, run_id: int) -> tuple[SpotCheckRun, OrgUnit, list[SpotItem]]:
    """A run in the viewer's scope with its sampled visits, their targets (phone for the call-back) and cadres."""
    found = (
        await db.execute(
            select(SpotCheckRun, OrgUnit)
            .join(OrgUnit, OrgUnit.id == SpotCheckRun.org_unit_id)
            .where(SpotCheckRun.id == run_id, OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        )
    ).first()
    if found is None:
        raise NotFound("找不到该抽查批次，或它不在您的管辖范围内。")
    run, unit = found
    return run, unit, await _items(db, viewer, SpotCheck.run_id == run_id)


async def _items(db: AsyncSession, viewer: Viewer, where) -> list[SpotItem]:  # type: ignore[no-untyped-def]
    checker = User.__table__.alias("checker")  # type: ignore[attr-defined]
    rows = await db.execute(
        select(SpotCheck, Visit, Target, User.display_name, checker.c.display_name)
        .join(Visit, Visit.id == SpotCheck.visit_id)
        .join(Target, Target.id == Visit.target_id)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .join(User, User.id == SpotCheck.user_id)
        .outerjoin(checker, checker.c.id == SpotCheck.checked_by_id)
        .where(where, OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        .order_by(User.display_name, Visit.visited_at)
    )
    return [SpotItem(*row) for row in rows.all()]


async def get_item(db: AsyncSession, viewer: Viewer, check_id: int) -> SpotItem:
    items = await _items(db, viewer, SpotCheck.id == check_id)
    if not items:
        raise NotFound("找不到该抽查记录，或它不在您的管辖范围内。")
    return items[0]


async def record_result(db: AsyncSession, viewer: Viewer, check_id: int, result: str, note: str) -> SpotItem:
    """Record what the call-back found: 属实 / 不属实 / 无法核实, with a note."""
    if result not in SPOT_RESULT_LABELS:
        raise AppError("请选择核实结果：属实、不属实或无法核实。", 400)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise AppError(f"核实说明最多 {MAX_NOTE} 字。", 400)
    if result != "true" and not note:
        raise AppError("结果为“不属实”或“无法核实”时，请填写说明（例如：户主称当天无人来访）。", 400)
    item = await get_item(db, viewer, check_id)
    item.check.result = result
    item.check.note = note
    item.check.checked_by_id = viewer.id
    item.check.checked_at = utcnow()
    await db.commit()
    item.checker = viewer.display_name
    return item
