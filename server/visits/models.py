"""Check-ins, visits and photos.

Every record made on a phone carries a client-generated ``uuid`` (unique), the device's own time
(``device_time``/``visited_at``) and the server's receive time, so replays never double and clock
drift is visible.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from server.clock import utcnow


class VisitType(StrEnum):
    home = "home"
    meeting = "meeting"
    onsite = "onsite"
    phone = "phone"


VISIT_TYPE_LABELS = {
    VisitType.home: "入户走访",
    VisitType.meeting: "座谈交流",
    VisitType.onsite: "现场办公",
    VisitType.phone: "电话回访",
}

TOPICS = (
    "家庭收入",
    "农业生产",
    "就业务工",
    "医疗健康",
    "子女教育",
    "住房安全",
    "矛盾纠纷",
    "安全生产",
    "“三留守”人员",
    "惠民政策落实",
    "人居环境",
    "企业经营",
)


class CheckIn(SQLModel, table=True):
    """签到: arriving at a village, enterprise or project, with the measured distance to it."""

    __tablename__ = "checkin"
    __table_args__ = (Index("ix_checkin_user_time", "user_id", "device_time"),)

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=36, unique=True)
    user_id: int = Field(foreign_key="user_account.id")
    target_id: int = Field(foreign_key="target.id")  # indexed with the time: coverage's ix_checkin_target_time
    lat: float
    lon: float
    accuracy: float | None = None
    device_time: datetime
    received_at: datetime = Field(default_factory=utcnow)
    distance_m: float | None = None
    radius_m: float | None = None
    off_site: bool = Field(default=False)


class Visit(SQLModel, table=True):
    """走访记录: one visit with time, place (GPS), content, topics, photos and concerns."""

    __tablename__ = "visit"
    # Per target and per window the coverage capability's wider indexes serve (server/coverage/models.py).
    __table_args__ = (Index("ix_visit_user_time", "user_id", "visited_at"),)

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=36, unique=True)
    user_id: int = Field(foreign_key="user_account.id")
    target_id: int = Field(foreign_key="target.id")
    visit_type: str = Field(default=VisitType.home, max_length=20)
    visited_at: datetime
    received_at: datetime = Field(default_factory=utcnow)
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None
    distance_m: float | None = None
    notes: str = Field(default="")
    topics: str = Field(default="")  # "|" separated TOPICS


class Photo(SQLModel, table=True):
    """An uploaded photo: a ≤1600 px JPEG and a 320 px thumbnail on disk, EXIF facts in the row."""

    __tablename__ = "photo"

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=36, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    sha256: str = Field(max_length=64)
    width: int
    height: int
    size_bytes: int
    exif_time: datetime | None = None
    exif_lat: float | None = None
    exif_lon: float | None = None
    dhash: str | None = Field(default=None, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class VisitPhoto(SQLModel, table=True):
    """Links a visit to a photo by uuid; the photo may arrive later ("照片上传中")."""

    __tablename__ = "visit_photo"

    visit_id: int = Field(foreign_key="visit.id", primary_key=True)
    photo_uuid: str = Field(max_length=36, primary_key=True, index=True)
    position: int = 0
