"""Time helpers. Timestamps are aware UTC datetimes in Python (SQLModel's ``UTCDateTime`` columns);
people see Asia/Shanghai time, and calendar days/periods are Asia/Shanghai days.

Raw SQL on SQLite: the columns hold naive UTC text, so bind ``utc_text(value)``, not an aware value.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken as Asia/Shanghai local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL)
    return value.astimezone(UTC)


def to_local(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL)


def local_today() -> date:
    return datetime.now(LOCAL).date()


def local_day(value: datetime) -> date:
    local = to_local(value)
    assert local is not None
    return local.date()


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of a local calendar day."""
    start = datetime.combine(day, time.min, tzinfo=LOCAL)
    return to_utc(start), to_utc(start + timedelta(days=1))


def period_bounds_utc(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) covering local days first..last inclusive."""
    return day_bounds_utc(first)[0], day_bounds_utc(last)[1]


def utc_text(value: datetime) -> str:
    """The text SQLite stores for a timestamp column, for raw SQL comparisons."""
    return to_utc(value).replace(tzinfo=None).isoformat(sep=" ")


def fmt_local(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(value)
    return local.strftime(pattern) if local else ""


def parse_day(raw: str | None, what: str = "日期") -> date | None:
    """A ``YYYY-MM-DD`` day from a form or query; empty → None; anything else → a Chinese 400."""
    from server.errors import AppError

    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise AppError(f"{what}格式应为 YYYY-MM-DD，例如 2026-10-01。", 400) from None

