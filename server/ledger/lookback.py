"""回头看: supervisors sample closed concerns at random and record what they found on re-inspection.
A finding of "problem" reopens nothing by itself; it is logged on the concern's timeline for the
leaders to act on (they may 回炉)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.accounts.service import Viewer
from server.clock import utcnow
from server.errors import AppError, NotFound
from server.ledger.lifecycle import record_event
from server.ledger.models import Concern, ConcernState, LookBack
from server.ledger.service import get_concern_for_update, scoped_concerns
from server.places.models import Target

RESULT_LABELS = {"confirmed": "属实，已解决", "problem": "发现问题"}
MAX_SAMPLE = 50


async def sample(db: AsyncSession, viewer: Viewer, count: int, seed: int | None = None) -> list[LookBack]:
    """Pick ``count`` closed concerns in scope (not merged duplicates, not yet sampled) at random."""
    if not 1 <= count <= MAX_SAMPLE:
        raise AppError(f"每次抽取 1～{MAX_SAMPLE} 条。", 400)
    sampled = select(LookBack.concern_id)
    rows = (
        await db.execute(
            scoped_concerns(viewer).where(
                Concern.state == ConcernState.closed,
                Concern.close_reason != "duplicate",
                Concern.id.not_in(sampled),  # type: ignore[union-attr]
            )
        )
    ).all()
    if not rows:
        raise AppError("没有可抽查的已销号诉求。", 409)
    chosen = random.Random(seed).sample([c for c, _, _ in rows], min(count, len(rows)))
    checks = [LookBack(concern_id=c.id, supervisor_id=viewer.id) for c in chosen]  # type: ignore[arg-type]
    db.add_all(checks)
    await db.commit()
    return checks


@dataclass
class LookBackRow:
    check: LookBack
    concern: Concern
    target: Target


async def list_checks(
    db: AsyncSession, viewer: Viewer, *, open_only: bool = False, concern_id: int | None = None
) -> list[LookBackRow]:
    stmt = (
        select(LookBack, Concern, Target)
        .join(Concern, Concern.id == LookBack.concern_id)
        .join(Target, Target.id == Concern.target_id)
        .join(OrgUnit, OrgUnit.id == Concern.org_unit_id)
        .where(OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        .order_by(LookBack.checked_at.is_not(None), LookBack.sampled_at.desc())  # type: ignore[union-attr]
        .limit(300)
    )
    if open_only:
        stmt = stmt.where(LookBack.checked_at.is_(None))  # type: ignore[union-attr]
    if concern_id is not None:
        stmt = stmt.where(LookBack.concern_id == concern_id)
    return [LookBackRow(*row) for row in (await db.execute(stmt)).all()]


async def record_finding(db: AsyncSession, viewer: Viewer, check_id: int, result: str, finding: str) -> LookBack:
    check = await db.get(LookBack, check_id)
    if check is None:
        raise NotFound("找不到这条回头看记录。")
    concern = await get_concern_for_update(db, viewer, check.concern_id)
    if result not in RESULT_LABELS:
        raise AppError("请选择回头看结论（属实，已解决 / 发现问题）。", 400)
    finding = (finding or "").strip()
    if not finding:
        raise AppError("请填写回头看情况（走访了谁、看到了什么）。", 400)
    if check.checked_at is not None:
        raise AppError("这条回头看已经记录过结论。", 409)
    check.result, check.finding, check.checked_at = result, finding[:2000], utcnow()
    db.add(record_event(concern, viewer, "look_back", concern.state, f"{RESULT_LABELS[result]}：{finding[:500]}"))
    await db.commit()
    return check
