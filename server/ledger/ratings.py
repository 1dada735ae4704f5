"""Residents' voice without an account: one-time rating links (and QR codes) for a closed concern or a
visit. The link holds a random token; only its SHA-256 is stored. It expires after 30 days and a
second use is refused politely. Ratings feed the cadre's assessment (``satisfaction_by_cadre``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import segno
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import User
from server.accounts.service import Viewer
from server.clock import utcnow
from server.errors import AppError, Forbidden
from server.ledger.lifecycle import ACTIONS, apply_rating, may, record_event
from server.ledger.models import RATING_LABELS, Concern, ConcernState, Rating, RatingToken
from server.ledger.service import get_concern
from server.places.models import Target
from server.visits.models import Visit
from server.visits.service import get_visit

TOKEN_DAYS = 30
MAX_COMMENT = 500
SATISFIED = ("satisfied", "basic")


class TokenGone(AppError):
    """A used or expired link: answered with a polite page (410), never an error trace."""

    status_code = 410


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def qr_svg(url: str) -> str:
    """An inline SVG QR code for ``url`` (segno; no external service)."""
    return segno.make(url, error="m").svg_inline(scale=5, dark="#111", light="#fff")


async def create_concern_link(db: AsyncSession, viewer: Viewer, concern_id: int) -> str:
    """A new rating token for a closed, fed-back concern; earlier unused links for it stop working."""
    concern = await get_concern(db, viewer, concern_id)
    if not may(viewer, concern, ACTIONS["feedback"]):
        raise Forbidden("只有责任人、登记人或班子成员可以生成评价链接。")
    if concern.state != ConcernState.closed or concern.close_reason == "duplicate":
        raise AppError("只有已销号（非重复合并）的诉求可以请群众评价。", 409)
    if concern.feedback_at is None:
        raise AppError("请先向群众反馈办理结果，再生成评价链接。", 409)
    return await _new_token(db, viewer, concern_id=concern.id)


async def create_visit_link(db: AsyncSession, viewer: Viewer, visit_id: int) -> str:
    """A rating token for a visit (评议打分), made by the cadre who visited or a leader."""
    view = await get_visit(db, viewer, visit_id)
    if view.visit.user_id != viewer.id and not viewer.has_role("leader"):
        raise Forbidden("只有走访干部本人或班子成员可以生成评议链接。")
    return await _new_token(db, viewer, visit_id=view.visit.id)


async def _new_token(
    db: AsyncSession, viewer: Viewer, *, concern_id: int | None = None, visit_id: int | None = None
) -> str:
    now = utcnow()
    column = RatingToken.concern_id if concern_id is not None else RatingToken.visit_id
    await db.execute(
        update(RatingToken)
        .where(column == (concern_id or visit_id), RatingToken.used_at.is_(None), RatingToken.expires_at > now)  # type: ignore[union-attr]
        .values(expires_at=now)
    )
    token = secrets.token_urlsafe(18)
    db.add(
        RatingToken(
            token_hash=_hash(token),
            concern_id=concern_id,
            visit_id=visit_id,
            created_by_id=viewer.id,
            created_at=now,
            expires_at=now + timedelta(days=TOKEN_DAYS),
        )
    )
    await db.commit()
    return token


@dataclass
class RatingPage:
    """What a resident sees: only their own item, with personal data reduced to the surname."""

    token: RatingToken
    kind: str  # concern | visit
    title: str
    lines: list[tuple[str, str]]


async def open_token(db: AsyncSession, token: str, *, lock: bool = False) -> RatingToken:
    stmt = select(RatingToken).where(RatingToken.token_hash == _hash(token or ""))
    if lock:
        stmt = stmt.with_for_update()
    row = await db.scalar(stmt.execution_options(populate_existing=True))
    if row is None:
        raise AppError("这个评价链接无效，请向为您服务的干部索取新的链接。", 404)
    if row.used_at is not None:
        raise TokenGone("您已经评价过了，感谢您的反馈！每个链接只能评价一次。")
    if row.expires_at <= utcnow():
        raise TokenGone("这个评价链接已过期（有效期 30 天），如需评价请向干部索取新的链接。")
    return row


async def rating_page(db: AsyncSession, token: str) -> RatingPage:
    from server.ledger.public import mask_name, scrub

    row = await open_token(db, token)
    if row.concern_id is not None:
        concern = await db.get(Concern, row.concern_id)
        target = await db.get(Target, concern.target_id)  # type: ignore[union-attr]
        assert concern is not None and target is not None
        names = [target.head_name] if target.head_name else []
        lines = [
            ("反映人", mask_name(target.head_name or target.name)),
            ("反映内容", scrub(concern.text, names)),
            ("办理结果", scrub(concern.feedback or "", names)),
        ]
        return RatingPage(row, "concern", f"诉求办理评价（#{concern.id}）", lines)
    visit = await db.get(Visit, row.visit_id)
    assert visit is not None
    cadre = await db.get(User, visit.user_id)
    from server.clock import fmt_local

    lines = [("走访时间", fmt_local(visit.visited_at, "%Y-%m-%d")), ("走访干部", cadre.display_name if cadre else "")]
    return RatingPage(row, "visit", "干部走访评议", lines)


async def submit_rating(db: AsyncSession, token: str, score: str, comment: str) -> str:
    """Use the token once: record the rating and mark the token used in one transaction."""
    if score not in RATING_LABELS:
        raise AppError(f"请选择一项评价（{'、'.join(RATING_LABELS.values())}）。", 400)
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise AppError(f"意见最多 {MAX_COMMENT} 字。", 400)
    row = await open_token(db, token, lock=True)
    now = utcnow()
    if row.concern_id is not None:
        concern = await db.get(Concern, row.concern_id, with_for_update=True, populate_existing=True)
        assert concern is not None
        before = concern.state
        note = await apply_rating(db, concern, score, comment)
        concern.version += 1
        concern.updated_at = now
        db.add(record_event(concern, None, "resident_rate", before, note, actor_label="群众（评价链接）"))
        cadre_id, unit_id = concern.owner_id or concern.raised_by_id, concern.org_unit_id
    else:
        visit = await db.get(Visit, row.visit_id)
        target = await db.get(Target, visit.target_id)  # type: ignore[union-attr]
        assert visit is not None and target is not None
        cadre_id, unit_id = visit.user_id, target.org_unit_id
    row.used_at = now
    db.add(
        Rating(
            token_id=row.id,
            concern_id=row.concern_id,
            visit_id=row.visit_id,
            cadre_id=cadre_id,
            org_unit_id=unit_id,
            score=score,
            comment=comment,
            at=now,
        )
    )
    try:
        await db.commit()
    except IntegrityError:  # the same link submitted twice at once: the first one counts
        await db.rollback()
        raise TokenGone("您已经评价过了，感谢您的反馈！每个链接只能评价一次。") from None
    return RATING_LABELS[score]


async def satisfaction_by_cadre(
    db: AsyncSession, start: datetime, end: datetime, cadre_ids: list[int] | None = None
) -> dict[int, tuple[int, int]]:
    """{cadre_id: (satisfied or basically satisfied, all ratings)} for ratings in [start, end)."""
    stmt = (
        select(Rating.cadre_id, Rating.score, func.count())
        .where(Rating.at >= start, Rating.at < end)
        .group_by(Rating.cadre_id, Rating.score)
    )
    if cadre_ids is not None:
        stmt = stmt.where(Rating.cadre_id.in_(cadre_ids))  # type: ignore[attr-defined]
    result: dict[int, tuple[int, int]] = {}
    for cadre_id, score, count in (await db.execute(stmt)).all():
        good, total = result.get(cadre_id, (0, 0))
        result[cadre_id] = (good + (count if score in SATISFIED else 0), total + count)
    return result
