"""Calendar periods (Asia/Shanghai days): weeks start on Monday, quarters are calendar quarters.

A period is an inclusive span of local days ``(first, last)``. Obligations of a rule are "due" at the
end of each of its periods; a report for a window counts the periods that end inside it.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

Span = tuple[date, date]


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def period_of(kind: str, day: date, campaign: Span | None = None) -> Span:
    """The period of ``kind`` containing ``day`` (``campaign`` kind: the campaign span itself)."""
    if kind == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    if kind == "month":
        return day.replace(day=1), _month_end(day.year, day.month)
    if kind == "quarter":
        month = 3 * ((day.month - 1) // 3) + 1
        return date(day.year, month, 1), _month_end(day.year, month + 2)
    if kind == "year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    if kind == "campaign":
        return campaign or (date.min, date.max)
    raise ValueError(f"unknown period {kind!r}")


def periods_overlapping(kind: str, first: date, last: date, campaign: Span | None = None) -> list[Span]:
    """Every period of ``kind`` that shares at least one day with ``first..last``, in order."""
    spans: list[Span] = []
    day = first
    while day <= last:
        span = period_of(kind, day, campaign)
        spans.append(span)
        if span[1] >= last or span[1] == date.max:
            break
        day = span[1] + timedelta(days=1)
    return spans


def clip(span: Span, campaign: Span | None) -> Span | None:
    """The part of ``span`` inside the campaign, or None when they do not meet."""
    if campaign is None:
        return span
    first, last = max(span[0], campaign[0]), min(span[1], campaign[1])
    return (first, last) if first <= last else None


def due_periods(kind: str, first: date, last: date, campaign: Span | None) -> list[Span]:
    """Periods (clipped to the campaign) whose last day falls in ``first..last``: what is due then."""
    out = []
    for span in periods_overlapping(kind, first, last, campaign):
        clipped = clip(span, campaign)
        if clipped and first <= clipped[1] <= last:
            out.append(clipped)
    return out


def label(kind: str, span: Span) -> str:
    """Chinese label of a period: 2026年10月, 2026年第4季度, 10月5日–10月11日 …"""
    first, last = span
    if kind == "month" and first.day == 1:
        return f"{first.year}年{first.month}月"
    if kind == "quarter":
        return f"{first.year}年第{(first.month - 1) // 3 + 1}季度"
    if kind == "year":
        return f"{first.year}年"
    return f"{first.month}月{first.day}日–{last.month}月{last.day}日"


def buckets(kind: str, first: date, last: date) -> list[Span]:
    """Trend buckets (week or month) covering ``first..last``, each clipped to it."""
    return [(max(a, first), min(b, last)) for a, b in periods_overlapping(kind, first, last)]


def whole_months(first: date, last: date) -> tuple[int, int] | None:
    """``(yyyymm, yyyymm)`` of the first and last month when ``first..last`` is exactly whole months, else None."""
    if first.day != 1 or last != _month_end(last.year, last.month) or last < first:
        return None
    return first.year * 100 + first.month, last.year * 100 + last.month
