"""The bulk path of POST /api/v1/sync (server/sync/bulk.py, server/integrity/batch.py): the same batch gives
the same answers, rows, ids and integrity flags as the per-item path, on two copies of the same database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.service import Viewer
from server.clock import LOCAL, utcnow
from server.config import Settings
from server.db import create_engine, read_phase
from server.integrity.batch import FORESEEN
from server.integrity.models import IntegrityFlag
from server.ledger.models import Concern
from server.sync.bulk import plan_bulk, write_bulk
from server.sync.schemas import SyncItem, SyncResult
from server.sync.service import batch_session, decode_envelope, decode_item, known_records, record_item, sync_batch
from server.visits.models import CheckIn, Visit, VisitPhoto
from server.visits.photos import put_photo
from tests import pg
from tests.factories import VILLAGE_A, World, run, viewer_for
from tests.integrity_helpers import photo_bytes
from tests.test_sync import count


@pytest.fixture
def twin(settings: Settings, template: tuple[Path | str, World], tmp_path: Path) -> Iterator[Settings]:
    """A second database made from the same template as ``settings``'s (the world, nothing else)."""
    if isinstance(template[0], str):
        name = pg.unique_name("twin")
        yield replace(settings, database_url=pg.create_database(name, template=template[0]))
        pg.drop_database(name)
        return
    path = tmp_path / "twin.db"
    path.write_bytes(Path(template[0]).read_bytes())
    yield replace(settings, database_url=f"sqlite+aiosqlite:///{path}")


async def per_item(db: AsyncSession, viewer: Viewer, settings: Settings, body: bytes) -> list[SyncResult]:
    """The per-item path alone: every new item in its own transaction (sync_batch without sync.bulk)."""
    decoded = [decode_item(viewer, n, raw) for n, raw in enumerate(decode_envelope(body), start=1)]
    known = await known_records(db, [d for d in decoded if isinstance(d, SyncItem)])
    await db.rollback()
    results = []
    for entry in decoded:
        if isinstance(entry, SyncItem):
            entry = known.get((entry.kind, entry.uuid)) or await record_item(db, viewer, settings, entry)
        results.append(entry)
    return results


def iso(value: datetime) -> str:
    return value.astimezone(LOCAL).isoformat(timespec="seconds")


def visit(world: World, target: str, at: datetime, lat: float, lon: float, **extra: Any) -> dict[str, Any]:
    item = {
        "uuid": str(uuid.uuid4()),
        "kind": "visit",
        "created_at": iso(at + timedelta(minutes=1)),
        "visited_at": iso(at),
        "target_id": world.targets[target],
        "lat": lat,
        "lon": lon,
        "accuracy": 9,
        "visit_type": "home",
        "notes": "了解家庭收入",
        "topics": ["家庭收入"],
    }
    return item | extra


def checkin(world: World, target: str, at: datetime, lat: float, lon: float) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "kind": "checkin",
        "created_at": iso(at),
        "target_id": world.targets[target],
        "lat": lat,
        "lon": lon,
        "accuracy": 0,
    }


HOME = (VILLAGE_A[0] + 0.001, VILLAGE_A[1])
TWIN_SPOT = (VILLAGE_A[0] + 0.0101, VILLAGE_A[1] + 0.0002)  # house_2's visit in the history, to the metre


