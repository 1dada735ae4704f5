"""Each anti-formalism check on genuine and fabricated visits and check-ins, recorded through the real
services (put_photo + record_visit / record_checkin) so distances, EXIF and dHashes are real."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from server.clock import local_today
from server.config import Settings
from server.media import hamming, process_photo
from server.visits.models import Photo
from tests.factories import VILLAGE_A, World, local
from tests.integrity_helpers import flags, photo_bytes, record, record_ci

HOUSE_1 = (VILLAGE_A[0] + 0.001, VILLAGE_A[1])  # the world's house_1
HOUSE_2 = (VILLAGE_A[0] + 0.01, VILLAGE_A[1])  # ≈ 1.1 km north of house_1
HOUSE_3 = (VILLAGE_A[0] + 0.03, VILLAGE_A[1] + 0.01)  # ≈ 3.4 km from house_1


def day_at(hhmm: str, days_ago: int = 2) -> datetime:
    return local(f"{local_today() - timedelta(days=days_ago)} {hhmm}")


@pytest.fixture
def cadre(world: World) -> int:
    return world.users["cadre_a"]


def genuine(settings: Settings, world: World, cadre: int, seed: int, at: datetime, **kw: object) -> int:
    """A visit at house_1, on the spot, with a photo taken there and then."""
    body = photo_bytes(seed, taken=at, gps=HOUSE_1)
    args = {"at": at, "lat": HOUSE_1[0], "lon": HOUSE_1[1], "photos": [body]} | kw
    return record(settings, cadre, world.targets["house_1"], **args)  # type: ignore[arg-type]


def test_genuine_visit_has_no_flags(settings: Settings, world: World, cadre: int) -> None:
    visit_id = genuine(settings, world, cadre, 1, day_at("09:00"))
    assert flags(settings, visit_id=visit_id) == {}


def test_far_from_target(settings: Settings, world: World, cadre: int) -> None:
    near = record(
        settings,
        cadre,
        world.targets["house_3"],
        at=day_at("09:00"),
        lat=HOUSE_3[0] + 0.001,
        lon=HOUSE_3[1],
        photos=[photo_bytes(2)],
    )  # ≈ 111 m: inside the 200 m of a household
    far = record(
        settings,
        cadre,
        world.targets["house_3"],
        at=day_at("11:00"),
        lat=HOUSE_1[0],
        lon=HOUSE_1[1],
        photos=[photo_bytes(3)],
    )
    assert "far_from_target" not in flags(settings, visit_id=near)
    flag = flags(settings, visit_id=far)["far_from_target"]
    assert "距农户位置 3.4 公里" in flag.message and "允许范围 200 米" in flag.message
    assert flag.severity == "high"  # more than 5 × the radius


def test_photo_reused_is_found_through_dhash_buckets(settings: Settings, world: World, cadre: int) -> None:
    original = photo_bytes(7)
    # the same picture shrunk and recompressed: other bytes, nearly the same dHash
    reused = photo_bytes(7, size=(480, 360), quality=60)
    bits = hamming(process_photo(original).dhash, process_photo(reused).dhash)
    assert bits <= 3
    first = record(
        settings, cadre, world.targets["house_1"], at=day_at("09:00"), lat=HOUSE_1[0], lon=HOUSE_1[1], photos=[original]
    )
    other = record(
        settings,
        cadre,
        world.targets["house_2"],
        at=day_at("10:00"),
        lat=HOUSE_2[0],
        lon=HOUSE_2[1],
        photos=[photo_bytes(8)],
    )
    again = record(
        settings,
        cadre,
        world.targets["house_3"],
        at=day_at("11:00"),
        lat=HOUSE_3[0],
        lon=HOUSE_3[1],
        photos=[photo_bytes(9), reused],
    )
    assert "photo_reused" not in flags(settings, visit_id=first)
    assert "photo_reused" not in flags(settings, visit_id=other)
    message = flags(settings, visit_id=again)["photo_reused"].message
    assert f"第 2 张照片与走访 #{first}（王干部" in message
    assert f"相差 {bits} 位" in message


def test_photo_exif_time_far_from_the_visit(settings: Settings, world: World, cadre: int) -> None:
    at = day_at("15:00")
    ok = record(
        settings,
        cadre,
        world.targets["house_1"],
        at=at,
        lat=HOUSE_1[0],
        lon=HOUSE_1[1],
        photos=[photo_bytes(11, taken=at - timedelta(minutes=40))],
    )
    old = record(
        settings,
        cadre,
        world.targets["house_2"],
        at=at + timedelta(hours=1),
        lat=HOUSE_2[0],
        lon=HOUSE_2[1],
        photos=[photo_bytes(12, taken=at - timedelta(days=3))],
    )
    assert "exif_time" not in flags(settings, visit_id=ok)
    message = flags(settings, visit_id=old)["exif_time"].message
    assert "1 张照片中 1 张" in message and "相差 73 小时（允许 2 小时）" in message


def test_photo_exif_gps_far_from_the_visit(settings: Settings, world: World, cadre: int) -> None:
    ok = record(
        settings,
        cadre,
        world.targets["house_1"],
        at=day_at("09:00"),
        lat=HOUSE_1[0],
        lon=HOUSE_1[1],
        photos=[photo_bytes(21, gps=(HOUSE_1[0] + 0.002, HOUSE_1[1]))],
    )  # ≈ 220 m
    elsewhere = record(
        settings,
        cadre,
        world.targets["house_1"],
        at=day_at("11:00"),
        lat=HOUSE_1[0],
        lon=HOUSE_1[1],
        photos=[photo_bytes(22, gps=(HOUSE_1[0] + 0.1, HOUSE_1[1]))],
    )
    assert "exif_gps" not in flags(settings, visit_id=ok)
    message = flags(settings, visit_id=elsewhere)["exif_gps"].message
    assert "拍摄地点距走访定位 11.1 公里（允许 500 米）" in message


def test_travel_faster_than_plausible(settings: Settings, world: World, cadre: int) -> None:
    t = world.targets
    record(settings, cadre, t["house_1"], at=day_at("09:00"), lat=HOUSE_1[0], lon=HOUSE_1[1], photos=[photo_bytes(31)])
    calm = record(
        settings, cadre, t["house_3"], at=day_at("09:30"), lat=HOUSE_3[0], lon=HOUSE_3[1], photos=[photo_bytes(32)]
    )  # 3.4 km in 30 min ≈ 7 km/h
    rushed = record(
        settings, cadre, t["house_1"], at=day_at("09:31"), lat=HOUSE_1[0], lon=HOUSE_1[1], photos=[photo_bytes(33)]
    )  # back 3.4 km in one minute
    assert "too_fast" not in flags(settings, visit_id=calm)
    message = flags(settings, visit_id=rushed)["too_fast"].message
    assert f"与上一条走访 #{calm}" in message
    assert "相距 3.4 公里，只隔 1 分钟，折合 20" in message and "超过合理速度 120 公里/小时" in message


def test_many_visits_in_a_short_time(settings: Settings, world: World, cadre: int) -> None:
    t = world.targets
    ids = [
        record(settings, cadre, t[key], at=day_at(hhmm), lat=pos[0], lon=pos[1], photos=[photo_bytes(40 + n)])
        for n, (key, pos, hhmm) in enumerate(
            [
                ("house_1", HOUSE_1, "14:00"),
                ("house_2", HOUSE_2, "14:09"),
                ("house_1", HOUSE_1, "14:20"),
                ("house_2", HOUSE_2, "14:27"),
                ("house_1", HOUSE_1, "15:30"),
            ]
        )
    ]
    assert [("burst" in flags(settings, visit_id=i)) for i in ids] == [False, False, False, True, False]
    assert "30 分钟内登记了 4 次实地走访" in flags(settings, visit_id=ids[3])["burst"].message


def test_no_photo_for_field_visits_only(settings: Settings, world: World, cadre: int) -> None:
    t = world.targets
    bare = record(settings, cadre, t["house_1"], at=day_at("09:00"), lat=HOUSE_1[0], lon=HOUSE_1[1])
    uploading = record(
        settings, cadre, t["house_2"], at=day_at("10:00"), lat=HOUSE_2[0], lon=HOUSE_2[1], pending_photos=1
    )
    call = record(settings, cadre, t["house_3"], at=day_at("11:00"), lat=None, lon=None, visit_type="phone")
    assert set(flags(settings, visit_id=bare)) == {"no_photo"}
    assert flags(settings, visit_id=uploading) == {}  # the photo is on its way ("照片上传中")
    assert flags(settings, visit_id=call) == {}  # a phone call needs neither photo nor GPS


@pytest.mark.parametrize(("accuracy", "expected"), [(0.0, "定位精度为 0 米"), (0.4, "定位精度 0.40 米"), (6.0, None)])
def test_mock_location_accuracy(
    settings: Settings, world: World, cadre: int, accuracy: float, expected: str | None
) -> None:
    visit_id = genuine(settings, world, cadre, 50, day_at("09:00"), accuracy=accuracy)
    found = flags(settings, visit_id=visit_id)
    if expected is None:
        assert "mock_location" not in found
    else:
        assert expected in found["mock_location"].message


def test_mock_location_identical_coordinates_at_another_target(settings: Settings, world: World, cadre: int) -> None:
    point = (HOUSE_1[0] + 0.0004321, HOUSE_1[1] + 0.0001234)
    t = world.targets
    first = record(
        settings, cadre, t["house_1"], at=day_at("09:00"), lat=point[0], lon=point[1], photos=[photo_bytes(61)]
    )
    same_target = record(
        settings, cadre, t["house_1"], at=day_at("10:00"), lat=point[0], lon=point[1], photos=[photo_bytes(62)]
    )
    other_target = record(
        settings, cadre, t["house_2"], at=day_at("11:00"), lat=point[0], lon=point[1], photos=[photo_bytes(63)]
    )
    assert "mock_location" not in flags(settings, visit_id=same_target)
    message = flags(settings, visit_id=other_target)["mock_location"].message
    assert first < same_target
    assert f"与走访 #{same_target}" in message and "完全相同" in message  # the latest earlier twin


def test_checkin_far_and_mocked(settings: Settings, world: World, cadre: int) -> None:
    village = world.targets["village_a"]
    on_site = record_ci(settings, cadre, village, lat=VILLAGE_A[0] + 0.002, lon=VILLAGE_A[1])
    away = record_ci(settings, cadre, village, lat=VILLAGE_A[0] + 0.02, lon=VILLAGE_A[1], accuracy=0.0)
    assert flags(settings, checkin_id=on_site) == {}
    found = flags(settings, checkin_id=away)
    assert "签到定位距村/社区位置 2.2 公里，超出允许范围 1.0 公里" in found["far_from_target"].message
    assert "mock_location" in found


def test_replayed_visit_adds_no_flags(settings: Settings, world: World, cadre: int) -> None:
    kw = {
        "at": day_at("09:00"),
        "lat": HOUSE_1[0],
        "lon": HOUSE_1[1],
        "visit_uuid": "0b6f0d7e-3b5e-4a57-9f6f-d3c0b8a1c001",
    }
    first = record(settings, cadre, world.targets["house_1"], **kw)  # type: ignore[arg-type]
    again = record(settings, cadre, world.targets["house_1"], **kw)  # type: ignore[arg-type]
    assert first == again
    assert list(flags(settings, visit_id=first)) == ["no_photo"]


def test_photo_rows_keep_their_dhash(settings: Settings, world: World, cadre: int) -> None:
    """Sanity of the fixture: uploads through put_photo carry a 16-hex dHash that the checks use."""
    from tests.factories import with_db

    genuine(settings, world, cadre, 70, day_at("09:00"))

    async def work(db):  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        return list(await db.scalars(select(Photo.dhash)))

    hashes = with_db(settings, work)
    assert len(hashes) == 1 and len(hashes[0]) == 16


def test_near_duplicate_search_uses_the_dhash_chunk_indexes(settings: Settings) -> None:
    """No all-pairs scan: SQLite answers the chunk query from the four expression indexes (MULTI-INDEX OR)."""
    from sqlalchemy import text

    from server.integrity.checks import near_duplicates
    from tests.factories import with_db

    async def plan(db):  # type: ignore[no-untyped-def]
        sql = near_duplicates("0123456789abcdef", 10).compile(db.bind, compile_kwargs={"literal_binds": True})
        return " ".join(str(row) for row in (await db.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all())

    if not settings.is_sqlite:
        pytest.skip("the plan text is SQLite's")
    steps = with_db(settings, plan)
    assert all(f"ix_integrity_photo_dhash_{k}" in steps for k in range(4)), steps


def test_photo_uploaded_after_its_visit_is_checked_on_arrival(settings: Settings, world: World, cadre: int) -> None:
    """Offline order: the visit syncs first naming a photo uuid, the photo arrives later (put_photo)."""
    import uuid

    from server.visits.photos import put_photo
    from tests.factories import viewer_for, with_db

    first = genuine(settings, world, cadre, 80, day_at("09:00"))
    later_uuid = str(uuid.uuid4())
    at = day_at("11:00")

    async def sync_visit(db):  # type: ignore[no-untyped-def]
        from server.visits.schemas import VisitInput
        from server.visits.service import record_visit

        data = VisitInput(
            uuid=str(uuid.uuid4()),
            target_id=world.targets["house_2"],
            visit_type="home",
            visited_at=at,
            lat=HOUSE_2[0],
            lon=HOUSE_2[1],
            accuracy=9.0,
            notes="离线登记",
            photo_uuids=[later_uuid],
        )
        return (await record_visit(db, await viewer_for(db, cadre), settings, data)).id

    visit_id = with_db(settings, sync_visit)
    assert flags(settings, visit_id=visit_id) == {}  # "照片上传中": nothing to judge yet

    async def upload(db):  # type: ignore[no-untyped-def]
        body = photo_bytes(80, size=(500, 375), quality=70, taken=at - timedelta(days=2))
        await put_photo(db, await viewer_for(db, cadre), settings, later_uuid, body)

    with_db(settings, upload)
    found = flags(settings, visit_id=visit_id)
    assert set(found) == {"photo_reused", "exif_time"}
    assert f"与走访 #{first}" in found["photo_reused"].message
