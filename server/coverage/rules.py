"""The campaign that applies to a unit, its rules, and the default rules from the campaign documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.clock import period_bounds_utc
from server.coverage.models import CURRENT_PERIOD_WORDS, Campaign, CoverageRule, Period, Phase
from server.coverage.periods import Span, clip, period_of

# The rules of 三个全覆盖 as the campaign documents state them (see docs/coverage.md).
DEFAULT_RULES: list[dict[str, object]] = [
    {
        "label": "镇村干部每月对包保农户走访至少1次",
        "metric": "visit",
        "target_kind": "household",
        "who": "bao",
        "period": "month",
        "min_count": 1,
    },
    {
        "label": "包村领导每季度走遍联系村所有农户",
        "metric": "visit",
        "target_kind": "household",
        "who": "village_lian",
        "period": "quarter",
        "min_count": 1,
    },
    {
        "label": "班子成员每年参加党群说事会不少于4次",
        "metric": "meeting",
        "who": "leader",
        "period": "year",
        "min_count": 4,
    },
    {
        "label": "每名班子成员联系1–3个村（社区）",
        "metric": "links",
        "target_kind": "village",
        "who": "leader",
        "period": "campaign",
        "min_count": 1,
        "max_count": 3,
    },
    {
        "label": "每名班子成员联系3名货车司机",
        "metric": "links",
        "target_kind": "driver",
        "who": "leader",
        "period": "campaign",
        "min_count": 3,
        "max_count": 3,
    },
    {
        "label": "每名班子成员联系1个重点项目",
        "metric": "links",
        "target_kind": "project",
        "who": "leader",
        "period": "campaign",
        "min_count": 1,
        "max_count": 1,
    },
    {
        "label": "每家重点运输企业由且仅由1名干部包保（不漏不重）",
        "metric": "exactly_one",
        "target_kind": "enterprise",
        "target_filter": "key_transport",
        "who": "bao",
        "period": "campaign",
        "min_count": 1,
        "max_count": 1,
    },
]


def default_rules(campaign_id: int = 0) -> list[CoverageRule]:
    return [CoverageRule(campaign_id=campaign_id, position=i, **spec) for i, spec in enumerate(DEFAULT_RULES)]  # type: ignore[arg-type]


@dataclass
class RuleSet:
    """The campaign in force (None: no campaign yet, the default rules over an open span) and its rules."""

    campaign: Campaign | None
    rules: list[CoverageRule]
    phases: list[Phase] = field(default_factory=list)

    @property
    def span(self) -> Span | None:
        return (self.campaign.start_date, self.campaign.end_date) if self.campaign else None

    def of_metric(self, *metrics: str) -> list[CoverageRule]:
        return [r for r in self.rules if r.metric in metrics]


async def rules_for(db: AsyncSession, unit_path: str, first: date, last: date) -> RuleSet:
    """The latest-starting campaign of this unit or an ancestor that overlaps ``first..last``."""
    rows = (
        await db.execute(
            select(Campaign, OrgUnit.path)
            .join(OrgUnit, OrgUnit.id == Campaign.org_unit_id)
            .where(Campaign.start_date <= last, Campaign.end_date >= first)
            .order_by(Campaign.start_date.desc(), Campaign.id.desc())  # type: ignore[attr-defined]
        )
    ).all()
    campaign = next((c for c, path in rows if unit_path.startswith(path)), None)
    if campaign is None:
        return RuleSet(None, default_rules())
    rules = (
        await db.scalars(
            select(CoverageRule).where(CoverageRule.campaign_id == campaign.id).order_by(CoverageRule.position)
        )
    ).all()
    phases = (await db.scalars(select(Phase).where(Phase.campaign_id == campaign.id).order_by(Phase.position))).all()
    return RuleSet(campaign, list(rules), list(phases))


async def visits_due(db: AsyncSession, unit_path: str, today: date) -> dict[tuple[str, str], tuple[datetime, str]]:
    """(target kind, assignment kind) → (UTC start of the current period, the period in words) of the
    shortest visit rule for it (包保 rules for ``bao``, 联系 rules for ``lian``; the period clipped to the
    campaign), so that 今日 marks as 待走访 exactly what the coverage counts as not yet visited this
    period. Rules about the households of a contact village are not per target and give nothing here."""
    ruleset = await rules_for(db, unit_path, today, today)
    out: dict[tuple[str, str], tuple[datetime, str]] = {}
    rules = sorted(ruleset.of_metric("visit"), key=lambda r: list(Period).index(Period(r.period)))
    for rule in rules:
        if rule.who not in ("bao", "lian") or (rule.target_kind, rule.who) in out:
            continue
        span = clip(period_of(rule.period, today, ruleset.span), ruleset.span) or (today, today)
        if span[0] == date.min:  # a campaign-long rule without a campaign: no period to speak of
            continue
        out[(rule.target_kind, rule.who)] = (period_bounds_utc(*span)[0], CURRENT_PERIOD_WORDS[Period(rule.period)])
    return out