def scenario(world: World, photos: dict[str, str], now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(history sent one item at a time, the batch): the batch trips every kind of check and rejection."""
    day = now - timedelta(days=3)
    first = visit(world, "house_1", day, *HOME, photo_uuids=[photos["old"]])
    history = [first, visit(world, "house_2", day + timedelta(hours=2), *TWIN_SPOT)]
    later = day + timedelta(hours=5)
    concern_uuid = str(uuid.uuid4())
    batch = [
        visit(world, "house_3", later, *TWIN_SPOT, concerns=[{"uuid": concern_uuid, "text": "路灯坏了"}]),
        visit(world, "house_1", later + timedelta(minutes=30), *HOME, photo_uuids=[photos["reused"]]),
        *(visit(world, "house_1", later + timedelta(minutes=60 + 5 * k), *HOME) for k in range(4)),  # burst
        visit(world, "house_2", later + timedelta(minutes=85), HOME[0] + 0.5, HOME[1]),  # 55 km in 5 min
        visit(world, "house_1", later - timedelta(hours=1), *HOME, photo_uuids=[str(uuid.UUID(int=4))]),  # out of order
        visit(world, "house_1", later + timedelta(hours=3), None, None, visit_type="phone"),
        visit(world, "house_1", now, *HOME, created_at=iso(now + timedelta(minutes=30))),  # clock ahead
        checkin(world, "village_a", later, VILLAGE_A[0] + 0.05, VILLAGE_A[1]),  # off site, accuracy 0
        checkin(world, "factory", later, VILLAGE_A[0] - 0.005, VILLAGE_A[1] + 0.005),
        checkin(world, "house_1", later, *HOME),  # a household needs no check-in
        visit(world, "house_b", later, *HOME),  # not in cadre_a's scope
        visit(world, "house_1", later, *HOME, notes="", topics=[]),  # no content
        visit(world, "house_1", later, *HOME, photo_uuids=["x" * 32]),  # not a photo uuid
        visit(world, "house_1", later, None, None),  # a home visit without GPS
        visit(world, "house_1", later, *HOME, photo_uuids=[photos["foreign"]]),  # cadre_b's photo
        {
            "uuid": str(uuid.uuid4()),
            "kind": "concern",
            "created_at": iso(later),
            "target_id": world.targets["house_1"],
            "text": "希望修缮水渠",
            "visit_uuid": None,
        },
        first,  # a replay
    ]
    batch[-2]["visit_uuid"] = batch[0]["uuid"]
    return history, batch


async def _photos(settings: Settings, world: World) -> dict[str, str]:
    """The same photos in the database under the same uuids: an old one, a near copy of it, cadre_b's."""
    engine = create_engine(settings.database_url)
    names = {"old": str(uuid.UUID(int=1)), "reused": str(uuid.UUID(int=2)), "foreign": str(uuid.UUID(int=3))}
    try:
        async with batch_session(engine) as db:
            mine, theirs = await viewer_for(db, world.users["cadre_a"]), await viewer_for(db, world.users["cadre_b"])
            await put_photo(db, mine, settings, names["old"], photo_bytes(1))
            await put_photo(db, mine, settings, names["reused"], photo_bytes(1, quality=60))
            await put_photo(db, theirs, settings, names["foreign"], photo_bytes(2))
    finally:
        await engine.dispose()
    return names


async def _play(
    settings: Settings, world: World, now: datetime, bulk: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    history, batch = scenario(world, await _photos(settings, world), now)
    engine = create_engine(settings.database_url)
    try:
        async with batch_session(engine) as db:
            viewer = await viewer_for(db, world.users["cadre_a"])
            for item in history:
                await sync_batch(db, viewer, settings, json.dumps({"items": [item]}).encode())
            body = json.dumps({"items": batch}).encode()
            results = await (sync_batch if bulk else per_item)(db, viewer, settings, body)
            return [_plain(r) for r in results], await _dump(db)
    finally:
        await engine.dispose()


def _plain(result: SyncResult) -> dict[str, Any]:
    return {"status": result.status, "error": result.error, "flags": result.flags, "id": result.id}


async def _dump(db: AsyncSession) -> dict[str, Any]:
    """Every row the sync writes, without uuids made up per run and receive times."""
    visits = list(await db.scalars(select(Visit).order_by(Visit.id)))
    return {
        "visits": [
            (v.id, v.target_id, v.visit_type, v.visited_at, v.lat, v.lon, v.distance_m, v.notes) for v in visits
        ],
        "received": [v.received_at for v in visits],
        "links": [(p.visit_id, p.photo_uuid, p.position) for p in await db.scalars(select(VisitPhoto))],
        "concerns": [
            (c.id, c.visit_id, c.target_id, c.text, c.category, c.created_at)
            for c in await db.scalars(select(Concern).order_by(Concern.id))
        ],
        "checkins": [
            (c.id, c.target_id, c.distance_m, c.off_site)
            for c in await db.scalars(select(CheckIn).order_by(CheckIn.id))
        ],
        "flags": sorted(
            (f.visit_id or 0, f.checkin_id or 0, f.code, f.severity, f.message)
            for f in await db.scalars(select(IntegrityFlag))
        ),
    }


def test_bulk_and_per_item_paths_agree(settings: Settings, twin: Settings, world: World) -> None:
    now = utcnow().replace(microsecond=0)
    bulk_results, bulk_rows = run(_play(settings, world, now, bulk=True))
    item_results, item_rows = run(_play(twin, world, now, bulk=False))
    # The batch really went the bulk way: its 10 new visits were written in one transaction, one receive time.
    assert len(set(bulk_rows.pop("received")[2:])) == 1
    assert len(set(item_rows.pop("received")[2:])) == 10
    assert bulk_results == item_results
    assert bulk_rows == item_rows
    statuses = [r["status"] for r in bulk_results]
    assert statuses == ["created"] * 12 + ["rejected"] * 6 + ["created", "duplicate"]
    assert bulk_results[9]["flags"] == ["clock_ahead"] and bulk_results[10]["flags"] == ["off_site"]
    errors = [r["error"] for r in bulk_results[12:18]]
    assert "不需要签到" in errors[0] and "管辖范围" in errors[1] and "走访内容" in errors[2]
    assert "照片编号" in errors[3] and "定位" in errors[4] and "其他用户" in errors[5]
    codes = {(visit_id, checkin_id, code) for visit_id, checkin_id, code, _, _ in bulk_rows["flags"]}
    ids = [r["id"] for r in bulk_results]
    assert (ids[0], 0, "mock_location") in codes  # the same coordinates as another target's visit
    assert (ids[1], 0, "photo_reused") in codes
    assert (ids[5], 0, "burst") in codes and (ids[4], 0, "burst") not in codes
    assert (ids[6], 0, "too_fast") in codes and (ids[6], 0, "far_from_target") in codes
    assert (ids[7], 0, "no_photo") not in codes and (ids[2], 0, "no_photo") in codes  # ids[7]'s photo is coming
    assert (0, ids[10], "mock_location") in codes and (0, ids[10], "far_from_target") in codes


def test_overlapping_batches_from_ten_clients_store_everything_once(
    live_server, world: World, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    """Ten phones at once, each with the same 10 shared items (half of them in reverse order) and 3 of its
    own: a bulk write that meets another's uuids (or deadlocks with it on PostgreSQL) falls back item by
    item, and nothing is stored twice or lost."""
    token = httpx.post(
        f"{live_server.url}/api/v1/auth/token", json={"username": "cadre_a", "password": "secret-pass-1"}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    at = utcnow().replace(microsecond=0) - timedelta(days=1)
    shared = [visit(world, "house_1", at + timedelta(hours=k), *HOME) for k in range(8)]
    shared += [checkin(world, "village_a", at, *VILLAGE_A) for _ in range(2)]
    bodies = [
        json.dumps(
            {"items": [visit(world, "house_2", at - timedelta(hours=n + 1), *HOME) for _ in range(3)] + shared[::order]}
        )
        for n, order in zip(range(10), [1, -1] * 5, strict=True)
    ]

    def post(body: str) -> list[dict[str, Any]]:
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as c:
            answer = c.post("/api/v1/sync", content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 200, answer.text
            return answer.json()["results"]

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(post, bodies))
    for results in outcomes:
        assert [r["status"] for r in results[:3]] == ["created"] * 3
    for item in shared:  # half the phones send the shared items in reverse order
        answers = [next(r for r in results if r["uuid"] == item["uuid"]) for results in outcomes]
        assert sorted(a["status"] for a in answers) == ["created"] + ["duplicate"] * 9, answers
        assert len({a["id"] for a in answers}) == 1
    assert count(settings, Visit) == 30 + 8 and count(settings, CheckIn) == 2
    assert count(settings, IntegrityFlag, IntegrityFlag.code == "no_photo") == 38



Step = tuple[str, str, Any]  # (user, "photo" | "sync", (uuid, seed, quality) | item)


async def _do(settings: Settings, world: World, steps: list[Step]) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with batch_session(engine) as db:
            for user, what, arg in steps:
                viewer = await viewer_for(db, world.users[user])
                if what == "photo":
                    await put_photo(db, viewer, settings, arg[0], photo_bytes(arg[1], quality=arg[2]))
                else:
                    [result] = await sync_batch(db, viewer, settings, json.dumps({"items": [arg]}).encode())
                    assert result.status == "created", result
    finally:
        await engine.dispose()


async def _interleaved(
    settings: Settings, world: World, batch: list[dict[str, Any]], between: list[Step]
) -> dict[tuple[int, str], str]:
    """cadre_a's batch on the bulk path with ``between`` committed after its read phase and before its write
    (as when another phone's batch takes SQLite's write lock first): the batch's flags by (visit id, code)."""
    engine = create_engine(settings.database_url)
    try:
        async with batch_session(engine) as db:
            viewer = await viewer_for(db, world.users["cadre_a"])
            raws = decode_envelope(json.dumps({"items": batch}).encode())
            decoded = [decode_item(viewer, n, raw) for n, raw in enumerate(raws, start=1)]
            async with read_phase(db):
                known = await known_records(db, [d for d in decoded if isinstance(d, SyncItem)])
                plan = await plan_bulk(db, viewer, settings, decoded, known)
            assert plan is not None and plan.evidence is not None
            await _do(settings, world, between)
            answers = await write_bulk(db, plan, settings)
            assert [a.status for a in answers.values()] == ["created"] * len(batch)
            ids = [a.id for a in answers.values()]
            flags = await db.scalars(select(IntegrityFlag).where(IntegrityFlag.visit_id.in_(ids)))  # type: ignore[union-attr]
            return {(ids.index(f.visit_id), f.code): f.message for f in flags}
    finally:
        await engine.dispose()


@pytest.mark.parametrize("case", ["own_visit", "photo_arrived", "their_visit"])
def test_what_is_recorded_between_the_read_and_the_write_still_counts(
    settings: Settings, world: World, case: str
) -> None:
    """A batch's integrity evidence is read before SQLite's write lock. Recorded in between: the cadre's own
    visit from another phone (55 km away 5 minutes earlier), the batch's photo finishing its upload (a near
    copy of cadre_b's photo), cadre_b's visit with a near copy of the batch's photo — each still flags."""
    at = utcnow().replace(microsecond=0) - timedelta(days=1)
    mine, theirs = str(uuid.UUID(int=11)), str(uuid.UUID(int=12))
    batch = [
        visit(world, "house_1", at, *HOME),
        visit(world, "house_2", at + timedelta(hours=4), *TWIN_SPOT, photo_uuids=[mine]),
    ]
    far = visit(world, "house_3", at - timedelta(minutes=5), HOME[0] + 0.5, HOME[1])
    their_visit = visit(world, "house_b", at - timedelta(days=1), 29.7, 114.2, photo_uuids=[theirs])
    upload_mine: Step = ("cadre_a", "photo", (mine, 7, 55))
    theirs_done: list[Step] = [("cadre_b", "photo", (theirs, 7, 85)), ("cadre_b", "sync", their_visit)]
    before, between = {
        "own_visit": ([], [("cadre_a", "sync", far)]),
        "photo_arrived": (theirs_done, [upload_mine]),
        "their_visit": ([upload_mine], theirs_done),
    }[case]
    run(_do(settings, world, before))
    flags = run(_interleaved(settings, world, batch, between))
    if case == "own_visit":
        assert "相距" in flags[(0, "too_fast")] and (1, "photo_reused") not in flags
    else:
        assert "张干部" in flags[(1, "photo_reused")] and (0, "too_fast") not in flags


@pytest.mark.parametrize("between", ["nothing", "another_cadre"])
def test_flags_worked_out_before_the_write_name_the_stored_ids(settings: Settings, world: World, between: str) -> None:
    """The batch's flags are worked out in its read phase, its rows standing under foreseen ids, and stored
    under the ids the rows got — also when cadre_b's unrelated visit took the next id in between."""
    at = utcnow().replace(microsecond=0) - timedelta(days=1)
    batch = [
        visit(world, "house_1", at, *TWIN_SPOT),
        visit(world, "house_2", at + timedelta(minutes=30), *TWIN_SPOT),  # the same spot, another household
    ]
    steps: list[Step] = [("cadre_b", "sync", visit(world, "house_b", at - timedelta(days=2), 29.7, 114.2))]
    flags = run(_interleaved(settings, world, batch, steps if between == "another_cadre" else []))
    ids = run(_visit_ids(settings, [item["uuid"] for item in batch]))
    assert ids[0] == ids[1] - 1 and f"走访 #{ids[0]}" in flags[(1, "mock_location")]
    assert all(f"#{FORESEEN // 10**6}" not in message for message in flags.values())


def test_a_photo_like_another_of_the_same_batch_is_found(settings: Settings, world: World) -> None:
    """Such a pair is not stored when the flags are worked out ahead; once the batch is stored the write
    finds it and checks the batch anew."""
    at = utcnow().replace(microsecond=0) - timedelta(days=1)
    first_photo, copy = str(uuid.UUID(int=21)), str(uuid.UUID(int=22))
    batch = [
        visit(world, "house_1", at, *HOME, photo_uuids=[first_photo]),
        visit(world, "house_3", at + timedelta(hours=1), *HOME, photo_uuids=[copy]),  # a near copy of the first's
    ]
    run(_do(settings, world, [("cadre_a", "photo", (first_photo, 7, 85)), ("cadre_a", "photo", (copy, 7, 55))]))
    flags = run(_interleaved(settings, world, batch, []))
    ids = run(_visit_ids(settings, [item["uuid"] for item in batch]))
    assert f"走访 #{ids[0]}" in flags[(1, "photo_reused")]


async def _visit_ids(settings: Settings, uuids: list[str]) -> list[int]:
    engine = create_engine(settings.database_url)
    try:
        async with batch_session(engine) as db:
            found = dict((await db.execute(select(Visit.uuid, Visit.id).where(Visit.uuid.in_(uuids)))).all())  # type: ignore[attr-defined]
            return [found[u] for u in uuids]
    finally:
        await engine.dispose()
