"""The numbers behind each part of an assessment, gathered for many people at once.

Quota comes from ``server.coverage.service.cadre_quota``; concerns and ratings from the ledger's
models. Those belong to other capabilities: when a piece is missing (module, column or table), the
part is "暂无数据" and its weight is re-normalised away, never an error.
"""

from __future__ import annotations

import importlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.service import Viewer
from server.clock import local_day
from server.diary.models import DiaryNote
from server.integrity.models import FlagStatus, IntegrityFlag, SpotCheck
from server.ledger import models as ledger
from server.visits.models import CheckIn, Visit

log = logging.getLogger("minqing")
SATISFIED = ("satisfied", "basic")  # 满意、基本满意 count as satisfied


def _optional(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


async def working_days(db: AsyncSession, first: date, last: date) -> int:
    """Monday–Friday in first..last, corrected by the ledger's work calendar (holidays, 调休) when present."""
    days = {first + timedelta(n) for n in range((last - first).days + 1)}
    work = {d for d in days if d.weekday() < 5}
    calendar = getattr(ledger, "CalendarDay", None)
    if calendar is not None:
        rows = await _safe(db, select(calendar.day, calendar.workday).where(calendar.day.between(first, last)))
        for day, is_workday in rows or []:
            (work.add if is_workday else work.discard)(day)
    return len(work)


async def _safe(db: AsyncSession, stmt: Any) -> list[Any] | None:
    """Run a read of another capability's table; None when that table is not there (yet)."""
    try:
        async with db.begin_nested():
            return list((await db.execute(stmt)).all())
    except DBAPIError:
        log.warning("assessment: a source table is missing; the part shows 暂无数据")
        return None


async def diary_days(db: AsyncSession, ids: list[int], start: datetime, end: datetime) -> dict[int, set[date]]:
    """Local days on which each person has a diary entry: a check-in, a visit or a written note."""
    days: dict[int, set[date]] = defaultdict(set)
    for model, column in ((Visit, Visit.visited_at), (CheckIn, CheckIn.device_time)):
        rows = await db.execute(
            select(model.user_id, column).where(model.user_id.in_(ids), column >= start, column < end)  # type: ignore[attr-defined]
        )
        for user_id, at in rows.all():
            days[user_id].add(local_day(at))
    first, last = local_day(start), local_day(end - timedelta(microseconds=1))
    notes = await db.execute(
        select(DiaryNote.user_id, DiaryNote.day).where(
            DiaryNote.user_id.in_(ids),  # type: ignore[attr-defined]
            DiaryNote.day.between(first, last),  # type: ignore[attr-defined]
            DiaryNote.note != "",
        )
    )
    for user_id, day in notes.all():
        days[user_id].add(day)
    return days


async def quota(db: AsyncSession, viewer: Viewer, user_id: int, first: date, last: date) -> Any:
    """coverage's QuotaResult (required, done, visits, met, ratio), or None when coverage is not installed."""
    cadre_quota = _optional("server.coverage.service", "cadre_quota")
    if cadre_quota is None:
        return None
    try:
        async with db.begin_nested():
            return await cadre_quota(db, viewer, user_id, first, last)
    except DBAPIError:
        return None


@dataclass
class OnTime:
    due: int = 0
    on_time: int = 0


async def concerns_on_time(db: AsyncSession, ids: list[int], first: date, last: date) -> dict[int, OnTime] | None:
    """Concerns each person handles (owner, else who raised it) whose deadline falls in first..last; None
    when the ledger has no deadlines."""
    concern = ledger.Concern
    deadline, closed_at = getattr(concern, "deadline", None), getattr(concern, "closed_at", None)
    if deadline is None or closed_at is None:
        return None
    owner = func.coalesce(getattr(concern, "owner_id", concern.raised_by_id), concern.raised_by_id)
    rows = await _safe(
        db,
        select(owner, deadline, closed_at, concern.state).where(owner.in_(ids), deadline.between(first, last)),
    )
    if rows is None:
        return None
    out: dict[int, OnTime] = defaultdict(OnTime)
    for user_id, due_day, closed, state in rows:
        out[user_id].due += 1
        if state == "closed" and closed is not None and local_day(closed) <= due_day:
            out[user_id].on_time += 1
    return out


async def satisfaction(
    db: AsyncSession, ids: list[int], start: datetime, end: datetime
) -> dict[int, tuple[int, int]] | None:
    """(satisfied, rated) per person from residents' ratings in the period; None without the ledger's Rating."""
    rating = getattr(ledger, "Rating", None)
    if rating is None:
        return None
    rows = await _safe(
        db, select(rating.cadre_id, rating.score).where(rating.cadre_id.in_(ids), rating.at >= start, rating.at < end)
    )
    if rows is None:
        return None
    out: dict[int, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for user_id, score in rows:
        good, total = out[user_id]
        out[user_id] = (good + (score in SATISFIED), total + 1)
    return out


@dataclass
class IntegrityCounts:
    visits: int = 0
    confirmed_flags: int = 0
    untrue_checks: int = 0


async def integrity(db: AsyncSession, ids: list[int], start: datetime, end: datetime) -> dict[int, IntegrityCounts]:
    out: dict[int, IntegrityCounts] = defaultdict(IntegrityCounts)
    in_period = (Visit.user_id.in_(ids), Visit.visited_at >= start, Visit.visited_at < end)  # type: ignore[attr-defined]
    visits = await db.execute(select(Visit.user_id, func.count()).where(*in_period).group_by(Visit.user_id))
    for user_id, n in visits.all():
        out[user_id].visits = int(n)
    flags = await db.execute(
        select(IntegrityFlag.user_id, func.count())
        .where(
            IntegrityFlag.user_id.in_(ids),  # type: ignore[attr-defined]
            IntegrityFlag.status == FlagStatus.confirmed,
            IntegrityFlag.occurred_at >= start,
            IntegrityFlag.occurred_at < end,
        )
        .group_by(IntegrityFlag.user_id)
    )
    for user_id, n in flags.all():
        out[user_id].confirmed_flags = int(n)
    untrue = await db.execute(
        select(Visit.user_id, func.count(func.distinct(SpotCheck.visit_id)))
        .join(Visit, Visit.id == SpotCheck.visit_id)
        .where(*in_period, SpotCheck.result == "false")
        .group_by(Visit.user_id)
    )
    for user_id, n in untrue.all():
        out[user_id].untrue_checks = int(n)
    return out
