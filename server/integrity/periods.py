"""Reading a period (``from``/``to`` as YYYY-MM-DD, Asia/Shanghai days) from a query string or form."""

from __future__ import annotations

from datetime import date

from server.clock import local_today, parse_day
from server.errors import AppError


def parse_period(first: str | None, last: str | None) -> tuple[date, date]:
    """The given days, or this month up to today; first after last → 400."""
    today = local_today()
    start = parse_day(first, "开始日期") or today.replace(day=1)
    end = parse_day(last, "结束日期") or today
    if start > end:
        raise AppError("开始日期不能晚于结束日期。", 400)
    return start, end
