"""The concern lifecycle: which action is legal from which state, who may take it, and what it records.

登记 → 受理 → 交办 → 办理中 → 办结待核 → 销号 (with a close reason) → 反馈 → 评价; 不满意 reopens (回炉).
Every action is versioned (a stale ``version`` → 409 with the current one) and leaves a ConcernEvent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.service import Viewer
from server.clock import local_today, utcnow
from server.errors import AppError, Conflict, Forbidden
from server.ledger.deadlines import default_deadline
from server.ledger.models import (
    CLOSE_REASON_LABELS,
    CONCERN_CATEGORY_LABELS,
    CONCERN_STATE_LABELS,
    DOMAIN_LABELS,
    LEVEL_LABELS,
    RATING_LABELS,
    URGENCY_LABELS,
    Concern,
    ConcernEvent,
    ConcernState,
)

S = ConcernState
LEAD = "lead"  # 班子成员 / 管理员 of the concern's scope
HANDLE = "handle"  # the owner (责任人) or a leader
TELL = "tell"  # the owner, the cadre who raised it (they go back to the household), or a leader
MAX_NOTE = 2000


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    sources: tuple[str, ...]
    target: str | None  # None: the state does not change
    who: str
    needs_note: bool = False


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("accept", "受理", (S.registered,), S.accepted, LEAD),
        Action("assign", "交办", (S.accepted, S.assigned), S.assigned, LEAD),
        Action("start", "开始办理", (S.assigned,), S.in_progress, HANDLE),
        Action("progress", "记录进展", (S.in_progress,), None, HANDLE, needs_note=True),
        Action("submit", "办结报核", (S.in_progress,), S.pending_review, HANDLE, needs_note=True),
        Action("return", "退回重办", (S.pending_review,), S.in_progress, LEAD, needs_note=True),
        Action("close", "销号", (S.accepted, S.assigned, S.in_progress, S.pending_review), S.closed, LEAD),
        Action("merge", "合并（重复）", (S.registered, S.accepted, S.assigned, S.in_progress), S.closed, LEAD),
        Action("feedback", "反馈群众", (S.closed,), None, TELL, needs_note=True),
        Action("rate", "录入评价", (S.closed,), None, TELL),
        Action("reopen", "回炉重办", (S.closed,), S.in_progress, LEAD, needs_note=True),
        Action("urge", "催办", (S.accepted, S.assigned, S.in_progress), None, LEAD),
    )
}
# Close reasons that need no finished handling: they may close an item before 办结待核.
EARLY_CLOSE_REASONS = ("policy", "transferred")
CLOSE_DETAIL_PROMPTS = {
    "stepwise": "请填写分步解决的计划和时间节点。",
    "policy": "请填写向群众作出的政策解释。",
    "transferred": "请填写转办给哪个部门或单位。",
}


@dataclass
class ActionInput:
    action: str
    version: int
    note: str = ""
    category: str | None = None
    domain: str | None = None
    level: str | None = None
    urgency: str | None = None
    owner_id: int | None = None
    deadline: date | None = None
    close_reason: str | None = None
    close_detail: str = ""
    merged_into_id: int | None = None
    score: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def allowed_actions(concern: Concern, viewer: Viewer | None) -> list[Action]:
    """The actions this viewer may take now (for buttons); the checks in ``check_action`` are the rule."""
    return [a for a in ACTIONS.values() if concern.state in a.sources and may(viewer, concern, a)]


def may(viewer: Viewer | None, concern: Concern, action: Action) -> bool:
    if viewer is None:
        return False
    if viewer.has_role("leader"):
        return True
    if action.who == LEAD or viewer.role != "cadre":
        return False
    if action.who == TELL:
        return viewer.id in (concern.owner_id, concern.raised_by_id)
    return viewer.id == concern.owner_id


def state_label(state: str) -> str:
    return CONCERN_STATE_LABELS.get(state, state)  # type: ignore[call-overload]


def check_action(concern: Concern, viewer: Viewer, data: ActionInput) -> Action:
    """Refuse unknown, stale, illegal or unauthorised actions with a message that says what to do."""
    action = ACTIONS.get(data.action)
    if action is None:
        raise AppError(f"未知的操作“{data.action}”。", 400)
    if data.version != concern.version:
        raise Conflict(
            f"这条诉求已被他人更新（当前版本 {concern.version}），请刷新后再操作。",
            extra={"current_version": concern.version, "state": concern.state},
        )
    if concern.state not in action.sources:
        legal = "、".join(a.label for a in ACTIONS.values() if concern.state in a.sources) or "无"
        raise Conflict(
            f"当前状态为“{state_label(concern.state)}”，不能{action.label}。此状态下可以：{legal}。",
            extra={"current_version": concern.version, "state": concern.state},
        )
    if not may(viewer, concern, action):
        who = {LEAD: "班子成员", HANDLE: "责任人或班子成员", TELL: "责任人、登记人或班子成员"}[action.who]
        raise Forbidden(f"只有{who}可以{action.label}。")
    data.note = (data.note or "").strip()
    if len(data.note) > MAX_NOTE:
        raise AppError(f"说明最多 {MAX_NOTE} 字。", 400)
    if action.needs_note and not data.note:
        raise AppError(f"{action.label}需要填写说明。", 400)
    return action


def _choice(value: str | None, labels: dict[str, str], what: str) -> str:
    if not value or value not in labels:
        raise AppError(f"请选择{what}（{'、'.join(labels.values())}）。", 400)
    return value


async def apply_action(db: AsyncSession, viewer: Viewer, concern: Concern, data: ActionInput) -> ConcernEvent:
    """Validate and apply one action to ``concern`` (the caller commits). Returns the timeline event."""
    action = check_action(concern, viewer, data)
    before = concern.state
    now = utcnow()
    note = data.note
    handler = _HANDLERS.get(action.name)
    if handler is not None:
        note = await handler(db, viewer, concern, data) or note
    if action.target is not None:
        concern.state = action.target
    concern.version += 1
    concern.updated_at = now
    event = record_event(concern, viewer, action.name, before, note, at=now)
    db.add(event)
    return event


def record_event(
    concern: Concern,
    viewer: Viewer | None,
    action: str,
    before: str,
    note: str,
    *,
    at: datetime | None = None,
    actor_label: str = "",
) -> ConcernEvent:
    return ConcernEvent(
        concern_id=concern.id,  # type: ignore[arg-type]
        at=at or utcnow(),
        actor_id=viewer.id if viewer else None,
        actor_label=actor_label or (viewer.display_name if viewer else "系统"),
        action=action,
        from_state=before,
        to_state=concern.state,
        note=note,
    )


async def _accept(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> str:
    c.category = _choice(d.category or c.category, CONCERN_CATEGORY_LABELS, "诉求类别")  # type: ignore[arg-type]
    c.domain = _choice(d.domain, DOMAIN_LABELS, "所属领域")
    c.level = _choice(d.level, LEVEL_LABELS, "办理层级")
    c.urgency = _choice(d.urgency or "normal", URGENCY_LABELS, "紧急程度")
    parts = [CONCERN_CATEGORY_LABELS[c.category], DOMAIN_LABELS[c.domain], LEVEL_LABELS[c.level]]  # type: ignore[index]
    return f"分类：{'，'.join(parts)}，{URGENCY_LABELS[c.urgency]}" + (f"。{d.note}" if d.note else "")


async def _assign(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> str:
    from server.ledger.service import owner_in_scope  # the owner lookup is a query

    if d.owner_id is None:
        raise AppError("请选择责任人。", 400)
    owner = await owner_in_scope(db, viewer, d.owner_id)
    today = local_today()
    deadline = d.deadline or await default_deadline(db, c.category, c.urgency, today)
    if deadline < today:
        raise AppError("办理时限不能早于今天。", 400)
    c.owner_id, c.deadline = owner.id, deadline
    c.urged_at = c.escalated_at = c.escalated_unit_id = None
    text = f"责任人：{owner.display_name}，时限：{deadline.isoformat()}"
    return text + (f"。{d.note}" if d.note else "")


async def _progress(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> None:
    c.progress = d.note


async def _close(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> str:
    reason = d.close_reason
    if reason == "duplicate":
        raise AppError("重复的诉求请用“合并”操作，并指明与哪一条重复。", 400)
    reason = _choice(reason, {k: v for k, v in CLOSE_REASON_LABELS.items() if k != "duplicate"}, "销号理由")
    if c.state != S.pending_review and reason not in EARLY_CLOSE_REASONS:
        raise Conflict(
            f"“{CLOSE_REASON_LABELS[reason]}”须先办结报核；未办结的诉求只能以政策解释或转办销号。",
            extra={"current_version": c.version, "state": c.state},
        )
    detail = (d.close_detail or "").strip()
    if reason in CLOSE_DETAIL_PROMPTS and not detail:
        raise AppError(CLOSE_DETAIL_PROMPTS[reason], 400)
    c.close_reason, c.close_detail, c.closed_at = reason, detail or None, utcnow()
    c.rating = c.rated_at = None
    return (
        f"销号理由：{CLOSE_REASON_LABELS[reason]}"
        + (f"（{detail}）" if detail else "")
        + (f"。{d.note}" if d.note else "")
    )


async def _merge(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> str:
    from server.ledger.service import get_concern

    if d.merged_into_id is None or d.merged_into_id == c.id:
        raise AppError("请选择与哪一条诉求重复（不能是它自己）。", 400)
    main = await get_concern(db, viewer, d.merged_into_id)
    if main.state == S.closed:
        raise AppError(f"#{main.id} 已销号，请合并到一条未销号的诉求。", 409)
    c.close_reason, c.merged_into_id, c.closed_at = "duplicate", main.id, utcnow()
    c.close_detail = f"与 #{main.id} 重复，已合并"
    db.add(record_event(main, viewer, "merged_in", main.state, f"合并了重复诉求 #{c.id}：{c.text[:60]}"))
    return f"与 #{main.id} 重复，已合并" + (f"。{d.note}" if d.note else "")


async def _feedback(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> None:
    if c.close_reason == "duplicate":
        raise AppError(f"这条诉求已合并到 #{c.merged_into_id}，请在那一条上反馈。", 409)
    c.feedback, c.feedback_at = d.note, utcnow()


async def _rate(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> str:
    return await apply_rating(db, c, _choice(d.score, RATING_LABELS, "群众评价"), d.note)


async def apply_rating(db: AsyncSession, c: Concern, score: str, comment: str) -> str:
    """Record a rating on the concern; 不满意 sends it back to 办理中 (回炉). Returns the event note."""
    if c.close_reason == "duplicate":
        raise AppError(f"这条诉求已合并到 #{c.merged_into_id}，请评价那一条。", 409)
    if c.feedback_at is None:
        raise AppError("请先向群众反馈办理结果，再请群众评价。", 409)
    c.rating, c.rated_at = score, utcnow()
    note = f"群众评价：{RATING_LABELS[score]}" + (f"。{comment}" if comment else "")
    if score == "unsatisfied":
        _reopen_fields(c)
        c.state = S.in_progress
        c.deadline = await default_deadline(db, c.category, c.urgency, local_today())
        note += "。不满意，回炉重办"
    return note


def _reopen_fields(c: Concern) -> None:
    c.reopen_count += 1
    c.close_reason = c.close_detail = None
    c.closed_at = c.feedback_at = None
    c.urged_at = c.escalated_at = c.escalated_unit_id = None


async def _reopen(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> None:
    if c.close_reason == "duplicate":
        raise AppError(f"这条诉求已合并到 #{c.merged_into_id}，请在那一条上回炉。", 409)
    _reopen_fields(c)
    c.rating = None
    c.deadline = await default_deadline(db, c.category, c.urgency, local_today())


async def _urge(db: AsyncSession, viewer: Viewer, c: Concern, d: ActionInput) -> None:
    c.urged_at = utcnow()


_HANDLERS = {
    "accept": _accept,
    "assign": _assign,
    "progress": _progress,
    "submit": _progress,
    "close": _close,
    "merge": _merge,
    "feedback": _feedback,
    "rate": _rate,
    "reopen": _reopen,
    "urge": _urge,
}
