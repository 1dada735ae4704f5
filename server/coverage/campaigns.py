"""The campaign page: the campaign in force, its phases and rules; admins adjust a rule's numbers and
period, or start the default campaign for their unit. One transaction per write, validated first."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.accounts.service import Viewer
from server.clock import local_today
from server.coverage.models import Campaign, CoverageRule, Metric, Period
from server.coverage.rules import RuleSet, rules_for
from server.coverage.seed import add_default_campaign
from server.errors import AppError, Conflict, NotFound

MAX_COUNT = 1000


async def campaign_for(db: AsyncSession, unit: OrgUnit, day: date | None = None) -> RuleSet:
    day = day or local_today()
    return await rules_for(db, unit.path, day, day)


def _count(raw: str | None, what: str, *, required: bool) -> int | None:
    text = (raw or "").strip()
    if not text:
        if required:
            raise AppError(f"请填写{what}。", 400)
        return None
    try:
        value = int(text)
    except ValueError:
        raise AppError(f"{what}须为整数。", 400) from None
    if not 0 <= value <= MAX_COUNT:
        raise AppError(f"{what}须在 0～{MAX_COUNT} 之间。", 400)
    return value


async def update_rule(
    db: AsyncSession, viewer: Viewer, rule_id: int, period: str, min_count: str | None, max_count: str | None
) -> CoverageRule:
    """Change a rule's period and counts (the rule's campaign must belong to the viewer's subtree)."""
    row = (
        await db.execute(
            select(CoverageRule, OrgUnit.path)
            .join(Campaign, Campaign.id == CoverageRule.campaign_id)
            .join(OrgUnit, OrgUnit.id == Campaign.org_unit_id)
            .where(CoverageRule.id == rule_id)
        )
    ).first()
    if row is None or not row[1].startswith(viewer.unit_path):
        raise NotFound("找不到该覆盖规则，或它不在您的管辖范围内。")
    rule: CoverageRule = row[0]
    if period not in Period.__members__:
        raise AppError("统计周期只能是每周、每月、每季度、每年或活动期间。", 400)
    if rule.metric in (Metric.visit, Metric.meeting) and period == Period.campaign:
        raise AppError("走访和说事会规则须按周、月、季度或年统计。", 400)
    low = _count(min_count, "最少次数/个数", required=True)
    high = _count(max_count, "最多个数", required=False)
    if high is not None and low is not None and high < low:
        raise AppError("最多个数不能小于最少次数/个数。", 400)
    rule.period, rule.min_count, rule.max_count = period, low or 0, high
    await db.commit()
    return rule


async def start_default_campaign(db: AsyncSession, viewer: Viewer) -> Campaign:
    """Start the default campaign for the viewer's unit today (409 when one is already in force)."""
    unit = await db.get(OrgUnit, viewer.unit_id)
    assert unit is not None
    current = await campaign_for(db, unit)
    if current.campaign is not None:
        raise Conflict(f"已有活动“{current.campaign.name}”正在进行，无需重复创建。")
    campaign = await add_default_campaign(db, unit, local_today())
    await db.commit()
    return campaign
