"""Reading and writing concerns within the viewer's scope: one concern, its timeline, new concerns,
transitions (one transaction each) and duplicate hints."""

from __future__ import annotations

import difflib
import uuid as uuidlib
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.clock import utcnow
from server.errors import AppError, NotFound
from server.ledger.lifecycle import ActionInput, apply_action, record_event
from server.ledger.models import (
    CONCERN_CATEGORY_LABELS,
    URGENCY_LABELS,
    Concern,
    ConcernEvent,
    ConcernState,
    ExtensionRequest,
)
from server.places.models import Target
from server.places.service import get_target
from server.visits.models import Photo, VisitPhoto

MAX_TEXT = 2000
SIMILARITY_THRESHOLD = 0.45


def scoped_concerns(viewer: Viewer):  # type: ignore[no-untyped-def]
    """select(Concern, Target, OrgUnit) limited to the viewer's org subtree."""
    return (
        select(Concern, Target, OrgUnit)
        .join(Target, Target.id == Concern.target_id)
        .join(OrgUnit, OrgUnit.id == Concern.org_unit_id)
        .where(OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
    )


async def get_concern(db: AsyncSession, viewer: Viewer, concern_id: int) -> Concern:
    """A concern in the viewer's scope, else 404 (whether it exists elsewhere or not)."""
    row = (await db.execute(scoped_concerns(viewer).where(Concern.id == concern_id))).first()
    if row is None:
        raise NotFound(f"找不到诉求 #{concern_id}，或它不在您的管辖范围内。")
    return row[0]


async def get_concern_for_update(db: AsyncSession, viewer: Viewer, concern_id: int) -> Concern:
    """Like ``get_concern`` but locks the row (PostgreSQL ``FOR UPDATE``; SQLite holds the write lock from
    ``BEGIN IMMEDIATE``), so the version check and the write see the same row."""
    stmt = scoped_concerns(viewer).where(Concern.id == concern_id).with_for_update(of=Concern)  # type: ignore[arg-type]
    row = (await db.execute(stmt.execution_options(populate_existing=True))).first()
    if row is None:
        raise NotFound(f"找不到诉求 #{concern_id}，或它不在您的管辖范围内。")
    return row[0]


async def owner_in_scope(db: AsyncSession, viewer: Viewer, user_id: int) -> User:
    user = await db.scalar(
        select(User)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.id == user_id, User.is_active.is_(True), OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
    )
    if user is None or user.role not in ("cadre", "leader"):
        raise AppError("责任人须是您管辖范围内的干部或班子成员，请重新选择。", 400)
    return user


async def owner_choices(db: AsyncSession, viewer: Viewer) -> list[User]:
    rows = await db.scalars(
        select(User)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(
            OrgUnit.path.startswith(viewer.unit_path),  # type: ignore[attr-defined]
            User.is_active.is_(True),  # type: ignore[attr-defined]
            User.role.in_(("cadre", "leader")),  # type: ignore[attr-defined]
        )
        .order_by(User.role, User.display_name)
    )
    return list(rows)


async def transition(db: AsyncSession, viewer: Viewer, concern_id: int, data: ActionInput) -> Concern:
    """Apply one lifecycle action and commit (nothing is written if any check fails)."""
    concern = await get_concern_for_update(db, viewer, concern_id)
    try:
        await apply_action(db, viewer, concern, data)
    except AppError:
        await db.rollback()
        raise
    await db.commit()
    return concern


def village_of(target: Target) -> int | None:
    """The village target a target belongs to (a village is its own)."""
    return target.id if target.kind == "village" else target.village_id


def new_concern(
    target: Target, viewer: Viewer, text: str, category: str, urgency: str, source: str, meeting_id: int | None = None
) -> Concern:
    """A validated, not yet added concern (raises 400 on bad input)."""
    text = (text or "").strip()
    if not text:
        raise AppError("诉求内容不能为空。", 400)
    if len(text) > MAX_TEXT:
        raise AppError(f"每条诉求最多 {MAX_TEXT} 字。", 400)
    if category not in CONCERN_CATEGORY_LABELS:
        raise AppError("诉求类别应为问题类、诉求类、信访类或建议类。", 400)
    if urgency not in URGENCY_LABELS:
        raise AppError("紧急程度应为一般或紧急。", 400)
    now = utcnow()
    return Concern(
        uuid=str(uuidlib.uuid4()),
        target_id=target.id,  # type: ignore[arg-type]
        org_unit_id=target.org_unit_id,
        raised_by_id=viewer.id,
        text=text,
        category=category,
        urgency=urgency,
        source=source,
        meeting_id=meeting_id,
        created_at=now,
        updated_at=now,
    )


async def create_concern(
    db: AsyncSession,
    viewer: Viewer,
    target_id: int,
    text: str,
    category: str,
    urgency: str = "normal",
    uuid: str | None = None,
) -> Concern:
    """直接登记: a concern entered on its own (not in a visit). With the form's ``uuid`` a second post of the
    same form (a retry, or the phone's offline copy) returns the stored concern instead of a second one."""
    if uuid and (existing := await db.scalar(select(Concern).where(Concern.uuid == uuid))) is not None:
        if existing.raised_by_id != viewer.id:
            raise AppError("这条记录的编号已被使用，请刷新页面后重新登记。", 409)
        return existing
    target = await get_target(db, viewer, target_id)
    concern = new_concern(target, viewer, text, category, urgency, "direct")
    if uuid:
        concern.uuid = uuid
    db.add(concern)
    await db.flush()
    db.add(record_event(concern, viewer, "register", ConcernState.registered, "直接登记"))
    await db.commit()
    return concern


@dataclass
class TimelineEntry:
    at: object
    who: str
    action: str
    from_state: str
    to_state: str
    note: str


ACTION_LABELS = {
    "register": "登记",
    "merged_in": "合并重复诉求",
    "extension": "申请延期",
    "extension_approved": "同意延期",
    "extension_rejected": "不同意延期",
    "auto_urge": "超期催办",
    "escalate": "上报上级督办",
    "resident_rate": "群众评价",
    "look_back": "回头看",
    "photos_public": "公示照片",
}


async def timeline(db: AsyncSession, concern: Concern) -> list[TimelineEntry]:
    events = list(
        await db.scalars(
            select(ConcernEvent).where(ConcernEvent.concern_id == concern.id).order_by(ConcernEvent.at, ConcernEvent.id)
        )
    )
    entries: list[TimelineEntry] = []
    if not events or events[0].action != "register":
        raiser = await db.get(User, concern.raised_by_id)
        entries.append(
            TimelineEntry(
                concern.created_at,
                raiser.display_name if raiser else "",
                "登记",
                "",
                ConcernState.registered,
                "走访中登记",
            )
        )
    from server.ledger.lifecycle import ACTIONS

    for e in events:
        label = ACTIONS[e.action].label if e.action in ACTIONS else ACTION_LABELS.get(e.action, e.action)
        entries.append(TimelineEntry(e.at, e.actor_label, label, e.from_state, e.to_state, e.note))
    return entries


def _bigrams(text: str) -> set[str]:
    chars = [ch for ch in text if ch.isalnum()]
    return {a + b for a, b in zip(chars, chars[1:], strict=False)} or set(chars)


def similarity(a: str, b: str) -> float:
    """Text similarity in [0, 1]: the larger of character-bigram Jaccard and difflib's ratio."""
    ba, bb = _bigrams(a), _bigrams(b)
    jaccard = len(ba & bb) / len(ba | bb) if ba | bb else 0.0
    return max(jaccard, difflib.SequenceMatcher(None, a, b).ratio())


async def similar_open(
    db: AsyncSession, viewer: Viewer, target: Target, category: str, text: str, exclude_id: int | None = None
) -> list[tuple[Concern, float]]:
    """Open concerns in the same village with the same category and similar text (duplicate hints)."""
    village = village_of(target)
    if village is None or not text.strip():
        return []
    stmt = scoped_concerns(viewer).where(
        Concern.category == category,
        Concern.state != ConcernState.closed,
        or_(Target.id == village, Target.village_id == village),
    )
    if exclude_id is not None:
        stmt = stmt.where(Concern.id != exclude_id)
    found = []
    for concern, _target, _unit in (await db.execute(stmt.limit(500))).all():
        score = similarity(text, concern.text)
        if score >= SIMILARITY_THRESHOLD:
            found.append((concern, score))
    found.sort(key=lambda pair: -pair[1])
    return found[:5]


async def photo_uuids(db: AsyncSession, concern: Concern) -> list[str]:
    """The photos of the visit the concern was raised in (those that have arrived)."""
    if concern.visit_id is None:
        return []
    rows = await db.scalars(
        select(VisitPhoto.photo_uuid)
        .join(Photo, Photo.uuid == VisitPhoto.photo_uuid)
        .where(VisitPhoto.visit_id == concern.visit_id)
        .order_by(VisitPhoto.position)
    )
    return list(rows)


async def extensions(db: AsyncSession, concern_id: int) -> list[ExtensionRequest]:
    rows = await db.scalars(
        select(ExtensionRequest).where(ExtensionRequest.concern_id == concern_id).order_by(ExtensionRequest.id)
    )
    return list(rows)


async def villages_in_scope(db: AsyncSession, viewer: Viewer) -> list[Target]:
    rows = await db.scalars(
        select(Target)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(Target.kind == "village", OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        .order_by(Target.name)
    )
    return list(rows)


async def search_targets(db: AsyncSession, viewer: Viewer, q: str, limit: int = 30) -> list[Target]:
    """Targets in scope whose name or head name contains ``q`` (to pick who raised a concern)."""
    like = f"%{q.strip()[:50]}%"
    rows = await db.scalars(
        select(Target)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(
            OrgUnit.path.startswith(viewer.unit_path),  # type: ignore[attr-defined]
            or_(Target.name.like(like), Target.head_name.like(like)),  # type: ignore[union-attr]
        )
        .order_by(Target.kind, Target.name)
        .limit(limit)
    )
    return list(rows)


async def set_photos_public(db: AsyncSession, viewer: Viewer, concern_id: int, public: bool) -> Concern:
    """A leader decides whether the visit photos of this item may appear on the 公示 board (logged)."""
    concern = await get_concern_for_update(db, viewer, concern_id)
    if concern.photos_public != public:
        concern.photos_public = public
        concern.updated_at = utcnow()
        note = "在公示栏公开走访照片" if public else "取消公开走访照片"
        db.add(record_event(concern, viewer, "photos_public", concern.state, note))
    await db.commit()
    return concern
