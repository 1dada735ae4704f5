"""Integrity flags: computed when a visit or check-in is recorded, re-scanned for a period, reviewed by 督导.

``check_visit``/``check_checkin`` stage the flags in the caller's session and do not commit: the
recording path calls them after its flush and before its single commit, so a visit and its flags are
written in one transaction (and a replayed uuid, which returns before recording, adds nothing).
Re-checking updates open flags, adds new ones and drops open ones whose evidence is gone; confirmed
or dismissed flags are left as the reviewer decided.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer, unit_in_scope
from server.clock import local_day, utcnow
from server.config import Settings, get_settings
from server.errors import AppError, NotFound
from server.integrity.checks import Finding, checkin_findings, visit_findings
from server.integrity.models import FLAG_CODE_LABELS, FlagStatus, IntegrityFlag
from server.places.models import Target
from server.visits.models import CheckIn, Visit, VisitPhoto

MAX_NOTE = 500
PAGE_SIZE = 30
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
SCAN_BATCH = 200


async def check_visit(db: AsyncSession, visit_id: int, settings: Settings | None = None) -> list[IntegrityFlag]:
    """Run every check on one visit and stage its flags in ``db`` (the caller commits)."""
    visit = await db.get(Visit, visit_id)
    if visit is None:
        return []
    target = await db.get(Target, visit.target_id)
    assert target is not None
    findings = await visit_findings(db, visit, target, settings or get_settings())
    return await _apply(db, findings, visit_id=visit_id, user_id=visit.user_id, target=target, at=visit.visited_at)


async def check_checkin(db: AsyncSession, checkin_id: int) -> list[IntegrityFlag]:
    """Run the check-in checks (distance, mock location) and stage its flags (the caller commits)."""
    checkin = await db.get(CheckIn, checkin_id)
    if checkin is None:
        return []
    target = await db.get(Target, checkin.target_id)
    assert target is not None
    findings = await checkin_findings(checkin, target)
    return await _apply(
        db, findings, checkin_id=checkin_id, user_id=checkin.user_id, target=target, at=checkin.device_time
    )


def flag_values(
    finding: Finding,
    *,
    user_id: int,
    target: Target,
    at: datetime,
    visit_id: int | None = None,
    checkin_id: int | None = None,
) -> dict[str, Any]:
    """The fields of a finding's flag row on a visit or check-in (``integrity.batch`` inserts them as is)."""
    return {
        "visit_id": visit_id,
        "checkin_id": checkin_id,
        "user_id": user_id,
        "org_unit_id": target.org_unit_id,
        "occurred_at": at,
        "code": finding.code,
        "severity": finding.severity,
        "message": finding.message,
    }


async def _apply(
    db: AsyncSession,
    findings: list[Finding],
    *,
    user_id: int,
    target: Target,
    at: datetime,
    visit_id: int | None = None,
    checkin_id: int | None = None,
) -> list[IntegrityFlag]:
    key = IntegrityFlag.visit_id == visit_id if visit_id is not None else IntegrityFlag.checkin_id == checkin_id
    existing = {f.code: f for f in await db.scalars(select(IntegrityFlag).where(key))}
    now = utcnow()
    current: list[IntegrityFlag] = []
    for finding in findings:
        flag = existing.pop(finding.code, None)
        if flag is None:
            values = flag_values(
                finding, user_id=user_id, target=target, at=at, visit_id=visit_id, checkin_id=checkin_id
            )
            flag = IntegrityFlag(**values)
            db.add(flag)
        elif flag.status == FlagStatus.open and (flag.message, flag.severity) != (finding.message, finding.severity):
            flag.message, flag.severity, flag.updated_at = finding.message, finding.severity, now
        current.append(flag)
    for flag in existing.values():
        if flag.status == FlagStatus.open:
            await db.delete(flag)  # the evidence is gone (e.g. the photo arrived); the visit is untouched
        else:
            current.append(flag)
    return current


@dataclass
class ScanSummary:
    visits: int
    checkins: int
    open_by_code: Counter[str]


