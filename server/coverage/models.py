"""活动 / 阶段 / 覆盖规则: a campaign with its span and phases, and its coverage rules as data.

A rule says who must do what to which targets how often, e.g. "each household visited at least once
a month by its 包保 cadre" = ``CoverageRule(metric="visit", target_kind="household", who="bao",
period="month", min_count=1)``. See docs/coverage.md for every field and the defaults.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from server.clock import utcnow
from server.visits.models import CheckIn, Visit


class Metric(StrEnum):
    visit = "visit"  # visits by the responsible person to each target, per period
    meeting = "meeting"  # village meetings (党群说事会) attended by each leader, per period
    links = "links"  # how many targets of a kind each leader links (联系), min..max
    exactly_one = "exactly_one"  # each target has exactly one assignee (不漏不重)


class Who(StrEnum):
    bao = "bao"  # the target's 包保 cadre
    lian = "lian"  # the target's 联系 person
    village_lian = "village_lian"  # the 联系 leader of the target's village (包村领导)
    leader = "leader"  # every 班子成员


class Period(StrEnum):
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"
    campaign = "campaign"


PERIOD_LABELS = {
    Period.week: "每周",
    Period.month: "每月",
    Period.quarter: "每季度",
    Period.year: "每年",
    Period.campaign: "活动期间",
}
CURRENT_PERIOD_WORDS = {  # "this period", as 今日's 待走访 badge says it
    Period.week: "本周",
    Period.month: "本月",
    Period.quarter: "本季度",
    Period.year: "今年",
    Period.campaign: "活动期内",
}
WHO_LABELS = {
    Who.bao: "包保干部",
    Who.lian: "联系人",
    Who.village_lian: "包村领导",
    Who.leader: "班子成员",
}
TARGET_FILTER_LABELS = {"": "", "key_transport": "重点运输"}
PHASE_NAMES = ("动员部署", "全面开展", "持续深化", "巩固提升")


class Campaign(SQLModel, table=True):
    """活动: applies to the subtree of ``org_unit_id`` from ``start_date`` to ``end_date`` (local days)."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    start_date: date
    end_date: date
    created_at: datetime = Field(default_factory=utcnow)


class Phase(SQLModel, table=True):
    """阶段 of a campaign (动员部署, 全面开展, 持续深化, 巩固提升), in ``position`` order."""

    __tablename__ = "campaign_phase"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    position: int = 0
    name: str = Field(max_length=50)
    start_date: date
    end_date: date


class CoverageRule(SQLModel, table=True):
    """覆盖规则: one requirement of a campaign (see module docstring)."""

    __tablename__ = "coverage_rule"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    position: int = 0
    label: str = Field(max_length=200)
    metric: str = Field(max_length=20)
    target_kind: str = Field(default="", max_length=20)  # "" for meetings
    target_filter: str = Field(default="", max_length=20)  # "" or "key_transport"
    who: str = Field(max_length=20)
    period: str = Field(default=Period.month, max_length=10)
    min_count: int = 1
    max_count: int | None = None


# Covering indexes for the coverage aggregates, declared here (the coverage capability owns them):
# per-target probes for visits by a person in a period, index-only scans of a window's visits
# (扎堆), and check-ins at a place in a period. They also serve every other per-target and per-window
# query: the narrower core indexes they extend were dropped (migration coverage_0004), each index a
# row must enter being a cost on the sync path.
ix_visit_target_time_user = Index(
    "ix_visit_target_time_user",
    Visit.target_id,
    Visit.visited_at,
    Visit.user_id,  # type: ignore[arg-type]
)
# Leads with (visited_at, lat, lon), so a window stays index-only for both the map's bbox filter and
# the window's (target, person) pairs.
ix_visit_window = Index(
    "ix_visit_window",
    Visit.visited_at,
    Visit.lat,
    Visit.lon,
    Visit.target_id,
    Visit.user_id,  # type: ignore[arg-type]
)
ix_checkin_target_time = Index("ix_checkin_target_time", CheckIn.target_id, CheckIn.device_time)  # type: ignore[arg-type]


class VisitedMonth(SQLModel, table=True):
    """A target visited at least once in a local month (``yyyymm``), with the target's unit and kind: the
    space pass of a whole-month report counts these instead of probing the visits per target. Written
    only by the database's triggers on ``visit`` and ``target`` (migration coverage_0006), never by code."""

    __tablename__ = "visited_month"

    month: int = Field(primary_key=True)
    org_unit_id: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=20)
    target_id: int = Field(primary_key=True, foreign_key="target.id")
