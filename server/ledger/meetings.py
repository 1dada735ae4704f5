"""党群说事会 (说·问·办·评): the monthly village meeting. Items raised become concerns in one step;
the report-back section lists the items of the previous meeting with their state, filled in
automatically; 包村领导列席 counts toward "at least 4 a year"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.clock import local_today
from server.errors import AppError, NotFound
from server.ledger.lifecycle import record_event
from server.ledger.models import Concern, ConcernState, MeetingAttendee, VillageMeeting
from server.ledger.service import new_concern
from server.places.service import get_target

LEADER_VISITS_PER_YEAR = 4
MAX_ITEMS = 30


@dataclass
class MeetingInput:
    village_id: int
    held_on: date
    host: str
    place: str = ""
    notes: str = ""
    residents_count: int = 0
    leader_ids: list[int] = field(default_factory=list)
    other_attendees: list[str] = field(default_factory=list)
    items: list[tuple[str, str]] = field(default_factory=list)  # (text, category)


async def record_meeting(db: AsyncSession, viewer: Viewer, data: MeetingInput) -> VillageMeeting:
    """Save the meeting, its attendees and its items (as concerns) in one transaction."""
    village = await get_target(db, viewer, data.village_id)
    if village.kind != "village":
        raise AppError("党群说事会须选择一个村（社区）。", 400)
    if not data.host.strip():
        raise AppError("请填写主持人。", 400)
    if data.held_on > local_today():
        raise AppError("会议日期不能晚于今天。", 400)
    if len(data.items) > MAX_ITEMS:
        raise AppError(f"每次最多登记 {MAX_ITEMS} 个事项。", 400)
    if data.residents_count < 0:
        raise AppError("参会群众人数不能为负数。", 400)
    leaders = []
    if data.leader_ids:
        leaders = list(
            await db.scalars(
                select(User)
                .join(OrgUnit, OrgUnit.id == User.org_unit_id)
                .where(User.id.in_(data.leader_ids), OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
            )
        )
        if len(leaders) != len(set(data.leader_ids)):
            raise AppError("列席领导须是您管辖范围内的人员，请重新选择。", 400)
    meeting = VillageMeeting(
        village_id=village.id,  # type: ignore[arg-type]
        org_unit_id=village.org_unit_id,
        held_on=data.held_on,
        host=data.host.strip()[:50],
        place=data.place.strip()[:100],
        notes=data.notes.strip(),
        residents_count=data.residents_count,
        created_by_id=viewer.id,
    )
    concerns = [new_concern(village, viewer, text, category, "normal", "meeting") for text, category in data.items]
    db.add(meeting)
    await db.flush()
    for user in leaders:
        db.add(MeetingAttendee(meeting_id=meeting.id, user_id=user.id, name=user.display_name, is_leader=True))  # type: ignore[arg-type]
    for name in dict.fromkeys(n.strip()[:50] for n in data.other_attendees if n.strip()):
        db.add(MeetingAttendee(meeting_id=meeting.id, name=name))  # type: ignore[arg-type]
    for concern in concerns:
        concern.meeting_id = meeting.id
        db.add(concern)
    await db.flush()
    for concern in concerns:
        db.add(record_event(concern, viewer, "register", ConcernState.registered, f"党群说事会（{data.held_on}）提出"))
    await db.commit()
    return meeting


@dataclass
class MeetingView:
    meeting: VillageMeeting
    village_name: str
    attendees: list[MeetingAttendee]
    items: list[Concern]
    report_back: list[Concern]  # the previous meeting's items with their current state
    previous: VillageMeeting | None
    leader_meetings_this_year: int


async def _scoped_meeting(db: AsyncSession, viewer: Viewer, meeting_id: int) -> VillageMeeting:
    meeting = await db.scalar(
        select(VillageMeeting)
        .join(OrgUnit, OrgUnit.id == VillageMeeting.org_unit_id)
        .where(VillageMeeting.id == meeting_id, OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
    )
    if meeting is None:
        raise NotFound("找不到这次党群说事会，或它不在您的管辖范围内。")
    return meeting


async def get_meeting(db: AsyncSession, viewer: Viewer, meeting_id: int) -> MeetingView:
    meeting = await _scoped_meeting(db, viewer, meeting_id)
    village = await get_target(db, viewer, meeting.village_id)
    attendees = list(await db.scalars(select(MeetingAttendee).where(MeetingAttendee.meeting_id == meeting.id)))
    items = list(await db.scalars(select(Concern).where(Concern.meeting_id == meeting.id).order_by(Concern.id)))
    previous = await db.scalar(
        select(VillageMeeting)
        .where(
            VillageMeeting.village_id == meeting.village_id,
            (VillageMeeting.held_on < meeting.held_on)
            | ((VillageMeeting.held_on == meeting.held_on) & (VillageMeeting.id < meeting.id)),  # type: ignore[operator]
        )
        .order_by(VillageMeeting.held_on.desc(), VillageMeeting.id.desc())  # type: ignore[attr-defined]
        .limit(1)
    )
    report_back = []
    if previous is not None:
        report_back = list(
            await db.scalars(select(Concern).where(Concern.meeting_id == previous.id).order_by(Concern.id))
        )
    return MeetingView(
        meeting,
        village.name,
        attendees,
        items,
        report_back,
        previous,
        await leader_meetings(db, meeting.village_id, meeting.held_on.year),
    )


async def leader_meetings(db: AsyncSession, village_id: int, year: int) -> int:
    """Meetings of a village in a year with at least one leader present (包村领导列席)."""
    return int(
        await db.scalar(
            select(func.count(func.distinct(VillageMeeting.id)))
            .join(MeetingAttendee, MeetingAttendee.meeting_id == VillageMeeting.id)
            .where(
                VillageMeeting.village_id == village_id,
                MeetingAttendee.is_leader.is_(True),  # type: ignore[attr-defined]
                VillageMeeting.held_on >= date(year, 1, 1),
                VillageMeeting.held_on <= date(year, 12, 31),
            )
        )
        or 0
    )


async def list_meetings(
    db: AsyncSession, viewer: Viewer, village_id: int | None = None
) -> list[tuple[VillageMeeting, str, int]]:
    """Meetings in scope, newest first, with the village name and the number of items."""
    from server.places.models import Target

    items = (
        select(Concern.meeting_id, func.count().label("n"))
        .where(Concern.meeting_id.is_not(None))
        .group_by(Concern.meeting_id)  # type: ignore[union-attr]
    ).subquery()
    stmt = (
        select(VillageMeeting, Target.name, items.c.n)
        .join(Target, Target.id == VillageMeeting.village_id)
        .join(OrgUnit, OrgUnit.id == VillageMeeting.org_unit_id)
        .outerjoin(items, items.c.meeting_id == VillageMeeting.id)
        .where(OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        .order_by(VillageMeeting.held_on.desc(), VillageMeeting.id.desc())  # type: ignore[attr-defined]
        .limit(200)
    )
    if village_id:
        stmt = stmt.where(VillageMeeting.village_id == village_id)
    return [(m, name, n or 0) for m, name, n in (await db.execute(stmt)).all()]


async def leader_choices(db: AsyncSession, viewer: Viewer) -> list[User]:
    rows = await db.scalars(
        select(User)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.role == "leader", User.is_active.is_(True), OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        .order_by(User.display_name)
    )
    return list(rows)


async def villages_without_meeting(db: AsyncSession, viewer: Viewer, first: date, last: date) -> list[str]:
    """Villages in scope with no 党群说事会 recorded in first..last (it is held monthly)."""
    from server.places.models import Target

    held = select(VillageMeeting.village_id).where(VillageMeeting.held_on >= first, VillageMeeting.held_on <= last)
    rows = await db.scalars(
        select(Target.name)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(
            Target.kind == "village",
            OrgUnit.path.startswith(viewer.unit_path),  # type: ignore[attr-defined]
            Target.id.not_in(held),  # type: ignore[union-attr]
        )
        .order_by(Target.name)
    )
    return list(rows)