async def scan_period(db: AsyncSession, start: datetime, end: datetime, settings: Settings) -> ScanSummary:
    """(Re)check every visit and check-in whose device time is in [start, end), in id order, in batches."""
    visit_ids = list(
        await db.scalars(select(Visit.id).where(Visit.visited_at >= start, Visit.visited_at < end).order_by(Visit.id))
    )
    checkin_ids = list(
        await db.scalars(
            select(CheckIn.id).where(CheckIn.device_time >= start, CheckIn.device_time < end).order_by(CheckIn.id)
        )
    )
    await db.commit()
    for model, ids in ((Visit, visit_ids), (CheckIn, checkin_ids)):
        for first in range(0, len(ids), SCAN_BATCH):
            batch = ids[first : first + SCAN_BATCH]
            # held here so the session's (weak) identity map answers check_*'s db.get without a query
            loaded = list(await db.scalars(select(model).where(model.id.in_(batch))))  # type: ignore[attr-defined]
            targets = list(await db.scalars(select(Target).where(Target.id.in_({r.target_id for r in loaded}))))  # type: ignore[attr-defined]
            for record_id in batch:
                await (check_visit(db, record_id, settings) if model is Visit else check_checkin(db, record_id))
            await db.commit()
            del loaded, targets
    counts = await db.execute(
        select(IntegrityFlag.code, func.count())
        .where(
            IntegrityFlag.status == FlagStatus.open,
            IntegrityFlag.occurred_at >= start,
            IntegrityFlag.occurred_at < end,
        )
        .group_by(IntegrityFlag.code)
    )
    return ScanSummary(len(visit_ids), len(checkin_ids), Counter({code: int(n) for code, n in counts.all()}))


# --- reading and reviewing -------------------------------------------------------------------------


@dataclass
class FlagRow:
    flag: IntegrityFlag
    cadre: str
    unit: str
    reviewer: str | None = None

    @property
    def label(self) -> str:
        return FLAG_CODE_LABELS.get(self.flag.code, self.flag.code)  # type: ignore[call-overload]

    @property
    def link(self) -> str:
        if self.flag.visit_id:
            return f"/visits/{self.flag.visit_id}"
        return f"/diary?user_id={self.flag.user_id}&day={local_day(self.flag.occurred_at).isoformat()}"


@dataclass
class FlagFilter:
    code: str | None = None
    user_id: int | None = None
    unit_id: int | None = None
    status: str | None = FlagStatus.open
    start: datetime | None = None
    end: datetime | None = None


def _scoped(viewer: Viewer):  # type: ignore[no-untyped-def]
    reviewer = User.__table__.alias("reviewer")  # type: ignore[attr-defined]
    return (
        select(IntegrityFlag, User.display_name, OrgUnit.name, reviewer.c.display_name)
        .join(User, User.id == IntegrityFlag.user_id)
        .join(OrgUnit, OrgUnit.id == IntegrityFlag.org_unit_id)
        .outerjoin(reviewer, reviewer.c.id == IntegrityFlag.reviewer_id)
        .where(OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
    )


async def list_flags(db: AsyncSession, viewer: Viewer, filt: FlagFilter, page: int = 1) -> tuple[list[FlagRow], int]:
    """The review queue in the viewer's scope, newest first; returns (rows of the page, total)."""
    stmt = _scoped(viewer)
    if filt.code:
        stmt = stmt.where(IntegrityFlag.code == filt.code)
    if filt.status:
        stmt = stmt.where(IntegrityFlag.status == filt.status)
    if filt.user_id:
        stmt = stmt.where(IntegrityFlag.user_id == filt.user_id)
    if filt.unit_id:
        unit = await unit_in_scope(db, viewer, filt.unit_id)
        stmt = stmt.where(OrgUnit.path.startswith(unit.path))  # type: ignore[attr-defined]
    if filt.start:
        stmt = stmt.where(IntegrityFlag.occurred_at >= filt.start)
    if filt.end:
        stmt = stmt.where(IntegrityFlag.occurred_at < filt.end)
    total = await db.scalar(select(func.count()).select_from(stmt.subquery()))
    urgency = case(SEVERITY_ORDER, value=IntegrityFlag.severity, else_=len(SEVERITY_ORDER))
    stmt = stmt.order_by(urgency, IntegrityFlag.occurred_at.desc(), IntegrityFlag.id.desc())  # type: ignore[attr-defined, union-attr]
    rows = (await db.execute(stmt.limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE))).all()
    return [FlagRow(*row) for row in rows], int(total or 0)


