"""Integrity flags (异常标记) on visits and check-ins, and spot checks (随机抽查) by call-back.

A flag informs; it never deletes or hides the visit. ``user_id``, ``org_unit_id`` and ``occurred_at``
are copied from the visit/check-in (the cadre, the target's unit, the device time) so the review
queue filters without joins; scoping still goes through ``org_unit.path``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.clock import utcnow


class FlagCode(StrEnum):
    far_from_target = "far_from_target"
    photo_reused = "photo_reused"
    exif_time = "exif_time"
    exif_gps = "exif_gps"
    too_fast = "too_fast"
    burst = "burst"
    no_photo = "no_photo"
    no_gps = "no_gps"
    mock_location = "mock_location"


FLAG_CODE_LABELS = {
    FlagCode.far_from_target: "偏离对象位置",
    FlagCode.photo_reused: "照片疑似重复使用",
    FlagCode.exif_time: "照片拍摄时间不符",
    FlagCode.exif_gps: "照片拍摄地点不符",
    FlagCode.too_fast: "移动速度不合理",
    FlagCode.burst: "短时间内走访过多",
    FlagCode.no_photo: "无照片",
    FlagCode.no_gps: "无定位",
    FlagCode.mock_location: "疑似模拟定位",
}


class Severity(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


SEVERITY_LABELS = {Severity.high: "高", Severity.medium: "中", Severity.low: "低"}


class FlagStatus(StrEnum):
    open = "open"
    confirmed = "confirmed"
    dismissed = "dismissed"


FLAG_STATUS_LABELS = {FlagStatus.open: "待核查", FlagStatus.confirmed: "已确认", FlagStatus.dismissed: "已排除"}


class IntegrityFlag(SQLModel, table=True):
    """异常标记: evidence that a visit or check-in may not be what it claims, with the numbers."""

    __tablename__ = "integrity_flag"
    __table_args__ = (
        UniqueConstraint("visit_id", "code"),
        UniqueConstraint("checkin_id", "code"),
        Index("ix_integrity_flag_status_unit", "status", "org_unit_id"),
        Index("ix_integrity_flag_user_time", "user_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id")
    checkin_id: int | None = Field(default=None, foreign_key="checkin.id")
    user_id: int = Field(foreign_key="user_account.id")
    org_unit_id: int = Field(foreign_key="org_unit.id")
    occurred_at: datetime
    code: str = Field(max_length=30)
    severity: str = Field(default=Severity.medium, max_length=10)
    message: str
    status: str = Field(default=FlagStatus.open, max_length=12)
    reviewer_id: int | None = Field(default=None, foreign_key="user_account.id")
    reviewed_at: datetime | None = None
    note: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SpotCheckResult(StrEnum):
    true = "true"
    false = "false"
    unverifiable = "unverifiable"


SPOT_RESULT_LABELS = {
    SpotCheckResult.true: "属实",
    SpotCheckResult.false: "不属实",
    SpotCheckResult.unverifiable: "无法核实",
}


class SpotCheckRun(SQLModel, table=True):
    """One 随机抽查 draw: the period, the unit, the percentage and the seed that reproduce the sample."""

    __tablename__ = "spot_check_run"

    id: int | None = Field(default=None, primary_key=True)
    org_unit_id: int = Field(foreign_key="org_unit.id")
    first_day: date
    last_day: date
    percent: float
    seed: int
    created_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class SpotCheck(SQLModel, table=True):
    """随机抽查: a sampled visit verified by call-back; ``result`` stays empty until recorded."""

    __tablename__ = "spot_check"
    __table_args__ = (UniqueConstraint("run_id", "visit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="spot_check_run.id", index=True)
    visit_id: int = Field(foreign_key="visit.id", index=True)
    user_id: int = Field(foreign_key="user_account.id")
    method: str = Field(default="callback", max_length=20)
    result: str | None = Field(default=None, max_length=20)
    note: str = Field(default="")
    checked_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    checked_at: datetime | None = None
