"""Coverage services: quotas, the three full coverages (三个全覆盖) and the dashboard's lists.

Other capabilities use ``cadre_quota`` (e.g. assessment's "quota met"); its signature is stable.
Definitions of every number: docs/coverage.md.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.coverage.compute import users_in
from server.coverage.quota import QuotaLine, QuotaResult, TallyCache, quotas
from server.coverage.rules import rules_for
from server.errors import AppError, NotFound

__all__ = ["QuotaLine", "QuotaResult", "cadre_quota", "check_window"]

MAX_WINDOW_DAYS = 800


def check_window(first: date, last: date) -> None:
    """A report window: first ≤ last and at most about two years long (else a Chinese 400)."""
    if first > last:
        raise AppError("开始日期不能晚于结束日期，请重新选择时间范围。", 400)
    if (last - first).days > MAX_WINDOW_DAYS:
        raise AppError("时间范围过长（最多两年），请缩短后重试。", 400)


async def person_in_scope(db: AsyncSession, viewer: Viewer, user_id: int) -> tuple[User, OrgUnit]:
    row = (
        await db.execute(
            select(User, OrgUnit)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(User.id == user_id, OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        )
    ).first()
    if row is None:
        raise NotFound("找不到该人员，或其不在您的管辖范围内。")
    return row[0], row[1]


async def cadre_quota(db: AsyncSession, viewer: Viewer, user_id: int, first: date, last: date) -> QuotaResult:
    """What the coverage rules required of ``user_id`` for the local days ``first..last`` and what they did.

    ``required``/``done`` count visits (and village meetings for leaders) of every rule period that
    ends inside the window; ``met`` is True when the person went down at least once in the window and
    ``done >= required``; ``lines`` explain each rule and period ("暂无数据" when meeting data is missing).
    Raises NotFound (404) when the person is outside the viewer's org subtree, AppError (400) for a bad
    window. Read-only.
    """
    check_window(first, last)
    user, unit = await person_in_scope(db, viewer, user_id)
    ruleset = await rules_for(db, unit.path, first, last)
    cache = TallyCache(db, select(User.id).where(User.id == user.id))
    return (await quotas(db, ruleset, [user_id], first, last, cache))[user_id]


def scope_users(unit_path: str):  # type: ignore[no-untyped-def]
    return users_in(unit_path)
