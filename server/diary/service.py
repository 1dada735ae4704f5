"""工作日志: a cadre's day compiled from check-ins and visits (time, place, content) plus their note."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import User
from server.accounts.service import Viewer, person_in_scope
from server.clock import day_bounds_utc, utcnow
from server.diary.models import DiaryNote
from server.errors import AppError, Conflict, NotFound
from server.places.service import display_name
from server.visits.models import VISIT_TYPE_LABELS
from server.visits.service import list_checkins, list_visits

MAX_NOTE = 5000


@dataclass
class DiaryEntry:
    at: datetime
    place: str
    content: str
    kind: str  # "checkin" | "visit"
    link: str
    flag: str = ""


@dataclass
class DiaryDay:
    user: User
    day: date
    entries: list[DiaryEntry] = field(default_factory=list)
    note: str = ""
    version: int = 0


async def diary_user(db: AsyncSession, viewer: Viewer, user_id: int | None) -> User:
    """The viewer themself, or (for leaders/supervisors) a person in their scope; a cadre reads only their own."""
    if user_id is None or user_id == viewer.id:
        user = await db.get(User, viewer.id)
        assert user is not None
        return user
    if viewer.role == "cadre":
        raise NotFound("找不到该干部，或不在您的管辖范围内。")
    user, _ = await person_in_scope(db, viewer, user_id)
    return user


async def compile_day(db: AsyncSession, viewer: Viewer, user: User, day: date) -> DiaryDay:
    start, end = day_bounds_utc(day)
    entries = [
        DiaryEntry(
            at=c.device_time,
            place=t.name,
            content="到达签到",
            kind="checkin",
            link=f"/targets/{t.id}",
            flag=f"位置偏离 {c.distance_m:.0f} 米" if c.off_site and c.distance_m is not None else "",
        )
        for c, t in await list_checkins(db, viewer, user_id=user.id, start=start, end=end)  # type: ignore[arg-type]
    ]
    for v in await list_visits(db, viewer, user_id=user.id, start=start, end=end, limit=500):
        topics = "、".join(v.topic_list)
        content = VISIT_TYPE_LABELS.get(v.visit.visit_type, v.visit.visit_type)  # type: ignore[call-overload]
        content += f"：{v.visit.notes}" if v.visit.notes else ""
        content += f"（了解：{topics}）" if topics else ""
        entries.append(
            DiaryEntry(v.visit.visited_at, display_name(v.target), content, "visit", f"/visits/{v.visit.id}")
        )
    entries.sort(key=lambda e: e.at)
    note = await db.scalar(select(DiaryNote).where(DiaryNote.user_id == user.id, DiaryNote.day == day))
    return DiaryDay(user, day, entries, note.note if note else "", note.version if note else 0)


async def save_note(db: AsyncSession, viewer: Viewer, day: date, text: str, base_version: int) -> DiaryNote:
    """Save my note for a day. ``base_version`` is the version I edited; a stale one → 409 with both."""
    text = text.strip()
    if len(text) > MAX_NOTE:
        raise AppError(f"日志备注最多 {MAX_NOTE} 字。", 400)
    note = await db.scalar(select(DiaryNote).where(DiaryNote.user_id == viewer.id, DiaryNote.day == day))
    current = note.version if note else 0
    if base_version != current:
        raise Conflict(
            "这条日志已在其他设备上修改过，请选择保留哪一个版本。",
            extra={"current_version": current, "current_note": note.note if note else "", "your_note": text},
        )
    if note is None:
        note = DiaryNote(user_id=viewer.id, day=day, note=text, version=1)
        db.add(note)
    else:
        note.note = text
        note.version += 1
        note.updated_at = utcnow()
    await db.commit()
    return note
