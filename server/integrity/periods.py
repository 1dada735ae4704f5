"""Reading a period (``from``/``to`` as YYYY-MM-DD, Asia/Shanghai days) from a query string or form."""

from __future__ import annotations

from datetime import date

from server.clock import local_today
from server.errors import AppError


def parse_day(raw: str | None, what: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise AppError(f"{what}格式应为 YYYY-MM-DD，例如 2026-10-01。", 400) from None


def parse_period(first: str | None, last: str | None) -> tuple[date, date]:
    """The given days, or this month up to today; first after last → 400."""
    today = local_today()
    start = parse_day(first, "开始日期") or today.replace(day=1)
    end = parse_day(last, "结束日期") or today
    if start > end:
        raise AppError("开始日期不能晚于结束日期。", 400)
    return start, end
