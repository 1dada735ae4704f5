"""Recording check-ins and visits (idempotent by client uuid, one transaction each) and reading them back."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.clock import to_utc, utcnow
from server.config import Settings
from server.errors import AppError, NotFound
from server.geo import check_accuracy, check_coords, distance_m
from server.integrity.service import check_recorded
from server.ledger.models import CONCERN_CATEGORY_LABELS, Concern
from server.places.models import CHECKIN_KINDS, TARGET_KIND_LABELS, Target
from server.places.service import get_target, is_assigned
from server.visits.models import TOPICS, VISIT_TYPE_LABELS, CheckIn, Photo, Visit, VisitPhoto
from server.visits.photos import check_uuid
from server.visits.schemas import CheckInInput, Recorded, VisitInput

MAX_NOTES = 5000
MAX_CONCERN_TEXT = 2000
MAX_PHOTOS = 6
MAX_CONCERNS = 20
CLOCK_AHEAD_FLAG = timedelta(minutes=10)
FAR_FUTURE = timedelta(days=1)
FAR_PAST = timedelta(days=400)


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def check_time(value: datetime | None, received: datetime, what: str) -> datetime:
    """Device times: none → now; more than a day ahead or over a year old → 400."""
    if value is None:
        return received
    value = to_utc(value)
    if value - received > FAR_FUTURE:
        raise AppError(f"{what}晚于当前时间，请检查手机的日期和时间设置。", 400)
    if received - value > FAR_PAST:
        raise AppError(f"{what}过早（超过一年前），请检查手机的日期和时间设置。", 400)
    return value


def time_flags(device_time: datetime, received: datetime) -> list[str]:
    return ["clock_ahead"] if device_time - received > CLOCK_AHEAD_FLAG else []


def require_assigned(target: Target, assigned: bool) -> Target:
    if not assigned:
        raise AppError(f"“{target.name}”不在您的包保/联系对象中，不能为它登记。如有调整请联系管理员。", 403)
    return target


async def _assigned_target(db: AsyncSession, viewer: Viewer, target_id: int) -> Target:
    target = await get_target(db, viewer, target_id)
    return require_assigned(target, await is_assigned(db, viewer.id, target.id))  # type: ignore[arg-type]


@dataclass
class Checked:
    """An input's fields checked without the database: coordinates, accuracy, device time (UTC)."""

    coords: tuple[float, float] | None
    accuracy: float | None
    at: datetime


def check_checkin_input(data: CheckInInput, received: datetime) -> Checked:
    coords = check_coords(data.lat, data.lon)
    return Checked(coords, check_accuracy(data.accuracy), check_time(data.device_time, received, "签到时间"))


async def record_checkin(db: AsyncSession, viewer: Viewer, settings: Settings, data: CheckInInput) -> Recorded:
    """签到. Stored whether on site or not; outside the radius it carries the off_site flag."""
    data.uuid = check_uuid(data.uuid)
    if existing := await db.scalar(select(CheckIn).where(CheckIn.uuid == data.uuid)):
        return Recorded(existing.id, existing.uuid, False, checkin_flags(existing))  # type: ignore[arg-type]
    received = utcnow()
    checked = check_checkin_input(data, received)
    target = await _assigned_target(db, viewer, data.target_id)
    row = CheckIn(**checkin_values(viewer, settings, data.uuid, checked, target, received))
    db.add(row)
    return await _commit_once(db, row, CheckIn, time_flags(checked.at, received), settings)


def checkin_values(
    viewer: Viewer, settings: Settings, uuid: str, checked: Checked, target: Target, received: datetime
) -> dict[str, Any]:
    """The check-in row's fields (a target kind that needs no check-in → 400); ``CheckIn(**…)`` makes the row,
    the sync's bulk path inserts them as they are."""
    if target.kind not in CHECKIN_KINDS:
        raise AppError(f"{TARGET_KIND_LABELS.get(target.kind, target.kind)}不需要签到，请直接登记走访。", 400)
    assert checked.coords is not None
    lat, lon = checked.coords
    radius = settings.checkin_radius_m.get(target.kind, 1000.0)
    dist = distance_m(lat, lon, target.lat, target.lon) if target.lat is not None else None
    return {
        "uuid": uuid,
        "user_id": viewer.id,
        "target_id": target.id,
        "lat": lat,
        "lon": lon,
        "accuracy": checked.accuracy,
        "device_time": checked.at,
        "received_at": received,
        "distance_m": dist,
        "radius_m": radius,
        "off_site": dist is not None and dist > radius,
    }