async def get_flag(db: AsyncSession, viewer: Viewer, flag_id: int) -> FlagRow:
    row = (await db.execute(_scoped(viewer).where(IntegrityFlag.id == flag_id))).first()
    if row is None:
        raise NotFound("找不到该异常标记，或它不在您的管辖范围内。")
    return FlagRow(*row)


async def visit_flags(db: AsyncSession, viewer: Viewer, visit_id: int) -> list[FlagRow]:
    rows = await db.execute(_scoped(viewer).where(IntegrityFlag.visit_id == visit_id).order_by(IntegrityFlag.id))
    return [FlagRow(*row) for row in rows.all()]


REVIEW_ACTIONS = {"confirm": FlagStatus.confirmed, "dismiss": FlagStatus.dismissed, "reopen": FlagStatus.open}


async def review_flag(db: AsyncSession, viewer: Viewer, flag_id: int, action: str, note: str) -> FlagRow:
    """确认 (confirmed) or 排除 (dismissed) a flag with a note saying what was found; 重新打开 resets it."""
    status = REVIEW_ACTIONS.get(action)
    if status is None:
        raise AppError("请选择“确认异常”或“排除异常”。", 400)
    note = (note or "").strip()
    if status != FlagStatus.open and not note:
        raise AppError("请填写核查说明（例如：已电话联系户主，确有走访）。", 400)
    if len(note) > MAX_NOTE:
        raise AppError(f"核查说明最多 {MAX_NOTE} 字。", 400)
    row = await get_flag(db, viewer, flag_id)
    flag = row.flag
    flag.status = status
    flag.note = note
    flag.reviewer_id = viewer.id if status != FlagStatus.open else None
    flag.reviewed_at = utcnow() if status != FlagStatus.open else None
    flag.updated_at = utcnow()
    await db.commit()
    row.reviewer = viewer.display_name if status != FlagStatus.open else None
    return row


async def check_recorded(db: AsyncSession, row: Visit | CheckIn, settings: Settings) -> list[IntegrityFlag]:
    """The recording hook (``visits.service``): flush the new row, then stage its flags before the one commit."""
    await db.flush()
    if isinstance(row, Visit):
        return await check_visit(db, row.id, settings)  # type: ignore[arg-type]
    return await check_checkin(db, row.id)  # type: ignore[arg-type]


FIELD_ROLES = ("cadre", "leader")


async def cadres_in_unit(db: AsyncSession, unit_path: str) -> list[tuple[User, OrgUnit]]:
    """Active cadres and leaders (the people who go down) whose unit lies under ``unit_path``."""
    rows = await db.execute(
        select(User, OrgUnit)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(
            OrgUnit.path.startswith(unit_path),  # type: ignore[attr-defined]
            User.role.in_(FIELD_ROLES),  # type: ignore[attr-defined]
            User.is_active.is_(True),  # type: ignore[attr-defined]
        )
        .order_by(OrgUnit.path, User.display_name)
    )
    return [(u, o) for u, o in rows.all()]


async def check_photo_arrival(db: AsyncSession, photo_uuid: str, settings: Settings) -> None:
    """The photo hook (``visits.photos.put_photo``): a photo uploaded after its visit (offline sync) re-checks
    the visits that link it, in the same transaction as the photo row."""
    await db.flush()
    for visit_id in list(await db.scalars(select(VisitPhoto.visit_id).where(VisitPhoto.photo_uuid == photo_uuid))):
        await check_visit(db, visit_id, settings)
