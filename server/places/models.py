"""Targets of visits and the cadres' assignments to them.

All five kinds of target live in one ``target`` table (kind-specific columns are nullable) so that
visits, check-ins, assignments and coverage refer to one ``target_id``. Personal data of residents
(``head_name``, ``phone``, ``id_number``, ``address``) is only shown inside the viewer's org subtree.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from server.clock import utcnow


class TargetKind(StrEnum):
    village = "village"
    household = "household"
    enterprise = "enterprise"
    driver = "driver"
    project = "project"


TARGET_KIND_LABELS = {
    TargetKind.village: "村/社区",
    TargetKind.household: "农户",
    TargetKind.enterprise: "企业",
    TargetKind.driver: "货车司机",
    TargetKind.project: "重点项目",
}

CHECKIN_KINDS = (TargetKind.village, TargetKind.enterprise, TargetKind.project)

HOUSEHOLD_TAGS = ("三留守", "低保", "残疾", "脱贫监测户", "五保", "独居老人")


class Target(SQLModel, table=True):
    """走访对象. ``village_id`` points at the village target a household/enterprise belongs to."""

    __tablename__ = "target"
    __table_args__ = (
        Index("ix_target_unit_kind", "org_unit_id", "kind"),
        Index("ix_target_kind_lat_lon", "kind", "lat", "lon"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    code: str = Field(max_length=64, unique=True)  # stable key for roster re-imports
    name: str = Field(max_length=100)
    org_unit_id: int = Field(foreign_key="org_unit.id")
    village_id: int | None = Field(default=None, foreign_key="target.id", index=True)
    lat: float | None = None
    lon: float | None = None
    boundary: str | None = None  # GeoJSON Polygon geometry, villages only
    groups: str | None = None  # 村民小组, comma separated, villages only
    # household
    head_name: str | None = Field(default=None, max_length=50)
    group_name: str | None = Field(default=None, max_length=50)
    members: int | None = None
    phone: str | None = Field(default=None, max_length=20)
    id_number: str | None = Field(default=None, max_length=18)
    address: str | None = Field(default=None, max_length=200)
    tags: str | None = Field(default=None, max_length=200)  # comma separated HOUSEHOLD_TAGS
    # enterprise
    industry: str | None = Field(default=None, max_length=50)
    is_key: bool = Field(default=False)
    is_transport: bool = Field(default=False)
    # driver
    plate: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def tag_list(self) -> list[str]:
        return [t for t in (self.tags or "").split(",") if t]


class AssignmentKind(StrEnum):
    bao = "bao"
    lian = "lian"


ASSIGNMENT_KIND_LABELS = {AssignmentKind.bao: "包保", AssignmentKind.lian: "联系"}


class Assignment(SQLModel, table=True):
    """包保 / 联系: a cadre's responsibility for a target over a period (``end_date`` open-ended)."""

    __tablename__ = "assignment"
    __table_args__ = (Index("ix_assignment_user_target", "user_id", "target_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    target_id: int = Field(foreign_key="target.id", index=True)
    kind: str = Field(default=AssignmentKind.bao, max_length=10)
    start_date: date
    end_date: date | None = None
