"""The sync protocol's typed bodies (msgspec Structs, so /schema documents them exactly)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

MAX_ITEMS = 500

Uuid = Annotated[str, Meta(min_length=32, max_length=36, description="客户端生成的 UUID（36 位）")]


class SyncConcern(Struct):
    """A concern captured inside a visit (its own uuid keeps replays single)."""

    text: str
    category: Literal["problem", "request", "petition", "suggestion"] = "problem"
    uuid: Uuid | None = None


class SyncItem(Struct, kw_only=True):
    """One record made on the phone. ``kind`` says which fields matter; unknown fields are ignored.

    * ``checkin``: target_id, lat, lon, accuracy, created_at (the device time of the check-in).
    * ``visit``: + visit_type, visited_at (default created_at), notes, topics, photo_uuids, concerns.
    * ``concern``: target_id, text, category, urgency, optional visit_uuid (a visit synced earlier or in
      this batch).
    """

    uuid: Uuid
    kind: Literal["checkin", "visit", "concern"]
    user: Annotated[str | None, Meta(description="登记人的用户名；与登录用户不同时拒收，防止记在别人名下")] = None
    created_at: Annotated[datetime, Meta(tz=True, description="设备时间，ISO 8601 带时区，如 2026-05-01T09:30+08:00")]
    target_id: int
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None
    visit_type: Literal["home", "meeting", "onsite", "phone"] = "home"
    visited_at: Annotated[datetime, Meta(tz=True)] | None = None
    notes: str = ""
    topics: list[str] = []
    photo_uuids: list[Uuid] = []
    concerns: list[SyncConcern] = []
    text: str = ""
    category: Literal["problem", "request", "petition", "suggestion"] = "problem"
    urgency: Literal["normal", "urgent"] = "normal"
    visit_uuid: Uuid | None = None


class SyncRequest(Struct):
    """Up to 500 items. Each item is checked and stored on its own: one bad item never sinks the batch."""

    items: Annotated[list[SyncItem], Meta(max_length=MAX_ITEMS)]


class SyncResult(Struct, omit_defaults=True):
    """The outcome of one item, in the order the items were sent.

    ``created``: stored now. ``duplicate``: this uuid was stored before (nothing written; safe to drop from
    the outbox). ``rejected``: not stored; ``error`` says why and what to do (fix the item or discard it).
    """

    uuid: str
    status: Literal["created", "duplicate", "rejected"]
    error: str | None = None
    flags: list[str] = []
    id: int | None = None


class SyncResponse(Struct):
    results: list[SyncResult]
    received_at: datetime


class PhotoOut(Struct):
    """A stored photo (the phone shrinks it first; the server keeps a ≤1600 px JPEG and a thumbnail)."""

    uuid: str
    width: int
    height: int
    exif_time: datetime | None
    exif_lat: float | None
    exif_lon: float | None
    size_bytes: int


class NoteIn(Struct):
    """A diary note write: ``base_version`` is the version the phone edited (0 when there was none)."""

    note: Annotated[str, Meta(max_length=5000)]
    base_version: Annotated[int, Meta(ge=0)]


class NoteOut(Struct):
    day: date
    note: str
    version: int


class NoteConflict(Struct):
    """409: the note changed elsewhere. Show both versions; to keep yours, send it again with
    ``base_version = current_version``."""

    error: str
    status: int
    current_version: int
    current_note: str
    your_note: str


class ErrorOut(Struct):
    error: str
    status: int
