"""``python -m server integrity-scan --from YYYY-MM-DD --to YYYY-MM-DD``: flags for historic and demo data."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from server.clock import local_today, period_bounds_utc
from server.config import Settings
from server.db import create_engine, migrate, run_sync, session_maker
from server.integrity.models import FLAG_CODE_LABELS
from server.integrity.service import ScanSummary, scan_period


async def _scan(settings: Settings, first: date, last: date) -> ScanSummary:
    engine = create_engine(settings.database_url)
    try:
        async with session_maker(engine)() as db:
            return await scan_period(db, *period_bounds_utc(first, last), settings)
    finally:
        await engine.dispose()


def run_scan(settings: Settings, first_text: str, last_text: str) -> int:
    try:
        first, last = date.fromisoformat(first_text), date.fromisoformat(last_text)
    except ValueError:
        print("错误：日期格式应为 YYYY-MM-DD，例如 --from 2026-10-01 --to 2026-10-31。")
        return 2
    if first > last:
        print("错误：--from 不能晚于 --to。")
        return 2
    migrate(settings.database_url)
    summary = run_sync(_scan(settings, first, last))
    print(f"已检查 {first} 至 {last}：走访 {summary.visits} 条，签到 {summary.checkins} 条。")
    if not summary.open_by_code:
        print("没有待核查的异常标记。")
    for code, count in summary.open_by_code.most_common():
        print(f"  {FLAG_CODE_LABELS.get(code, code)}：{count} 条待核查")  # type: ignore[call-overload]
    return 0


DEMO_DAYS = 70  # the demo seed writes about two months of visits up to yesterday


async def scan_demo(db: AsyncSession, settings: Settings) -> ScanSummary:
    """Flags for freshly seeded demo data (the seed writes rows directly, without the recording hook)."""
    today = local_today()
    return await scan_period(db, *period_bounds_utc(today - timedelta(days=DEMO_DAYS), today), settings)
