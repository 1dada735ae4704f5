"""A default campaign (活动) with the four phases and the default coverage rules, for the demo and for
a new county. The caller commits."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.coverage.models import PHASE_NAMES, Campaign, Phase
from server.coverage.rules import default_rules

DEFAULT_NAME = "“三个全覆盖”走访活动"


def phase_spans(start: date, end: date) -> list[tuple[date, date]]:
    """Split ``start..end`` into four consecutive phases of (nearly) equal length."""
    days = (end - start).days + 1
    bounds = [start + timedelta(days=days * i // len(PHASE_NAMES)) for i in range(len(PHASE_NAMES) + 1)]
    return [(bounds[i], bounds[i + 1] - timedelta(days=1)) for i in range(len(PHASE_NAMES))]


async def add_default_campaign(
    db: AsyncSession, unit: OrgUnit, start: date, end: date | None = None, name: str = DEFAULT_NAME
) -> Campaign:
    """Add a campaign for ``unit``'s subtree from ``start`` to ``end`` (default: the end of the year, at
    least half a year), with phases 动员部署 → 巩固提升 and the default rules. Idempotent by name and unit."""
    existing = await db.scalar(select(Campaign).where(Campaign.org_unit_id == unit.id, Campaign.name == name))
    if existing is not None:
        return existing
    end = end or max(date(start.year, 12, 31), start + timedelta(days=182))
    campaign = Campaign(name=name, org_unit_id=unit.id, start_date=start, end_date=end)  # type: ignore[arg-type]
    db.add(campaign)
    await db.flush()
    for i, (first, last) in enumerate(phase_spans(start, end)):
        db.add(Phase(campaign_id=campaign.id, position=i, name=PHASE_NAMES[i], start_date=first, end_date=last))  # type: ignore[arg-type]
    db.add_all(default_rules(campaign.id))  # type: ignore[arg-type]
    await db.flush()
    return campaign
