"""Coverage benchmark: the three full coverages for one month of a 150k-household county on SQLite.

    .venv/bin/python bench/bench_coverage.py [--households 150000] [--db /tmp/coverage-bench.db] [-n 5]

Builds (once, cached in --db) a migrated database with 10 towns × 30 villages, 500 households per
village, 5 包保 cadres per village (100 households each), one leader per 3 villages (联系), and three
months of visits (each household visited by its cadre with probability 0.9 a month, leaders now and
then) plus morning check-ins. Then times ``build_report`` for November (the dashboard's numbers,
with the per-town rows), the map endpoints' services, and reports medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sqlite3
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.accounts.models import OrgUnit  # noqa: E402
from server.accounts.service import Viewer  # noqa: E402
from server.clock import LOCAL  # noqa: E402
from server.db import create_engine, migrate, session_maker  # noqa: E402

TOWNS, VILLAGES_PER_TOWN, CADRES_PER_VILLAGE = 10, 30, 5
MONTHS = [(2026, 9), (2026, 10), (2026, 11)]
FMT = "%Y-%m-%d %H:%M:%S.%f"


def ts(day: date, minutes: int) -> str:
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=LOCAL)
    return local.astimezone(UTC).replace(tzinfo=None).strftime(FMT)


def build(path: Path, households: int) -> None:
    migrate(f"sqlite+aiosqlite:///{path}")
    rng = random.Random(7)
    con = sqlite3.connect(path)
    cur = con.cursor()
    per_village = households // (TOWNS * VILLAGES_PER_TOWN)
    cur.execute(
        "INSERT INTO org_unit (id, name, kind, parent_id, path, code) VALUES (1,'基准县','county',NULL,'/1/','bc')"
    )
    uid = 2
    target_id = 1
    user_id = 1
    targets, users, assigns, visits, checkins = [], [], [], [], []
    pw = "x"
    created = datetime(2026, 1, 1).strftime(FMT)
    users.append((user_id, "bsuper", "督导", "supervisor", 1, pw, 1, created))
    user_id += 1
    for t in range(TOWNS):
        town = uid
        uid += 1
        cur.execute("INSERT INTO org_unit VALUES (?,?,?,?,?,?)", (town, f"{t}镇", "town", 1, f"/1/{town}/", f"bt{t}"))
        tlat, tlon = 29.0 + t * 0.1, 114.0
        leaders = []
        for v in range(VILLAGES_PER_TOWN):
            if v % 3 == 0:
                users.append((user_id, f"bl{t}-{v}", "领导", "leader", town, pw, 1, created))
                leaders.append(user_id)
                user_id += 1
            vu = uid
            uid += 1
            cur.execute(
                "INSERT INTO org_unit VALUES (?,?,?,?,?,?)",
                (vu, f"{t}-{v}村", "village", town, f"/1/{town}/{vu}/", f"bv{t}-{v}"),
            )
            vlat, vlon = tlat + (v // 6) * 0.02, tlon + (v % 6) * 0.02
            ring = [
                [vlon - 0.009, vlat - 0.009],
                [vlon + 0.009, vlat - 0.009],
                [vlon + 0.009, vlat + 0.009],
                [vlon - 0.009, vlat + 0.009],
                [vlon - 0.009, vlat - 0.009],
            ]
            vt = target_id
            target_id += 1
            targets.append(
                (
                    vt,
                    "village",
                    f"bv-{t}-{v}",
                    f"{t}-{v}村",
                    vu,
                    None,
                    vlat,
                    vlon,
                    json.dumps({"type": "Polygon", "coordinates": [ring]}),
                    0,
                    0,
                    created,
                )
            )
            assigns.append((leaders[-1], vt, "lian", "2026-01-01", None))
            cadres = []
            for c in range(CADRES_PER_VILLAGE):
                users.append((user_id, f"bc{t}-{v}-{c}", "干部", "cadre", town, pw, 1, created))
                cadres.append(user_id)
                user_id += 1
            for h in range(per_village):
                hid = target_id
                target_id += 1
                hlat, hlon = vlat + rng.uniform(-0.008, 0.008), vlon + rng.uniform(-0.008, 0.008)
                targets.append((hid, "household", f"bh-{t}-{v}-{h}", f"户{h}", vu, vt, hlat, hlon, None, 0, 0, created))
                cadre = cadres[h * CADRES_PER_VILLAGE // per_village]
                assigns.append((cadre, hid, "bao", "2026-01-01", None))
                for y, m in MONTHS:
                    if rng.random() < 0.9:
                        last_day = 26 if (y, m) == (2026, 11) else 28
                        day = date(y, m, rng.randint(1, last_day))
                        visits.append(
                            (
                                str(uuid.UUID(int=rng.getrandbits(128))),
                                cadre,
                                hid,
                                "home",
                                ts(day, rng.randint(510, 1050)),
                                ts(day, 1080),
                                hlat,
                                hlon,
                                10.0,
                                5.0,
                                "",
                                "",
                            )
                        )
                    if rng.random() < 0.05:
                        day = date(y, m, rng.randint(1, 26))
                        visits.append(
                            (
                                str(uuid.UUID(int=rng.getrandbits(128))),
                                leaders[-1],
                                hid,
                                "home",
                                ts(day, 600),
                                ts(day, 1080),
                                hlat,
                                hlon,
                                10.0,
                                5.0,
                                "",
                                "",
                            )
                        )
            for c in cadres:
                for y, m in MONTHS:
                    for d in range(1, 27):
                        if rng.random() < 0.6:
                            day = date(y, m, d)
                            checkins.append(
                                (
                                    str(uuid.UUID(int=rng.getrandbits(128))),
                                    c,
                                    vt,
                                    vlat,
                                    vlon,
                                    10.0,
                                    ts(day, 480),
                                    ts(day, 485),
                                    50.0,
                                    1000.0,
                                    0,
                                )
                            )
    cur.executemany(
        "INSERT INTO user_account (id, username, display_name, role, org_unit_id, password_hash, "
        "is_active, created_at) VALUES (?,?,?,?,?,?,?,?)",
        users,
    )
    cur.executemany(
        "INSERT INTO target (id, kind, code, name, org_unit_id, village_id, lat, lon, boundary, is_key, "
        "is_transport, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        targets,
    )
    cur.executemany(
        "INSERT INTO assignment (user_id, target_id, kind, start_date, end_date) VALUES (?,?,?,?,?)", assigns
    )
    cur.executemany(
        "INSERT INTO visit (uuid, user_id, target_id, visit_type, visited_at, received_at, lat, lon, "
        "accuracy, distance_m, notes, topics) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        visits,
    )
    cur.executemany(
        "INSERT INTO checkin (uuid, user_id, target_id, lat, lon, accuracy, device_time, received_at, "
        "distance_m, radius_m, off_site) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        checkins,
    )
    con.commit()
    cur.execute("ANALYZE")
    con.commit()
    con.close()
    print(f"built {path}: {len(targets)} targets, {len(users)} users, {len(visits)} visits, {len(checkins)} check-ins")


async def measure(path: Path, n: int) -> dict[str, list[float]]:
    from server.coverage.lists import crowding, uncovered_targets
    from server.coverage.maps import map_targets, map_visits
    from server.coverage.report import build_report

    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    timings: dict[str, list[float]] = {}
    first, last = date(2026, 11, 1), date(2026, 11, 30)
    try:
        async with session_maker(engine)() as db:
            county = await db.get(OrgUnit, 1)
            assert county is not None
            viewer = Viewer(1, "bsuper", "督导", "supervisor", 1, "/1/", county.name)
            whole = (113.9, 28.9, 114.3, 30.2)
            near = (114.0, 29.0, 114.03, 29.03)
            jobs = {
                "report (three coverages, town rows), Nov": lambda: build_report(
                    db, county, first, last, today=date(2026, 11, 26)
                ),
                "dashboard list: uncovered (first 50)": lambda: uncovered_targets(db, "/1/", first, last),
                "dashboard list: 扎堆": lambda: crowding(db, "/1/", first, last),
                "map targets, whole county (aggregated)": lambda: map_targets(db, viewer, whole, first, last),
                "map targets, one village bbox": lambda: map_targets(db, viewer, near, first, last),
                "map visits, whole county (aggregated)": lambda: map_visits(db, viewer, whole, first, last),
                "map visits, one village bbox": lambda: map_visits(db, viewer, near, first, last),
            }
            for name, job in jobs.items():
                await job()  # warm the page cache
                for _ in range(n):
                    t0, c0 = time.perf_counter(), time.process_time()
                    await job()
                    timings.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
                    timings.setdefault(name + " [CPU]", []).append((time.process_time() - c0) * 1000)
    finally:
        await engine.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=150_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/coverage-bench.db"))
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    if args.rebuild and args.db.exists():
        args.db.unlink()
    if not args.db.exists():
        t0 = time.perf_counter()
        build(args.db, args.households)
        print(f"build took {time.perf_counter() - t0:.0f} s")
    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}")
    for name, values in asyncio.run(measure(args.db, args.n)).items():
        print(f"{name:<45} median {statistics.median(values):7.1f} ms  (min {min(values):.1f}, n={len(values)})")


if __name__ == "__main__":
    main()
