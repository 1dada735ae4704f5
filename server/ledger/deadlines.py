"""Deadlines in working days (Mon–Fri, minus holidays, plus 调休 make-up days) and the reminder states.

Rules come from the ``deadline_rule`` table, falling back to ``DEFAULT_RULES``; holidays and make-up
working days come from the ``work_calendar`` table (edited on /ledger/settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.ledger.models import CalendarDay, Concern, ConcernState, DeadlineRule

# Working days allowed, by (category, urgency). Urgent items are due the same day.
DEFAULT_RULES: dict[tuple[str, str], int] = {
    ("problem", "normal"): 5,
    ("request", "normal"): 3,  # 求助
    ("petition", "normal"): 13,  # 投诉 / 信访
    ("suggestion", "normal"): 13,
    ("problem", "urgent"): 0,
    ("request", "urgent"): 0,
    ("petition", "urgent"): 0,
    ("suggestion", "urgent"): 0,
}
DUE_SOON_WORKING_DAYS = 1  # "即将到期": due today or on the next working day
ESCALATE_AFTER_WORKING_DAYS = 3  # overdue this many working days more → one org level up
OPEN_STATES = (ConcernState.accepted, ConcernState.assigned, ConcernState.in_progress)


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days: Mon–Fri unless listed as a holiday; weekends listed as 调休 work."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The deadline ``days`` working days after ``start``; 0 = the same day (or the next working day)."""
        day = start
        while not self.is_workday(day):
            day += timedelta(days=1)
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_workday(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many working days ``end`` lies after ``start``."""
        if end <= start:
            return 0
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count


async def load_calendar(db: AsyncSession) -> WorkCalendar:
    rows = list(await db.scalars(select(CalendarDay)))
    return WorkCalendar(
        holidays=frozenset(r.day for r in rows if not r.workday),
        workdays=frozenset(r.day for r in rows if r.workday),
    )


async def load_rules(db: AsyncSession) -> dict[tuple[str, str], int]:
    rules = dict(DEFAULT_RULES)
    for row in await db.scalars(select(DeadlineRule)):
        rules[(row.category, row.urgency)] = row.working_days
    return rules


async def default_deadline(db: AsyncSession, category: str, urgency: str, start: date) -> date:
    rules = await load_rules(db)
    days = rules.get((category, urgency), rules.get((category, "normal"), 5))
    return (await load_calendar(db)).add_working_days(start, days)


def deadline_status(concern: Concern, today: date, calendar: WorkCalendar) -> str:
    """'' (no deadline or done), 'due_soon' (即将到期), 'overdue' (超期) for an open item."""
    if concern.deadline is None or concern.state not in OPEN_STATES:
        return ""
    if today > concern.deadline:
        return "overdue"
    if calendar.working_days_between(today, concern.deadline) <= DUE_SOON_WORKING_DAYS:
        return "due_soon"
    return ""


DEADLINE_STATUS_LABELS = {"due_soon": "即将到期", "overdue": "已超期"}
