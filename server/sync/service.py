"""Batch sync from the phone's outbox: every item is decoded, checked and stored on its own, idempotently
by its client uuid, and answered created / duplicate / rejected. New check-ins and visits of a batch are
written together by ``sync.bulk`` (same checks, same answers); the rest one transaction per item."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.service import Viewer
from server.clock import to_utc, utcnow
from server.config import Settings
from server.db import read_phase
from server.diary.models import DiaryNote
from server.errors import AppError
from server.ledger.lifecycle import record_event
from server.ledger.models import Concern, ConcernState
from server.ledger.service import new_concern
from server.sync.bulk import FOREIGN_PHOTO, checkin_input, plan_bulk, visit_input, write_bulk
from server.sync.schemas import MAX_ITEMS, SyncItem, SyncResult
from server.visits.models import CheckIn, Photo, Visit
from server.visits.photos import check_uuid
from server.visits.schemas import Recorded
from server.visits.service import (
    _assigned_target,
    check_time,
    checkin_flags,
    record_checkin,
    record_visit,
    time_flags,
)


class Envelope(msgspec.Struct):
    items: list[msgspec.Raw]


_MISSING = re.compile(r"missing required field `([^`]+)`")
_AT = re.compile(r"at `\$\.?([^`]*)`")


def describe_validation(exc: msgspec.ValidationError | msgspec.DecodeError) -> str:
    """msgspec's English message → which field is wrong, in Chinese."""
    text = str(exc)
    if match := _MISSING.search(text):
        return f"缺少字段 {match.group(1)}"
    if "timezone" in text and (match := _AT.search(text)):
        return f"字段 {match.group(1)} 必须带时区偏移（如 +08:00）"
    if match := _AT.search(text):
        return f"字段 {match.group(1)} 的值不正确"
    return "数据格式不正确"


def decode_envelope(body: bytes) -> list[msgspec.Raw]:
    """The outer ``{"items": [...]}``; a body that is not even that is a 400 for the whole request."""
    try:
        items = msgspec.json.decode(body, type=Envelope).items
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise AppError(f'同步请求格式不正确（{describe_validation(exc)}），应为 {{"items": [...]}}。', 400) from None
    if len(items) > MAX_ITEMS:
        raise AppError(f"每次最多同步 {MAX_ITEMS} 条，本次 {len(items)} 条，请分批上传。", 413)
    return items


def _raw_uuid(raw: msgspec.Raw) -> str:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return ""
    return str(value.get("uuid") or "") if isinstance(value, dict) else ""


async def sync_checkin(db: AsyncSession, viewer: Viewer, settings: Settings, item: SyncItem) -> Recorded:
    return await record_checkin(db, viewer, settings, checkin_input(item))


async def _check_photo_owner(db: AsyncSession, viewer: Viewer, photo_uuids: list[str]) -> None:
    uuids = [check_uuid(p, "照片编号") for p in photo_uuids]
    if not uuids:
        return
    foreign = await db.scalar(
        select(Photo.uuid).where(Photo.uuid.in_(uuids), Photo.user_id != viewer.id).limit(1)  # type: ignore[attr-defined]
    )
    if foreign is not None:
        raise AppError(FOREIGN_PHOTO, 409)


async def sync_visit(db: AsyncSession, viewer: Viewer, settings: Settings, item: SyncItem) -> Recorded:
    await _check_photo_owner(db, viewer, item.photo_uuids)
    recorded = await record_visit(db, viewer, settings, visit_input(item))
    if recorded.created:  # the device clock, not only the stated visit time
        recorded.flags = sorted(set(recorded.flags) | set(time_flags(to_utc(item.created_at), utcnow())))
    return recorded


async def sync_concern(db: AsyncSession, viewer: Viewer, settings: Settings, item: SyncItem) -> Recorded:
    """A concern recorded on its own (optionally attached to one of my visits), with its 登记 event."""
    concern_uuid = check_uuid(item.uuid)
    if existing := await db.scalar(select(Concern).where(Concern.uuid == concern_uuid)):
        return Recorded(existing.id, existing.uuid, False, [])  # type: ignore[arg-type]
    received = utcnow()
    created_at = check_time(item.created_at, received, "登记时间")
    target = await _assigned_target(db, viewer, item.target_id)
    visit_id = None
    if item.visit_uuid:
        visit_id = await db.scalar(
            select(Visit.id).where(Visit.uuid == check_uuid(item.visit_uuid, "走访编号"), Visit.user_id == viewer.id)
        )
        if visit_id is None:
            raise AppError("这条诉求所属的走访记录还没有上传，请先同步该走访记录后再试。", 409)
    concern = new_concern(target, viewer, item.text, item.category, item.urgency, "visit" if visit_id else "direct")
    concern.uuid = concern_uuid
    concern.visit_id = visit_id
    concern.created_at = created_at
    concern.updated_at = received
    db.add(concern)
    try:
        await db.flush()
        db.add(record_event(concern, viewer, "register", ConcernState.registered, "手机离线登记"))
        await db.commit()
    except IntegrityError:  # a concurrent replay stored the same uuid first
        await db.rollback()
        existing = await db.scalar(select(Concern).where(Concern.uuid == concern_uuid))
        if existing is None:
            raise
        return Recorded(existing.id, existing.uuid, False, [])  # type: ignore[arg-type]
    return Recorded(concern.id, concern.uuid, True, time_flags(created_at, received))  # type: ignore[arg-type]