def checkin_flags(row: CheckIn) -> list[str]:
    flags = ["off_site"] if row.off_site else []
    return flags + time_flags(row.device_time, row.received_at)


async def _commit_once(
    db: AsyncSession,
    row: CheckIn | Visit,
    model: type,
    flags: list[str],
    settings: Settings,
    stage: Callable[[], Awaitable[None]] | None = None,
) -> Recorded:
    """Run ``stage`` (flushes and dependent rows), then commit with the row's integrity flags. When a
    concurrent replay inserted the same uuid first (PostgreSQL reports it at the flush, SQLite at the
    commit), answer 'duplicate'."""
    try:
        if stage is not None:
            await stage()
        await check_recorded(db, row, settings)  # flags are written in the same transaction (docs/integrity.md)
        await db.commit()
    except IntegrityError:
        await db.rollback()
        existing = await db.scalar(select(model).where(model.uuid == row.uuid))
        if existing is None:
            raise
        return Recorded(existing.id, existing.uuid, False, flags)
    if isinstance(row, CheckIn):
        flags = checkin_flags(row)
    return Recorded(row.id, row.uuid, True, flags)  # type: ignore[arg-type]


def validate_visit(data: VisitInput) -> None:
    """Field rules that need no database (bad input → 400 before anything is written)."""
    if data.visit_type not in VISIT_TYPE_LABELS:
        raise AppError("请选择走访方式（入户走访、座谈交流、现场办公或电话回访）。", 400)
    if len(data.notes) > MAX_NOTES:
        raise AppError(f"走访内容最多 {MAX_NOTES} 字，请精简后再提交。", 400)
    if data.visit_type != "phone" and not data.notes.strip() and not data.concerns and not data.topics:
        raise AppError("请填写走访内容，或勾选了解的事项。", 400)
    unknown = [t for t in data.topics if t not in TOPICS]
    if unknown:
        raise AppError(f"未知的走访事项：{'、'.join(unknown[:3])}。", 400)
    if len(data.photo_uuids) > MAX_PHOTOS:
        raise AppError(f"每次走访最多 {MAX_PHOTOS} 张照片。", 400)
    if len(data.concerns) > MAX_CONCERNS:
        raise AppError(f"每次走访最多登记 {MAX_CONCERNS} 条诉求，请分次登记。", 400)
    for concern in data.concerns:
        if not concern.text.strip():
            raise AppError("诉求内容不能为空。", 400)
        if len(concern.text) > MAX_CONCERN_TEXT:
            raise AppError(f"每条诉求最多 {MAX_CONCERN_TEXT} 字。", 400)
        if concern.category not in CONCERN_CATEGORY_LABELS:
            raise AppError("诉求类别应为问题类、诉求类、信访类或建议类。", 400)


def check_visit_input(data: VisitInput, received: datetime) -> Checked:
    """Everything about a visit that needs no database (bad input → 400 before anything is written)."""
    validate_visit(data)
    coords = check_coords(data.lat, data.lon, required=data.visit_type != "phone")
    accuracy = check_accuracy(data.accuracy)
    return Checked(coords, accuracy, check_time(data.visited_at, received, "走访时间"))


def visit_values(
    viewer: Viewer, data: VisitInput, checked: Checked, target: Target, received: datetime
) -> dict[str, Any]:
    """The visit row's fields; ``Visit(**…)`` makes the row, the sync's bulk path inserts them as they are."""
    coords = checked.coords
    dist = None
    if coords and target.lat is not None and target.lon is not None:
        dist = distance_m(coords[0], coords[1], target.lat, target.lon)
    return {
        "uuid": data.uuid,
        "user_id": viewer.id,
        "target_id": target.id,
        "visit_type": data.visit_type,
        "visited_at": checked.at,
        "received_at": received,
        "lat": coords[0] if coords else None,
        "lon": coords[1] if coords else None,
        "accuracy": checked.accuracy,
        "distance_m": dist,
        "notes": data.notes.strip(),
        "topics": "|".join(data.topics),
    }


def visit_concerns(
    viewer: Viewer, data: VisitInput, checked: Checked, target: Target, received: datetime
) -> list[Concern]:
    """The visit's concern rows (their ``visit_id`` is set once the visit has its id)."""
    return [
        Concern(
            uuid=check_uuid(concern.uuid) if concern.uuid else new_uuid(),
            target_id=target.id,  # type: ignore[arg-type]
            org_unit_id=target.org_unit_id,
            raised_by_id=viewer.id,
            text=concern.text.strip(),
            category=concern.category,
            created_at=checked.at,
            updated_at=received,
        )
        for concern in data.concerns
    ]


