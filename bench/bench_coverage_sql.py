"""Benchmark 4: the three full coverages for one month of the 150k-household county, against a bare
hand-written SQL for the same numbers, and the map GeoJSON for one village.

    .venv/bin/python bench/bench_coverage_sql.py [--county /tmp/county.db] [-n 5]

Runs on a private copy of bench/county.py's SQLite file (built first if missing), in-process (no HTTP):
``server.coverage.report.build_report`` for the county, last complete month, with the default rules
(no campaign configured), against the bare floor: three hand-written queries through the same driver
(space: targets covered; time: 包保 households visited by their cadre in the month; people: cadres and
leaders who went down) whose totals are printed next to the report's. Map: ``map_targets`` and
``map_visits`` for one village's bounding box. Medians of n runs after one warm-up; the report and
the floor run in turns (report, floor, report, …) so both see the same machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import county_copy, machine  # noqa: E402
from server.accounts.models import OrgUnit  # noqa: E402
from server.accounts.service import Viewer  # noqa: E402
from server.clock import local_today, period_bounds_utc, utc_text  # noqa: E402
from server.db import create_engine, read_session_maker  # noqa: E402

SPACE = """
SELECT count(*), sum(CASE WHEN EXISTS (SELECT 1 FROM visit v WHERE v.target_id = t.id
                                        AND v.visited_at >= :s AND v.visited_at < :e)
                     OR (t.kind IN ('village', 'enterprise', 'project') AND EXISTS (SELECT 1 FROM checkin c
                         WHERE c.target_id = t.id AND c.device_time >= :s AND c.device_time < :e))
                     OR (t.kind = 'village' AND EXISTS (SELECT 1 FROM target h JOIN visit v ON v.target_id = h.id
                         WHERE h.village_id = t.id AND v.visited_at >= :s AND v.visited_at < :e))
                     THEN 1 ELSE 0 END)
FROM target t"""
TIME = """
SELECT count(*), sum(CASE WHEN EXISTS (SELECT 1 FROM visit v WHERE v.target_id = t.id AND v.user_id = a.user_id
                                        AND v.visited_at >= :s AND v.visited_at < :e) THEN 1 ELSE 0 END)
FROM assignment a CROSS JOIN target t
WHERE t.id = a.target_id AND a.kind = 'bao' AND t.kind = 'household' AND a.end_date IS NULL"""
PEOPLE = """
SELECT count(*), sum(CASE WHEN EXISTS (SELECT 1 FROM visit v WHERE v.user_id = u.id
                                        AND v.visited_at >= :s AND v.visited_at < :e) THEN 1 ELSE 0 END)
FROM user_account u WHERE u.role IN ('cadre', 'leader') AND u.is_active"""


def last_full_month(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


async def timed(job: Callable[[], Awaitable[Any]], n: int) -> tuple[float, Any]:
    result = await job()  # warm the page cache
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        result = await job()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


async def alternating(jobs: list[Callable[[], Awaitable[Any]]], n: int) -> list[tuple[float, Any]]:
    """Median ms and last result of each job, run in turns (a, b, a, b, …) so both see the same load."""
    results = [await job() for job in jobs]  # warm the page cache
    times: list[list[float]] = [[] for _ in jobs]
    for _ in range(n):
        for i, job in enumerate(jobs):
            t0 = time.perf_counter()
            results[i] = await job()
            times[i].append((time.perf_counter() - t0) * 1000)
    return [(statistics.median(t), r) for t, r in zip(times, results, strict=True)]


async def measure(db_path: Path, n: int) -> None:
    from server.coverage.maps import map_targets, map_visits
    from server.coverage.report import build_report

    first, last = last_full_month(local_today())
    start, end = period_bounds_utc(first, last)
    params = {"s": utc_text(start), "e": utc_text(end)}
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    try:
        async with read_session_maker(engine)() as db:  # as a GET request reads
            county = await db.get(OrgUnit, 1)
            assert county is not None
            viewer = Viewer(1, "super", "县督导", "supervisor", 1, county.path, county.name)

            async def bare() -> list[tuple[int, int]]:
                return [tuple((await db.execute(text(q), params)).one()) for q in (SPACE, TIME, PEOPLE)]  # type: ignore[misc]

            (report_ms, report), (bare_ms, (space, slots, people)) = await alternating(
                [lambda: build_report(db, county, first, last, today=local_today()), bare], n
            )
            village = text("SELECT lat, lon FROM target WHERE kind = 'village' ORDER BY id")
            lat, lon = (await db.execute(village)).first()  # type: ignore[misc]
            box = (lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02)
            targets_ms, targets = await timed(lambda: map_targets(db, viewer, box, first, last), n)
            visits_ms, visits = await timed(lambda: map_visits(db, viewer, box, first, last), n)
    finally:
        await engine.dispose()
    total = report.total
    print(f"window {first}..{last}")
    print(f"  report  space {total.space.covered}/{total.space.total}  time {total.time.covered}/{total.time.total}  "
          f"people {total.people.covered}/{total.people.total}")
    print(f"  bare    space {space[1]}/{space[0]}  time {slots[1]}/{slots[0]}  "
          f"people (went down) {people[1]}/{people[0]}")
    households = total.space_by_kind["household"].total if "household" in total.space_by_kind else 0
    print(f"4. coverage, county of {households:,} households, one month: "
          f"report {report_ms:.0f} ms (aim ≤ 300); bare SQL {bare_ms:.0f} ms; "
          f"ratio {report_ms / bare_ms:.2f} (aim ≤ 1.5)")
    print(f"   map GeoJSON, one village: targets {targets_ms:.1f} ms ({len(targets['features'])} features), "
          f"visits {visits_ms:.1f} ms ({len(visits['features'])} features) (aim ≤ 50 ms each)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--county", type=Path, default=Path("/tmp/county.db"))
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args()
    db = county_copy(args.county, Path(tempfile.mkdtemp(prefix="minqing-cov-")) / "county.db")
    print(machine())
    try:
        asyncio.run(measure(db, args.n))
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        db.parent.rmdir()


if __name__ == "__main__":
    main()
