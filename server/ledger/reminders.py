"""Extension requests, 即将到期 / 超期 reminders, the 催办 mark and escalation one org level up.

``sweep`` is idempotent: it marks overdue items as urged (催办) and, after
``ESCALATE_AFTER_WORKING_DAYS`` more working days, escalates them to the parent of the responsible
unit (and further up after each further period). It runs when ledger pages load and from
``POST /ledger/sweep``; every mark is an event on the timeline.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.clock import local_day, local_today, utcnow
from server.errors import AppError, Conflict, Forbidden
from server.ledger.deadlines import ESCALATE_AFTER_WORKING_DAYS, OPEN_STATES, load_calendar
from server.ledger.lifecycle import ACTIONS, may, record_event
from server.ledger.models import Concern, ExtensionRequest
from server.ledger.service import get_concern_for_update

MAX_REASON = 500


def _check_version(concern: Concern, version: int) -> None:
    if version != concern.version:
        raise Conflict(
            f"这条诉求已被他人更新（当前版本 {concern.version}），请刷新后再操作。",
            extra={"current_version": concern.version, "state": concern.state},
        )


async def request_extension(
    db: AsyncSession, viewer: Viewer, concern_id: int, version: int, new_deadline: date, reason: str
) -> ExtensionRequest:
    """申请延期: only before the deadline, for a later day, with a reason; one pending request at a time."""
    concern = await get_concern_for_update(db, viewer, concern_id)
    _check_version(concern, version)
    if not may(viewer, concern, ACTIONS["progress"]):
        raise Forbidden("只有责任人或班子成员可以申请延期。")
    if concern.deadline is None or concern.state not in OPEN_STATES:
        raise AppError("只有已交办、尚未办结的诉求可以申请延期。", 409)
    today = local_today()
    if today > concern.deadline:
        raise AppError("已经超过办理时限，不能再申请延期；请尽快办理并说明情况。", 409)
    if new_deadline <= concern.deadline:
        raise AppError("延期后的时限须晚于原时限。", 400)
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise AppError(f"请填写延期理由（最多 {MAX_REASON} 字）。", 400)
    pending = await db.scalar(
        select(ExtensionRequest.id).where(
            ExtensionRequest.concern_id == concern.id, ExtensionRequest.decision == "pending"
        )
    )
    if pending:
        raise AppError("已有一份延期申请等待审批，请等待班子成员处理。", 409)
    request = ExtensionRequest(
        concern_id=concern.id,  # type: ignore[arg-type]
        requested_by_id=viewer.id,
        old_deadline=concern.deadline,
        new_deadline=new_deadline,
        reason=reason,
    )
    db.add(request)
    concern.version += 1
    concern.updated_at = utcnow()
    db.add(record_event(concern, viewer, "extension", concern.state, f"申请延期至 {new_deadline}：{reason}"))
    await db.commit()
    return request


async def decide_extension(
    db: AsyncSession, viewer: Viewer, concern_id: int, version: int, request_id: int, approve: bool
) -> Concern:
    concern = await get_concern_for_update(db, viewer, concern_id)
    _check_version(concern, version)
    if not viewer.has_role("leader"):
        raise Forbidden("只有班子成员可以审批延期申请。")
    request = await db.get(ExtensionRequest, request_id)
    if request is None or request.concern_id != concern.id or request.decision != "pending":
        raise AppError("这份延期申请不存在或已处理。", 409)
    request.decision = "approved" if approve else "rejected"
    request.decided_by_id, request.decided_at = viewer.id, utcnow()
    if approve:
        concern.deadline = request.new_deadline
        concern.urged_at = concern.escalated_at = concern.escalated_unit_id = None
    concern.version += 1
    concern.updated_at = utcnow()
    action = "extension_approved" if approve else "extension_rejected"
    note = f"时限调整为 {request.new_deadline}" if approve else f"维持原时限 {concern.deadline}"
    db.add(record_event(concern, viewer, action, concern.state, note))
    await db.commit()
    return concern


async def _responsible_unit(db: AsyncSession, concern: Concern) -> int:
    if concern.owner_id is not None:
        owner = await db.get(User, concern.owner_id)
        if owner is not None:
            return owner.org_unit_id
    return concern.org_unit_id


async def sweep(db: AsyncSession, today: date | None = None) -> tuple[int, int]:
    """Mark overdue items 催办 and escalate long-overdue ones; returns (urged, escalated). Commits once."""
    today = today or local_today()
    calendar = await load_calendar(db)
    rows = await db.scalars(
        select(Concern).where(Concern.state.in_(OPEN_STATES), Concern.deadline < today)  # type: ignore[attr-defined]
    )
    urged = escalated = 0
    now = utcnow()
    for concern in rows:
        assert concern.deadline is not None
        if concern.urged_at is None:
            concern.urged_at = now
            db.add(record_event(concern, None, "auto_urge", concern.state, f"已超过时限 {concern.deadline}，催办"))
            urged += 1
        since = local_day(concern.escalated_at) if concern.escalated_at else concern.deadline
        overdue = calendar.working_days_between(since, today)
        if overdue < ESCALATE_AFTER_WORKING_DAYS:
            continue
        base = concern.escalated_unit_id or await _responsible_unit(db, concern)
        unit = await db.get(OrgUnit, base)
        parent = await db.get(OrgUnit, unit.parent_id) if unit and unit.parent_id else None
        if parent is None:
            continue
        concern.escalated_unit_id, concern.escalated_at = parent.id, now
        note = f"超期 {overdue} 个工作日仍未办结，上报{parent.name}督办"
        db.add(record_event(concern, None, "escalate", concern.state, note))
        escalated += 1
    if urged or escalated:
        await db.commit()
    return urged, escalated
