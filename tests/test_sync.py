"""The sync protocol (docs/sync.md): photo PUT, batch sync, replays, concurrency, versioned diary notes,
and the app shell (service worker, manifest, offline page)."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from server.clock import LOCAL, utcnow
from server.config import Settings
from server.db import create_engine, session_maker
from server.ledger.models import Concern
from server.visits.models import CheckIn, Photo, Visit
from tests.conftest import bearer, csrf, login
from tests.factories import VILLAGE_A, World, jpeg_bytes, run


def count(settings: Settings, model: type, *where: Any) -> int:
    async def go() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with session_maker(engine)() as db:
                return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)
        finally:
            await engine.dispose()

    return run(go())


def now_iso(delta: timedelta = timedelta(0)) -> str:
    return (utcnow() + delta).astimezone(LOCAL).isoformat(timespec="seconds")


def checkin_item(world: World, **extra: Any) -> dict[str, Any]:
    item = {
        "uuid": str(uuid.uuid4()),
        "kind": "checkin",
        "created_at": now_iso(),
        "target_id": world.targets["village_a"],
        "lat": VILLAGE_A[0] + 0.001,
        "lon": VILLAGE_A[1],
        "accuracy": 12,
    }
    return item | extra


def visit_item(world: World, target: str = "house_1", **extra: Any) -> dict[str, Any]:
    item = {
        "uuid": str(uuid.uuid4()),
        "kind": "visit",
        "created_at": now_iso(),
        "target_id": world.targets[target],
        "lat": VILLAGE_A[0] + 0.001,
        "lon": VILLAGE_A[1],
        "accuracy": 9,
        "visit_type": "home",
        "notes": "离线登记：了解家庭收入",
        "topics": ["家庭收入"],
        "photo_uuids": [],
        "concerns": [{"uuid": str(uuid.uuid4()), "text": "村口路灯坏了", "category": "problem"}],
    }
    return item | extra


def sync(client: TestClient, items: list[dict[str, Any]], headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/v1/sync", json={"items": items}, headers=headers or {"X-CSRF-Token": csrf(client)})


@pytest.fixture
def cadre(client: TestClient) -> dict[str, str]:
    return bearer(client, "cadre_a")


# ---- photos ------------------------------------------------------------------------------------------


def put_photo(client: TestClient, photo_uuid: str, body: bytes, headers: dict[str, str], kind: str = "image/jpeg"):  # type: ignore[no-untyped-def]
    return client.put(f"/api/v1/photos/{photo_uuid}", content=body, headers={**headers, "Content-Type": kind})


def test_photo_put_is_idempotent(client: TestClient, cadre: dict[str, str], settings: Settings) -> None:
    photo_uuid = str(uuid.uuid4())
    body = jpeg_bytes(1200, 900)
    first = put_photo(client, photo_uuid, body, cadre)
    assert first.status_code == 201, first.text
    data = first.json()
    assert data["uuid"] == photo_uuid
    assert (data["width"], data["height"]) == (1200, 900)
    assert set(data) >= {"exif_time", "exif_lat", "exif_lon"}
    again = put_photo(client, photo_uuid, body, cadre)
    assert again.status_code == 200
    assert again.json() == data
    assert count(settings, Photo) == 1
    other = put_photo(client, photo_uuid, jpeg_bytes(1200, 900, color=(10, 20, 200)), cadre)
    assert other.status_code == 409
    assert "照片编号已被另一张照片使用" in other.json()["error"]
    assert count(settings, Photo) == 1


@pytest.mark.parametrize(
    ("photo_uuid", "body", "kind", "status"),
    [
        ("not-a-uuid", jpeg_bytes(), "image/jpeg", 400),
        (None, b"%PDF-1.4 not an image", "application/pdf", 415),
        (None, b"", "image/jpeg", 400),
        (None, b"\xff\xd8\xff garbage that is not a jpeg", "image/jpeg", 415),
    ],
)
def test_photo_put_bad_input(  # type: ignore[no-untyped-def]
    client: TestClient, cadre: dict[str, str], settings: Settings, photo_uuid, body, kind, status
) -> None:
    response = put_photo(client, photo_uuid or str(uuid.uuid4()), body, cadre, kind)
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert count(settings, Photo) == 0


def test_photo_put_auth(client: TestClient, world: World) -> None:
    url = f"/api/v1/photos/{uuid.uuid4()}"
    assert client.put(url, content=jpeg_bytes(), headers={"Content-Type": "image/jpeg"}).status_code == 401
    login(client, "super")
    assert (
        client.put(
            url, content=jpeg_bytes(), headers={"Content-Type": "image/jpeg", "X-CSRF-Token": csrf(client)}
        ).status_code
        == 403
    )
    login(client, "cadre_a")
    no_csrf = client.put(url, content=jpeg_bytes(), headers={"Content-Type": "image/jpeg"})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]
    ok = client.put(url, content=jpeg_bytes(), headers={"Content-Type": "image/jpeg", "X-CSRF-Token": csrf(client)})
    assert ok.status_code == 201


# ---- batch sync ----------------------------------------------------------------------------------------


def test_sync_records_each_kind_and_replay_creates_nothing(
    client: TestClient, world: World, settings: Settings
) -> None:
    login(client, "cadre_a")
    visit = visit_item(world)
    items = [
        checkin_item(world),
        visit,
        {
            "uuid": str(uuid.uuid4()),
            "kind": "concern",
            "created_at": now_iso(),
            "target_id": world.targets["house_2"],
            "text": "希望修缮水渠",
            "category": "request",
            "urgency": "urgent",
            "visit_uuid": visit["uuid"],
        },
    ]
    response = sync(client, items)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["uuid"] for r in results] == [i["uuid"] for i in items]
    assert [r["status"] for r in results] == ["created"] * 3
    assert count(settings, CheckIn) == 1 and count(settings, Visit) == 1
    assert count(settings, Concern) == 2  # one inside the visit, one on its own
    linked = count(settings, Concern, Concern.uuid == items[2]["uuid"], Concern.visit_id.is_not(None))  # type: ignore[union-attr]
    assert linked == 1
    assert count(settings, Concern, Concern.uuid == items[2]["uuid"], Concern.urgency == "urgent") == 1
    for _ in range(2):
        replay = sync(client, items).json()["results"]
        assert [r["status"] for r in replay] == ["duplicate"] * 3
        assert [r["id"] for r in replay] == [r["id"] for r in results]
    assert (count(settings, CheckIn), count(settings, Visit), count(settings, Concern)) == (1, 1, 2)


def test_device_time_and_receive_time_clock_ahead_flagged(client: TestClient, world: World, settings: Settings) -> None:
    headers = bearer(client, "cadre_a")
    ahead = checkin_item(world, created_at=now_iso(timedelta(minutes=25)))
    fine = checkin_item(world, created_at=now_iso(timedelta(minutes=-30)))
    far = checkin_item(world, created_at=now_iso(timedelta(days=3)))
    visit = visit_item(world, created_at=now_iso(timedelta(minutes=15)))
    results = sync(client, [ahead, fine, far, visit], headers).json()["results"]
    assert results[0]["status"] == "created" and "clock_ahead" in results[0]["flags"]
    assert results[1]["status"] == "created" and "clock_ahead" not in results[1].get("flags", [])
    assert results[2]["status"] == "rejected" and "手机的日期和时间" in results[2]["error"]
    assert results[3]["status"] == "created" and "clock_ahead" in results[3]["flags"]

    async def times() -> tuple[Any, Any]:
        engine = create_engine(settings.database_url)
        async with session_maker(engine)() as db:
            row = await db.scalar(select(CheckIn).where(CheckIn.uuid == fine["uuid"]))
        await engine.dispose()
        return row.device_time, row.received_at  # type: ignore[union-attr]

    device_time, received_at = run(times())
    assert timedelta(minutes=29) < received_at - device_time < timedelta(minutes=31)


STEP = timedelta(minutes=90)
BAD_ITEMS: list[tuple[dict[str, Any], str]] = [
    ({"uuid": "not-a-uuid"}, "uuid"),
    ({"target_id": "abc"}, "target_id"),
    ({"created_at": "2026-05-01T09:30:00"}, "时区"),
    ({"kind": "meeting"}, "kind"),
    ({"notes": "", "topics": [], "concerns": []}, "请填写走访内容"),
    ({"lat": 123.0}, "定位"),
    ({"topics": ["炒股"]}, "未知的走访事项"),
]


def test_batch_of_500_with_bad_items(client: TestClient, world: World, settings: Settings) -> None:
    headers = bearer(client, "cadre_a")
    # A month of work that never got signal: one visit every 90 minutes, then three check-ins.
    items = [
        visit_item(world, ["house_1", "house_2", "house_3"][n % 3], concerns=[], created_at=now_iso(-n * STEP))
        for n in range(497)
    ]
    items += [checkin_item(world) for _ in range(3)]
    bad_at = {7: 0, 60: 1, 123: 2, 250: 3, 333: 4, 401: 5, 496: 6}
    for index, b in bad_at.items():
        items[index] = items[index] | BAD_ITEMS[b][0]
    items[42] = visit_item(world, "house_b")  # another town's household: not mine
    items[43] = checkin_item(world, target_id=999999)
    missing = visit_item(world)
    del missing["target_id"]
    items[44] = missing
    assert len(items) == 500
    started = time.perf_counter()
    response = sync(client, items, headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 500
    rejected = {i: r for i, r in enumerate(results) if r["status"] == "rejected"}
    assert set(rejected) == set(bad_at) | {42, 43, 44}
    for index, b in bad_at.items():
        assert BAD_ITEMS[b][1] in rejected[index]["error"], (index, rejected[index])
    assert "不在您的管辖范围内" in rejected[42]["error"] or "包保" in rejected[42]["error"]
    assert "缺少字段 target_id" in rejected[44]["error"]
    assert all(r["status"] == "created" for i, r in enumerate(results) if i not in rejected)
    assert [r["uuid"] for i, r in enumerate(results) if i != 7] == [it["uuid"] for i, it in enumerate(items) if i != 7]
    created_visits = sum(1 for i, it in enumerate(items) if i not in rejected and it.get("kind") == "visit")
    assert count(settings, Visit) == created_visits
    assert count(settings, CheckIn) == 3
    assert elapsed < 60, f"500 items took {elapsed:.1f} s"


def test_batch_limits_and_malformed_body(client: TestClient, world: World) -> None:
    headers = bearer(client, "cadre_a")
    too_many = sync(client, [checkin_item(world) for _ in range(501)], headers)
    assert too_many.status_code == 413 and "分批" in too_many.json()["error"]
    for body in (b"not json", b'{"things": []}', b'{"items": 5}'):
        response = client.post("/api/v1/sync", content=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400, body
        assert "同步请求格式不正确" in response.json()["error"]
    assert sync(client, [], headers).json()["results"] == []


def test_sync_auth_and_owner(client: TestClient, world: World, settings: Settings) -> None:
    item = checkin_item(world)
    assert client.post("/api/v1/sync", json={"items": [item]}).status_code == 401
    login(client, "cadre_a")
    assert client.post("/api/v1/sync", json={"items": [item]}).status_code == 403  # cookie without CSRF header
    # An item made on this phone by another user is never recorded under my name.
    other = sync(client, [item | {"user": "cadre_a2"}]).json()["results"][0]
    assert other["status"] == "rejected" and "cadre_a2" in other["error"]
    assert sync(client, [item | {"user": "cadre_a"}]).json()["results"][0]["status"] == "created"
    assert count(settings, CheckIn, CheckIn.user_id == world.users["cadre_a"]) == 1


def test_photos_arriving_after_their_visit(client: TestClient, world: World, settings: Settings) -> None:
    login(client, "cadre_a")
    photo_uuids = [str(uuid.uuid4()), str(uuid.uuid4())]
    visit = visit_item(world, photo_uuids=photo_uuids)
    result = sync(client, [visit]).json()["results"][0]
    assert result["status"] == "created"
    page = client.get(f"/visits/{result['id']}")
    assert page.text.count("照片上传中") == 2
    headers = {"X-CSRF-Token": csrf(client)}
    assert put_photo(client, photo_uuids[0], jpeg_bytes(), headers).status_code == 201
    page = client.get(f"/visits/{result['id']}")
    assert page.text.count("照片上传中") == 1 and f"/photos/{photo_uuids[0]}/thumb" in page.text
    assert put_photo(client, photo_uuids[1], jpeg_bytes(color=(1, 2, 3)), headers).status_code == 201
    page = client.get(f"/visits/{result['id']}")
    assert "照片上传中" not in page.text
    assert client.get(f"/photos/{photo_uuids[1]}/thumb").status_code == 200
    # Someone else's photo cannot be claimed by my visit.
    b_headers = bearer(client, "cadre_b")
    foreign = sync(client, [visit_item(world, photo_uuids=[photo_uuids[0]])], b_headers).json()["results"][0]
    assert foreign["status"] == "rejected"


def test_concern_needs_its_visit_first(client: TestClient, world: World, settings: Settings) -> None:
    headers = bearer(client, "cadre_a")
    concern = {
        "uuid": str(uuid.uuid4()),
        "kind": "concern",
        "created_at": now_iso(),
        "lat": None,
        "target_id": world.targets["house_1"],
        "text": "低保申请",
        "visit_uuid": str(uuid.uuid4()),
    }
    result = sync(client, [concern], headers).json()["results"][0]
    assert result["status"] == "rejected" and "先同步该走访记录" in result["error"]
    empty = sync(client, [concern | {"visit_uuid": None, "text": "  "}], headers).json()["results"][0]
    assert empty["status"] == "rejected" and "诉求内容不能为空" in empty["error"]
    assert count(settings, Concern) == 0


# ---- concurrency: one batch replayed by 10 clients at once against a real server ------------------------


def test_concurrent_replay_from_ten_clients(live_server, world: World, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    token = httpx.post(
        f"{live_server.url}/api/v1/auth/token", json={"username": "cadre_a", "password": "secret-pass-1"}
    )
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    items = [visit_item(world, ["house_1", "house_2"][n % 2]) for n in range(20)] + [
        checkin_item(world) for _ in range(5)
    ]
    photo_uuid = str(uuid.uuid4())
    items[0]["photo_uuids"] = [photo_uuid]
    body = json.dumps({"items": items})
    photo = jpeg_bytes()

    def replay(_: int) -> tuple[list[dict[str, Any]], int]:
        with httpx.Client(base_url=live_server.url, headers=headers, timeout=60) as c:
            results = c.post("/api/v1/sync", content=body, headers={"Content-Type": "application/json"})
            assert results.status_code == 200, results.text
            put = c.put(f"/api/v1/photos/{photo_uuid}", content=photo, headers={"Content-Type": "image/jpeg"})
            return results.json()["results"], put.status_code

    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(replay, range(10)))
    for n in range(len(items)):
        statuses = [results[n]["status"] for results, _ in outcomes]
        assert statuses.count("created") == 1, (n, statuses)
        assert statuses.count("duplicate") == 9
        assert len({results[n]["id"] for results, _ in outcomes}) == 1
    assert sorted(status for _, status in outcomes) == [200] * 9 + [201]
    assert count(settings, Visit) == 20 and count(settings, CheckIn) == 5 and count(settings, Photo) == 1
    assert count(settings, Concern) == 20


# ---- versioned diary notes --------------------------------------------------------------------------------


def test_diary_note_versions_and_conflict(client: TestClient, world: World) -> None:
    headers = bearer(client, "cadre_a")
    url = "/api/v1/diary/notes/2026-05-01"
    assert client.get(url, headers=headers).json() == {"day": "2026-05-01", "note": "", "version": 0}
    first = client.put(url, json={"note": "手机上写的", "base_version": 0}, headers=headers)
    assert first.status_code == 200 and first.json()["version"] == 1
    stale = client.put(url, json={"note": "另一台手机写的", "base_version": 0}, headers=headers)
    assert stale.status_code == 409
    body = stale.json()
    assert body["current_version"] == 1 and body["current_note"] == "手机上写的"
    assert body["your_note"] == "另一台手机写的" and "选择保留哪一个版本" in body["error"]
    keep_mine = client.put(
        url, json={"note": "另一台手机写的", "base_version": body["current_version"]}, headers=headers
    )
    assert keep_mine.status_code == 200 and keep_mine.json()["version"] == 2
    assert client.put(url, json={"note": "x", "base_version": -1}, headers=headers).status_code == 400
    assert (
        client.put("/api/v1/diary/notes/2026-13-01", json={"note": "x", "base_version": 0}, headers=headers).status_code
        == 400
    )


# ---- app shell ------------------------------------------------------------------------------------------


def test_openapi_documents_sync(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()
    sync_op = schema["paths"]["/api/v1/sync"]["post"]
    assert sync_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SyncRequest")
    assert "PhotoOut" in json.dumps(schema["paths"]["/api/v1/photos/{photo_uuid}"]["put"])
    item = schema["components"]["schemas"]["SyncItem"]
    assert {"uuid", "kind", "created_at", "target_id", "photo_uuids"} <= set(item["properties"])
    result = schema["components"]["schemas"]["SyncResult"]
    assert set(result["properties"]["status"]["enum"]) == {"created", "duplicate", "rejected"}
    assert "409" in schema["paths"]["/api/v1/diary/notes/{day}"]["put"]["responses"]
