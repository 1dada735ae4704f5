"""Inputs for recording check-ins and visits; shared by the web forms and the offline sync."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ConcernInput:
    text: str
    category: str = "problem"
    uuid: str | None = None


@dataclass
class CheckInInput:
    uuid: str
    target_id: int
    lat: float | None
    lon: float | None
    accuracy: float | None
    device_time: datetime | None = None


@dataclass
class VisitInput:
    uuid: str
    target_id: int
    visit_type: str
    visited_at: datetime | None
    lat: float | None
    lon: float | None
    accuracy: float | None
    notes: str = ""
    topics: list[str] = field(default_factory=list)
    photo_uuids: list[str] = field(default_factory=list)
    concerns: list[ConcernInput] = field(default_factory=list)


@dataclass
class Recorded:
    """What recording produced: the row's id, whether it is new, and integrity flags to show."""

    id: int
    uuid: str
    created: bool
    flags: list[str] = field(default_factory=list)