def link_values(visit_id: int, photo_uuids: list[str]) -> list[dict[str, Any]]:
    """The visit's photo links in order, each photo once."""
    return [
        {"visit_id": visit_id, "photo_uuid": photo_uuid, "position": position}
        for position, photo_uuid in enumerate(dict.fromkeys(photo_uuids))
    ]


async def record_visit(
    db: AsyncSession, viewer: Viewer, settings: Settings, data: VisitInput, photos: list[Photo] | None = None
) -> Recorded:
    """走访. The visit, its photo links, new photo rows and its concerns are written in one commit."""
    data.uuid = check_uuid(data.uuid)
    data.photo_uuids = [check_uuid(p, "照片编号") for p in data.photo_uuids]
    if existing := await db.scalar(select(Visit).where(Visit.uuid == data.uuid)):
        return Recorded(existing.id, existing.uuid, False, [])  # type: ignore[arg-type]
    received = utcnow()
    checked = check_visit_input(data, received)
    target = await _assigned_target(db, viewer, data.target_id)
    visit = Visit(**visit_values(viewer, data, checked, target, received))
    concerns = visit_concerns(viewer, data, checked, target, received)
    db.add(visit)
    for photo in photos or []:
        db.add(photo)

    async def stage() -> None:
        await db.flush()
        db.add_all(VisitPhoto(**link) for link in link_values(visit.id, data.photo_uuids))  # type: ignore[arg-type]
        for concern in concerns:
            concern.visit_id = visit.id
            db.add(concern)

    return await _commit_once(db, visit, Visit, time_flags(checked.at, received), settings, stage)


@dataclass
class VisitView:
    visit: Visit
    target: Target
    author: str
    photos: list[Photo] = field(default_factory=list)
    pending_photos: list[str] = field(default_factory=list)
    concerns: list[Concern] = field(default_factory=list)

    @property
    def topic_list(self) -> list[str]:
        return [t for t in self.visit.topics.split("|") if t]


def _scoped_visits():  # type: ignore[no-untyped-def]
    return (
        select(Visit, Target, User.display_name)
        .join(Target, Target.id == Visit.target_id)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .join(User, User.id == Visit.user_id)
    )


async def list_visits(
    db: AsyncSession,
    viewer: Viewer,
    *,
    user_id: int | None = None,
    target_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[VisitView]:
    stmt = _scoped_visits().where(OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
    if user_id is not None:
        stmt = stmt.where(Visit.user_id == user_id)
    if target_id is not None:
        stmt = stmt.where(Visit.target_id == target_id)
    if start is not None:
        stmt = stmt.where(Visit.visited_at >= start)
    if end is not None:
        stmt = stmt.where(Visit.visited_at < end)
    stmt = stmt.order_by(Visit.visited_at.desc()).limit(limit).offset(offset)  # type: ignore[attr-defined]
    return [VisitView(v, t, author) for v, t, author in (await db.execute(stmt)).all()]


async def get_visit(db: AsyncSession, viewer: Viewer, visit_id: int) -> VisitView:
    """One visit in the viewer's scope with its photos (arrived or still uploading) and concerns."""
    row = (
        await db.execute(
            _scoped_visits().where(Visit.id == visit_id, OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        )
    ).first()
    if row is None:
        raise NotFound("找不到该走访记录，或它不在您的管辖范围内。")
    view = VisitView(*row)
    links = (
        await db.scalars(select(VisitPhoto).where(VisitPhoto.visit_id == visit_id).order_by(VisitPhoto.position))
    ).all()
    uuids = [link.photo_uuid for link in links]
    photos = {p.uuid: p for p in await db.scalars(select(Photo).where(Photo.uuid.in_(uuids)))} if uuids else {}  # type: ignore[attr-defined]
    view.photos = [photos[u] for u in uuids if u in photos]
    view.pending_photos = [u for u in uuids if u not in photos]
    view.concerns = list(await db.scalars(select(Concern).where(Concern.visit_id == visit_id).order_by(Concern.id)))
    return view


async def list_checkins(
    db: AsyncSession, viewer: Viewer, *, user_id: int, start: datetime, end: datetime
) -> list[tuple[CheckIn, Target]]:
    stmt = (
        select(CheckIn, Target)
        .join(Target, Target.id == CheckIn.target_id)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(
            CheckIn.user_id == user_id,
            CheckIn.device_time >= start,
            CheckIn.device_time < end,
            OrgUnit.path.startswith(viewer.unit_path),  # type: ignore[attr-defined]
        )
        .order_by(CheckIn.device_time)
    )
    return [(c, t) for c, t in (await db.execute(stmt)).all()]
