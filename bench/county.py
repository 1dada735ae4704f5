"""A county at scale, fast: 150k households in 600 villages, 2,000 cadres, 2 M visits (a year of work).

    .venv/bin/python bench/county.py --db /tmp/county.db                # SQLite file (about 1 min)
    .venv/bin/python bench/county.py --pg postgresql://postgres@127.0.0.1/bench_county   # COPY into PostgreSQL
    .venv/bin/python bench/county.py --db /tmp/small.db --households 15000 --visits 200000

The schema comes from our migrations; the rows are written with one ``executemany`` per table on
SQLite (one transaction, synchronous off while building) or ``COPY`` (asyncpg) on PostgreSQL, so the
generator is bound by Python's row making, not by the database. Deterministic for a given seed.

Shape: 县 → 20 镇 → 30 村 each (600 村, each a village target with a boundary polygon) → 250 农户 each.
Every 镇 has 100 干部 (username ``c<town>-<n>``) and 3 班子成员 (``l<town>-<n>``); each 村's households
are split between the 3–4 cadres that 包保 that village; leaders 联系 ten villages each. Visits cover
the twelve months up to ``--today``: each household-month is visited with probability 0.9 and again
with 0.21 (≈1.11 visits per household a month), between 08:30 and 18:00 local time, plus a check-in
at the village for each cadre-day with visits. Everyone's password is ``bench-pass-1``.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.accounts.service import hash_password  # noqa: E402
from server.clock import local_today  # noqa: E402
from server.db import migrate  # noqa: E402
from server.visits.models import TOPICS  # noqa: E402

PASSWORD = "bench-pass-1"
TOWNS, VILLAGES_PER_TOWN, CADRES_PER_TOWN, LEADERS_PER_TOWN = 20, 30, 100, 3
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "国建华明志军平勇秀英兰芳玉桂珍凤霞伟强丽红春海德文金林山水生福荣"

COLUMNS = {
    "org_unit": ("id", "name", "kind", "parent_id", "path", "code"),
    "user_account": (
        "id",
        "username",
        "display_name",
        "role",
        "org_unit_id",
        "password_hash",
        "is_active",
        "created_at",
    ),
    "target": (
        "id",
        "kind",
        "code",
        "name",
        "org_unit_id",
        "village_id",
        "lat",
        "lon",
        "boundary",
        "head_name",
        "group_name",
        "members",
        "phone",
        "is_key",
        "is_transport",
        "created_at",
    ),
    "assignment": ("user_id", "target_id", "kind", "start_date", "end_date"),
    "visit": (
        "uuid",
        "user_id",
        "target_id",
        "visit_type",
        "visited_at",
        "received_at",
        "lat",
        "lon",
        "accuracy",
        "distance_m",
        "notes",
        "topics",
    ),
    "checkin": (
        "uuid",
        "user_id",
        "target_id",
        "lat",
        "lon",
        "accuracy",
        "device_time",
        "received_at",
        "distance_m",
        "radius_m",
        "off_site",
    ),
}
TIME_COLUMNS = {"created_at", "visited_at", "received_at", "device_time"}


@dataclass
class County:
    """The rows of every table, with times as seconds since the epoch (UTC) until written."""

    tables: dict[str, list[tuple]] = field(default_factory=lambda: {name: [] for name in COLUMNS})
    cadres: dict[int, list[int]] = field(default_factory=dict)  # cadre id → household ids
    village_of: dict[int, tuple[int, float, float]] = field(default_factory=dict)  # household → village, lat, lon


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")


def _epoch(day: date, minute: int) -> int:
    """Local (UTC+8) minute of `day` → epoch seconds."""
    return calendar.timegm((day.year, day.month, day.day, 0, 0, 0)) + minute * 60 - 8 * 3600


def _months(today: date, count: int = 12) -> list[tuple[date, int]]:
    """(first day, number of days so far) for the `count` months ending with today's."""
    out = []
    y, m = today.year, today.month
    for _ in range(count):
        first = date(y, m, 1)
        days = today.day if (y, m) == (today.year, today.month) else calendar.monthrange(y, m)[1]
        out.append((first, days))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def build_people_and_places(rng: random.Random, households: int, pw_hash: str, created: int) -> County:
    county = County()
    units, users, targets, assigns = (county.tables[t] for t in ("org_unit", "user_account", "target", "assignment"))
    units.append((1, "县级单位", "county", None, "/1/", "county"))
    users.append((1, "super", "县督导", "supervisor", 1, pw_hash, True, created))
    users.append((2, "admin", "管理员", "admin", 1, pw_hash, True, created))
    per_village = max(1, households // (TOWNS * VILLAGES_PER_TOWN))
    unit_id, user_id, target_id = 2, 3, 1
    start = date(2020, 1, 1)  # sqlite3 stores it as 2020-01-01, asyncpg as a date
    for t in range(TOWNS):
        town = unit_id
        unit_id += 1
        units.append((town, f"第{t + 1}镇", "town", 1, f"/1/{town}/", f"town-{t}"))
        cadres = list(range(user_id, user_id + CADRES_PER_TOWN))
        for n, cid in enumerate(cadres):
            users.append((cid, f"c{t}-{n}", _name(rng), "cadre", town, pw_hash, True, created))
        user_id += CADRES_PER_TOWN
        leaders = list(range(user_id, user_id + LEADERS_PER_TOWN))
        for n, lid in enumerate(leaders):
            users.append((lid, f"l{t}-{n}", _name(rng), "leader", town, pw_hash, True, created))
        user_id += LEADERS_PER_TOWN
        tlat, tlon = 29.0 + (t // 5) * 0.25, 113.8 + (t % 5) * 0.25
        for v in range(VILLAGES_PER_TOWN):
            vu = unit_id
            unit_id += 1
            units.append((vu, f"第{t + 1}镇{v + 1}村委会", "village", town, f"/1/{town}/{vu}/", f"v-{t}-{v}"))
            vlat, vlon = tlat + (v // 6) * 0.04, tlon + (v % 6) * 0.04
            d = 0.018
            ring = [
                [vlon - d, vlat - d],
                [vlon + d, vlat - d],
                [vlon + d, vlat + d],
                [vlon - d, vlat + d],
                [vlon - d, vlat - d],
            ]
            vt = target_id
            target_id += 1
            targets.append(
                (
                    vt,
                    "village",
                    f"v-{t}-{v}",
                    f"第{t + 1}镇{v + 1}村",
                    vu,
                    None,
                    vlat,
                    vlon,
                    json.dumps({"type": "Polygon", "coordinates": [ring]}),
                    None,
                    None,
                    None,
                    None,
                    False,
                    False,
                    created,
                )
            )
            assigns.append((leaders[v % LEADERS_PER_TOWN], vt, "lian", start, None))
            mine = [c for n, c in enumerate(cadres) if n * VILLAGES_PER_TOWN // CADRES_PER_TOWN == v]
            for c in mine:
                assigns.append((c, vt, "bao", start, None))
            for h in range(per_village):
                hid = target_id
                target_id += 1
                hlat, hlon = vlat + rng.uniform(-d, d) * 0.9, vlon + rng.uniform(-d, d) * 0.9
                group = f"{h // 40 + 1}组"
                targets.append(
                    (
                        hid,
                        "household",
                        f"h-{t}-{v}-{h}",
                        f"{group}{h % 40 + 1}号",
                        vu,
                        vt,
                        hlat,
                        hlon,
                        None,
                        _name(rng),
                        group,
                        rng.randint(1, 7),
                        f"13{rng.randrange(10**9):09d}",
                        False,
                        False,
                        created,
                    )
                )
                cadre = mine[h * len(mine) // per_village]
                assigns.append((cadre, hid, "bao", start, None))
                county.cadres.setdefault(cadre, []).append(hid)
                county.village_of[hid] = (vt, hlat, hlon)
    return county


def add_visits(county: County, rng: random.Random, today: date, target_visits: int) -> None:
    """≈1.11 visits per household-month over 12 months, scaled so the total is about `target_visits`."""
    visits, checkins = county.tables["visit"], county.tables["checkin"]
    months = _months(today)
    n_households = sum(len(h) for h in county.cadres.values())
    rate = target_visits / max(1, n_households * len(months))
    p_first, p_second = min(0.9, rate), max(0.0, rate - 0.9)
    getrandbits, random_, randint = rng.getrandbits, rng.random, rng.randint
    for cadre, homes in county.cadres.items():
        days_checked: set[tuple[date, int]] = set()
        for first, days in months:
            for hid in homes:
                vt, hlat, hlon = county.village_of[hid]
                for p in (p_first, p_second):
                    if random_() >= p:
                        continue
                    day = first + timedelta(days=randint(0, days - 1))
                    at = _epoch(day, randint(510, 1080))
                    topics = TOPICS[randint(0, 7)]
                    visits.append(
                        (
                            str(uuid.UUID(int=getrandbits(128), version=4)),
                            cadre,
                            hid,
                            "home",
                            at,
                            at + 600,
                            hlat + 0.0001,
                            hlon,
                            12.0,
                            11.0,
                            "了解家庭情况，宣传政策。",
                            topics,
                        )
                    )
                    if (day, vt) not in days_checked:
                        days_checked.add((day, vt))
                        _, vlat, vlon = county.village_of[hid]
                        checkins.append(
                            (
                                str(uuid.UUID(int=getrandbits(128), version=4)),
                                cadre,
                                vt,
                                vlat,
                                vlon,
                                15.0,
                                at - 1800,
                                at - 1790,
                                120.0,
                                1000.0,
                                False,
                            )
                        )


def generate(households: int, visits: int, today: date, seed: int = 2026) -> County:
    rng = random.Random(seed)
    created = _epoch(date(2020, 1, 1), 0)
    county = build_people_and_places(rng, households, hash_password(PASSWORD), created)
    add_visits(county, rng, today, visits)
    return county


def _sqlite_time(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(epoch))


def _converted(table: str, rows: list[tuple], convert) -> Iterator[tuple]:  # type: ignore[no-untyped-def]
    positions = [i for i, c in enumerate(COLUMNS[table]) if c in TIME_COLUMNS]
    for row in rows:
        values = list(row)
        for i in positions:
            values[i] = convert(values[i])
        yield tuple(values)


def write_sqlite(path: Path, county: County) -> None:
    if path.exists():
        path.unlink()
    migrate(f"sqlite+aiosqlite:///{path}")
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-400000")
    con.execute("BEGIN")
    for table, rows in county.tables.items():
        cols = COLUMNS[table]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        con.executemany(sql, _converted(table, rows, _sqlite_time))
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


async def _write_pg(url: str, county: County) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for table, rows in county.tables.items():
            records = _converted(table, rows, lambda e: datetime.fromtimestamp(e, UTC))
            await conn.copy_records_to_table(table, records=list(records), columns=list(COLUMNS[table]))
        for table in ("org_unit", "user_account", "target", "assignment", "visit", "checkin"):
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def write_postgres(url: str, county: County) -> None:
    """`url` is a plain postgresql:// URL of an existing, empty database."""
    from sqlalchemy.engine import make_url

    app_url = make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    migrate(app_url)
    asyncio.run(_write_pg(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), county))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="SQLite file to (re)create")
    parser.add_argument("--pg", help="postgresql:// URL of an existing empty database")
    parser.add_argument("--households", type=int, default=150_000)
    parser.add_argument("--visits", type=int, default=2_000_000)
    parser.add_argument("--today", type=date.fromisoformat, default=local_today())
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if not args.db and not args.pg:
        parser.error("give --db PATH and/or --pg URL")
    t0 = time.perf_counter()
    county = generate(args.households, args.visits, args.today, args.seed)
    sizes = ", ".join(f"{len(rows):,} {table}" for table, rows in county.tables.items())
    print(f"generated {sizes} in {time.perf_counter() - t0:.1f} s")
    if args.db:
        t1 = time.perf_counter()
        write_sqlite(args.db, county)
        print(f"wrote {args.db} ({args.db.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t1:.1f} s")
    if args.pg:
        t1 = time.perf_counter()
        write_postgres(args.pg, county)
        print(f"copied into {args.pg} in {time.perf_counter() - t1:.1f} s")


if __name__ == "__main__":
    main()
