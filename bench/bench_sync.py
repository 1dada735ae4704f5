"""Sync benchmarks 1 and 2 on a real server process (uvicorn) over a copy of the county's SQLite file.

    .venv/bin/python bench/bench_sync.py [--county /tmp/county.db] [--visits 20000] [--clients 4]
        [--workers 2 --fresh] [--loop asyncio --http h11]

1. Ingest: visits/s through ``POST /api/v1/sync`` in batches of 100 (``--clients`` cadres sending at once),
   against the bare floor: the same rows inserted with one ``executemany`` per 100 through the same driver
   (aiosqlite, same pragmas: WAL, synchronous=FULL, BEGIN IMMEDIATE), one transaction per batch.
2. Latency: p50/p95 of single-item syncs with 32 clients at once (32 cadres), and the throughput ratio to
   the same server's bare endpoint (``GET /healthz``) under the same 32 clients.
The client runs in this process, on the same 2 cores as the server: figures are conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.county import PASSWORD  # noqa: E402
from bench.harness import Server, county_copy, machine, percentile  # noqa: E402

NOTES = "入户了解家庭收入和务工情况，宣传医保缴费政策，户主反映村道路灯不亮。"
COLUMNS = (
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
)


def loop_name(loop: str = "auto", http: str = "auto") -> str:
    """What uvicorn runs: "auto" picks uvloop and httptools when installed, else asyncio and h11."""
    import importlib.util

    if loop == "auto":
        loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop} + {http}"


def cadres_with_households(db: Path, count: int) -> list[tuple[str, int, list[tuple[int, float, float]]]]:
    """(username, user id, [(household id, lat, lon)]) for `count` cadres spread over the county."""
    con = sqlite3.connect(db)
    users = con.execute("SELECT id, username FROM user_account WHERE role='cadre' ORDER BY id").fetchall()
    step = max(1, len(users) // count)
    out = []
    for user_id, username in users[::step][:count]:
        homes = con.execute(
            "SELECT t.id, t.lat, t.lon FROM assignment a JOIN target t ON t.id = a.target_id "
            "WHERE a.user_id = ? AND t.kind = 'household' AND a.end_date IS NULL ORDER BY t.id",
            (user_id,),
        ).fetchall()
        out.append((username, user_id, homes))
    con.close()
    return out


def visit_item(home: tuple[int, float, float], at: datetime) -> dict:
    hid, lat, lon = home
    return {
        "uuid": str(uuid.uuid4()),
        "kind": "visit",
        "created_at": at.isoformat(),
        "visited_at": at.isoformat(),
        "target_id": hid,
        "lat": lat + 0.0001,
        "lon": lon,
        "accuracy": 12.0,
        "visit_type": "home",
        "notes": NOTES,
        "topics": ["家庭收入", "就业务工"],
    }


PER_DAY = 12  # a busy cadre's day: a visit every 40 minutes from 09:00


def field_day_times(days_back: int, count: int) -> list[datetime]:
    """`count` visit times, PER_DAY a day at 40-minute steps, on consecutive days starting `days_back` ago.
    The county's generated visits span the last 12 months; days 366–399 ago are free for new ones."""
    first = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=days_back)
    return [first + timedelta(days=k // PER_DAY, minutes=40 * (k % PER_DAY)) for k in range(count)]


def batches_for(
    homes: list[tuple[int, float, float]], n_batches: int, size: int, days_back: int = 398
) -> list[list[dict]]:
    times = field_day_times(days_back, n_batches * size)
    items = [visit_item(homes[i % len(homes)], at) for i, at in enumerate(times)]
    return [items[i : i + size] for i in range(0, len(items), size)]


async def bare_executemany(db: Path, batches: list[list[dict]], user_id: int) -> float:
    """The floor: the same visit rows, 100 per executemany, one BEGIN IMMEDIATE…COMMIT each."""
    import aiosqlite

    received = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    async with aiosqlite.connect(db, isolation_level=None) as con:
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=FULL"):
            await con.execute(f"PRAGMA {pragma}")
        sql = f"INSERT INTO visit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        t0 = time.perf_counter()
        for batch in batches:
            rows = [
                (
                    str(uuid.uuid4()),
                    user_id,
                    i["target_id"],
                    "home",
                    datetime.fromisoformat(i["visited_at"]).strftime("%Y-%m-%d %H:%M:%S.%f"),
                    received,
                    i["lat"],
                    i["lon"],
                    12.0,
                    11.1,
                    i["notes"],
                    "|".join(i["topics"]),
                )
                for i in batch
            ]
            await con.execute("BEGIN IMMEDIATE")
            await con.executemany(sql, rows)
            await con.execute("COMMIT")
        elapsed = time.perf_counter() - t0
    return sum(len(b) for b in batches) / elapsed


async def pg_cadres(url: str, count: int) -> list[tuple[str, int, list[tuple[int, float, float]]]]:
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        users = await con.fetch("SELECT id, username FROM user_account WHERE role='cadre' ORDER BY id")
        step = max(1, len(users) // count)
        out = []
        for user in users[::step][:count]:
            homes = await con.fetch(
                "SELECT t.id, t.lat, t.lon FROM assignment a JOIN target t ON t.id = a.target_id "
                "WHERE a.user_id = $1 AND t.kind = 'household' AND a.end_date IS NULL ORDER BY t.id", user["id"]
            )
            out.append((user["username"], user["id"], [tuple(h) for h in homes]))
        return out
    finally:
        await con.close()


async def pg_bare_executemany(url: str, batches: list[list[dict]], user_id: int) -> float:
    """The PostgreSQL floor: asyncpg executemany of the same rows, one transaction per 100."""
    import asyncpg

    received = datetime.now(UTC)
    con = await asyncpg.connect(url)
    sql = f"INSERT INTO visit ({', '.join(COLUMNS)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))})"
    try:
        t0 = time.perf_counter()
        for batch in batches:
            rows = [(str(uuid.uuid4()), user_id, i["target_id"], "home", datetime.fromisoformat(i["visited_at"]),
                     received, i["lat"], i["lon"], 12.0, 11.1, i["notes"], "|".join(i["topics"])) for i in batch]
            async with con.transaction():
                await con.executemany(sql, rows)
        elapsed = time.perf_counter() - t0
    finally:
        await con.close()
    return sum(len(b) for b in batches) / elapsed


async def pg_admin(url: str, *statements: str) -> None:
    import asyncpg

    con = await asyncpg.connect(url)
    try:
        for statement in statements:
            await con.execute(statement)
    finally:
        await con.close()


async def ingest(
    server: Server, shares: list[list[tuple[dict[str, str], list[list[dict]]]]], fresh: bool = False
) -> tuple[float, int]:
    """Each client posts its cadres' batches one after another, all clients at once; (visits/s, created).
    ``fresh``: a new connection per batch (as phones do), so that several workers share the load; kept-alive
    connections stay with the worker that accepted them."""
    created = 0
    limits = httpx.Limits(max_keepalive_connections=0) if fresh else httpx.Limits()

    async def client(share: list[tuple[dict[str, str], list[list[dict]]]]) -> None:
        nonlocal created
        async with httpx.AsyncClient(base_url=server.url, timeout=300, limits=limits) as http:
            for headers, batches in share:
                for batch in batches:
                    r = await http.post("/api/v1/sync", json={"items": batch}, headers=headers)
                    r.raise_for_status()
                    results = r.json()["results"]
                    bad = [x for x in results if x["status"] != "created"]
                    if bad:
                        raise RuntimeError(f"not created: {bad[:2]}")
                    created += len(results)

    t0, client0, server0 = time.perf_counter(), time.process_time(), server.cpu_seconds()
    await asyncio.gather(*(client(share) for share in shares))
    elapsed = time.perf_counter() - t0
    client_cpu, server_cpu = time.process_time() - client0, server.cpu_seconds() - server0
    print(f"   CPU during ingest: server {server_cpu / elapsed:.0%} of a core, client {client_cpu / elapsed:.0%}")
    return created / elapsed, created


async def closed_loop(
    server: Server, jobs: list[tuple[dict[str, str], list[dict | None]]]
) -> tuple[list[float], float]:
    """Each client sends its requests one after another (an item → POST /api/v1/sync, None → GET /healthz).
    Returns (latencies in ms, requests/s)."""
    latencies: list[float] = []

    async def client(headers: dict[str, str], requests: list[dict | None]) -> None:
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=120) as http:
            for item in requests:
                t0 = time.perf_counter()
                if item is None:
                    r = await http.get("/healthz")
                else:
                    r = await http.post("/api/v1/sync", json={"items": [item]})
                    if r.json()["results"][0]["status"] != "created":
                        raise RuntimeError(r.text)
                r.raise_for_status()
                latencies.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(client(h, reqs) for h, reqs in jobs))
    return latencies, len(latencies) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--county", type=Path, default=Path("/tmp/county.db"))
    parser.add_argument("--visits", type=int, default=3_000, help="visits for the ingest run")
    parser.add_argument("--clients", type=int, default=4, help="cadres syncing at once in the ingest run")
    parser.add_argument("--per-client", type=int, default=10, help="single-item syncs per client (latency run)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--fresh", action="store_true", help="ingest: a new connection per batch")
    parser.add_argument("--loop", default="auto", help="uvicorn --loop (auto: uvloop; asyncio to compare)")
    parser.add_argument("--http", default="auto", help="uvicorn --http (auto: httptools; h11 to compare)")
    parser.add_argument("--pg", help="postgresql:// URL of a county loaded by bench/county.py --pg (copied per run)")
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="minqing-bench-"))
    print(machine())
    batches_per_cadre = 3  # 300 visits: 25 field days in the free window
    n_ingest = -(-args.visits // (100 * batches_per_cadre))
    if args.pg:
        source = make_url(args.pg)
        run_db = f"minqing_bench_run_{os.getpid()}"
        admin = source.set(database="postgres").render_as_string(hide_password=False)
        asyncio.run(pg_admin(admin, f'CREATE DATABASE "{run_db}" TEMPLATE "{source.database}"'))
        plain = source.set(database=run_db).render_as_string(hide_password=False)
        database_url = source.set(drivername="postgresql+asyncpg", database=run_db).render_as_string(
            hide_password=False
        )
        people = asyncio.run(pg_cadres(plain, max(32, n_ingest)))
        floor_batches = [b for _, _, homes in people[:n_ingest] for b in batches_for(homes, batches_per_cadre, 100)]
        floor = asyncio.run(pg_bare_executemany(plain, floor_batches, people[-1][1]))
    else:
        db = county_copy(args.county, work_dir / "county.db")
        database_url = f"sqlite+aiosqlite:///{db}"
        people = cadres_with_households(db, max(32, n_ingest))
        floor_batches = [b for _, _, homes in people[:n_ingest] for b in batches_for(homes, batches_per_cadre, 100)]
        floor = asyncio.run(bare_executemany(db, floor_batches, people[-1][1]))  # a cadre not in the ingest run
    ingest_people = people[:n_ingest]
    database = "PostgreSQL" if args.pg else "SQLite"
    print(f"database: {database}; server: uvicorn, {args.workers} worker(s), {loop_name(args.loop, args.http)}")

    server = Server(database_url, work_dir, workers=args.workers, loop=args.loop, http=args.http)
    try:
        tokens = [server.token(username, PASSWORD) for username, _, _ in people]
        shares: list[list] = [[] for _ in range(args.clients)]
        for i, (_, _, homes) in enumerate(ingest_people):
            shares[i % args.clients].append((tokens[i], batches_for(homes, batches_per_cadre, 100)))
        rate, created = asyncio.run(ingest(server, shares, args.fresh))
        connections = "a new connection per batch" if args.fresh else "kept-alive connections"
        print(
            f"1. ingest: {created} visits in batches of 100 by {args.clients} clients ({connections}): "
            f"{rate:,.0f} visits/s; "
            f"bare executemany {floor:,.0f} rows/s; ratio {rate / floor:.2f}"
        )

        singles = [
            (
                tokens[i],
                [visit_item(people[i][2][k % len(people[i][2])], datetime.now(UTC)) for k in range(args.per_client)],
            )
            for i in range(32)
        ]
        bare = [(tokens[i], [None] * args.per_client) for i in range(32)]
        asyncio.run(closed_loop(server, [(t, [None] * 5) for t, _ in bare]))  # warm up connections
        bare_lat, bare_rps = asyncio.run(closed_loop(server, bare))
        lat, rps = asyncio.run(closed_loop(server, singles))
        print(
            f"2. latency, 32 clients, single-item syncs: p50 {percentile(lat, 50):.0f} ms, p95 "
            f"{percentile(lat, 95):.0f} ms, {rps:,.0f} syncs/s; bare /healthz p50 {percentile(bare_lat, 50):.0f} ms, "
            f"p95 {percentile(bare_lat, 95):.0f} ms, {bare_rps:,.0f} req/s; throughput ratio {rps / bare_rps:.2f}"
        )
        print(f"   (median sync latency {statistics.median(lat):.1f} ms over {len(lat)} requests)")
    finally:
        server.stop()
        if args.pg:
            asyncio.run(pg_admin(admin, f'DROP DATABASE IF EXISTS "{run_db}" WITH (FORCE)'))
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