Recorder = Callable[[AsyncSession, Viewer, Settings, SyncItem], Awaitable[Recorded]]
RECORDERS: dict[str, Recorder] = {"checkin": sync_checkin, "visit": sync_visit, "concern": sync_concern}


def decode_item(viewer: Viewer, number: int, raw: msgspec.Raw) -> SyncItem | SyncResult:
    """The item, or its 'rejected' answer when it cannot be read or was made by another user."""
    try:
        item = msgspec.json.decode(raw, type=SyncItem)
        item.uuid = check_uuid(item.uuid)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        reason = f"第 {number} 条记录格式不正确（{describe_validation(exc)}），请修改后重新提交，或删除这条记录。"
        return SyncResult(uuid=_raw_uuid(raw), status="rejected", error=reason)
    except AppError as exc:
        return SyncResult(uuid=_raw_uuid(raw), status="rejected", error=exc.message)
    if item.user is not None and item.user != viewer.username:
        error = f"这条记录是用户 {item.user} 在这部手机上登记的，请该用户登录后再同步。"
        return SyncResult(uuid=item.uuid, status="rejected", error=error)
    return item


async def known_records(db: AsyncSession, items: list[SyncItem]) -> dict[tuple[str, str], SyncResult]:
    """Items stored before (a replay), found with one query per kind: answered 'duplicate' at once."""
    found: dict[tuple[str, str], SyncResult] = {}
    for kind, model in (("checkin", CheckIn), ("visit", Visit), ("concern", Concern)):
        uuids = [i.uuid for i in items if i.kind == kind]
        for start in range(0, len(uuids), 400):
            rows = await db.scalars(select(model).where(model.uuid.in_(uuids[start : start + 400])))  # type: ignore[attr-defined]
            for row in rows:
                flags = checkin_flags(row) if kind == "checkin" else []
                found[(kind, row.uuid)] = SyncResult(uuid=row.uuid, status="duplicate", flags=flags, id=row.id)
    return found


async def record_item(db: AsyncSession, viewer: Viewer, settings: Settings, item: SyncItem) -> SyncResult:
    """One item, alone: its own transaction; a bad item is answered 'rejected' with the reason."""
    try:
        recorded = await RECORDERS[item.kind](db, viewer, settings, item)
    except AppError as exc:
        return SyncResult(uuid=item.uuid, status="rejected", error=exc.message)
    except IntegrityError:
        # A concurrent replay inserted the same uuid between our check and our write (PostgreSQL; SQLite
        # serialises writers): the item is stored, so this is a duplicate.
        await db.rollback()
        if stored := (await known_records(db, [item])).get((item.kind, item.uuid)):
            return stored
        raise
    finally:
        await db.rollback()  # ends the item's transaction (releases SQLite's write lock) whatever happened
    status = "created" if recorded.created else "duplicate"
    return SyncResult(uuid=recorded.uuid, status=status, flags=recorded.flags, id=recorded.id)


@asynccontextmanager
async def batch_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session on one connection for a whole batch: its items still commit one by one, but without a
    pool checkout (or, with no pool, a new database connection) per item."""
    async with engine.connect() as connection, AsyncSession(bind=connection, expire_on_commit=False) as session:
        yield session


async def sync_batch(db: AsyncSession, viewer: Viewer, settings: Settings, body: bytes) -> list[SyncResult]:
    """All items, answered in order. An unexpected failure (database down) fails the request: the phone
    retries it, and the items already stored answer 'duplicate'."""
    decoded = [decode_item(viewer, n, raw) for n, raw in enumerate(decode_envelope(body), start=1)]
    async with read_phase(db):  # lookups and checks without holding SQLite's write lock
        known = await known_records(db, [d for d in decoded if isinstance(d, SyncItem)])
        plan = await plan_bulk(db, viewer, settings, decoded, known)
    bulk = await write_bulk(db, plan, settings) if plan else {}  # new check-ins and visits in one write
    await db.rollback()
    results = []
    for n, entry in enumerate(decoded):
        if isinstance(entry, SyncItem):
            entry = known.get((entry.kind, entry.uuid)) or bulk.get(n) or await record_item(db, viewer, settings, entry)
        results.append(entry)
    return results


async def current_note(db: AsyncSession, viewer: Viewer, day: date) -> DiaryNote | None:
    return await db.scalar(select(DiaryNote).where(DiaryNote.user_id == viewer.id, DiaryNote.day == day))


def result_counts(results: list[SyncResult]) -> dict[str, Any]:
    counts = {"created": 0, "duplicate": 0, "rejected": 0}
    for result in results:
        counts[result.status] += 1
    return counts
