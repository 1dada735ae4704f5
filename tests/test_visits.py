"""Check-ins and visits through the web forms: flags, photos, concerns, bad input, scoping, replay."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from litestar.testing import TestClient

from server.clock import to_local, utcnow
from server.config import Settings
from server.db import create_engine, session_maker
from server.ledger.models import Concern
from server.visits.models import CheckIn, Photo, Visit, VisitPhoto
from tests.conftest import csrf, login
from tests.factories import VILLAGE_A, World, count, jpeg_bytes, run


def checkin(client: TestClient, target_id: int, lat: float, lon: float, **extra: str):  # type: ignore[no-untyped-def]
    data = {
        "_csrf": csrf(client),
        "uuid": str(uuid.uuid4()),
        "target_id": str(target_id),
        "lat": str(lat),
        "lon": str(lon),
        "accuracy": "12",
        **extra,
    }
    return client.post("/checkins", data=data, follow_redirects=True)


def visit_form(client: TestClient, target_id: int, **overrides: object) -> dict:
    data: dict = {
        "_csrf": csrf(client),
        "uuid": str(uuid.uuid4()),
        "target_id": str(target_id),
        "visit_type": "home",
        "visited_at": to_local(utcnow()).strftime("%Y-%m-%dT%H:%M"),  # type: ignore[union-attr]
        "lat": str(VILLAGE_A[0] + 0.001),
        "lon": str(VILLAGE_A[1]),
        "accuracy": "8",
        "notes": "了解家庭收入和务工情况",
        "topics": ["家庭收入", "就业务工"],
        "concern_text": ["村口路灯坏了", ""],
        "concern_category": ["problem", "request"],
    }
    data.update(overrides)
    return data


def post_visit(client: TestClient, data: dict, photos: list[bytes] | None = None):  # type: ignore[no-untyped-def]
    files = [("photos", (f"p{i}.jpg", body, "image/jpeg")) for i, body in enumerate(photos or [])]
    return client.post("/visits", data=data, files=files or None, follow_redirects=True)


def test_checkin_on_site(client: TestClient, world: World, settings: Settings) -> None:
    login(client, "cadre_a")
    response = checkin(client, world.targets["village_a"], VILLAGE_A[0] + 0.002, VILLAGE_A[1])
    assert response.status_code == 200
    assert "已签到" in response.text
    assert "位置偏离" not in response.text
    assert count(settings, CheckIn) == 1


def test_checkin_far_away_is_stored_with_visible_flag(client: TestClient, world: World, settings: Settings) -> None:
    login(client, "cadre_a")
    response = checkin(client, world.targets["village_a"], VILLAGE_A[0] + 0.05, VILLAGE_A[1])
    assert response.status_code == 200
    match = re.search(r"位置偏离 (\d+) 米", response.text)
    assert match and 5400 < int(match.group(1)) < 5600
    assert count(settings, CheckIn) == 1


def test_checkin_enterprise_uses_its_radius(client: TestClient, world: World) -> None:
    login(client, "cadre_a")
    # ~700 m from the factory: inside a village's 1,000 m but outside an enterprise's 300 m.
    response = checkin(client, world.targets["factory"], VILLAGE_A[0] - 0.005 + 0.0063, VILLAGE_A[1] + 0.005)
    assert "位置偏离" in response.text


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [("", "", "缺少定位信息"), ("91", "114", "超出范围"), ("abc", "114", "格式不正确"), ("nan", "114", "超出范围")],
)
def test_checkin_bad_coordinates(
    client: TestClient, world: World, settings: Settings, lat: str, lon: str, message: str
) -> None:
    login(client, "cadre_a")
    data = {
        "_csrf": csrf(client),
        "uuid": str(uuid.uuid4()),
        "target_id": str(world.targets["village_a"]),
        "lat": lat,
        "lon": lon,
    }
    response = client.post("/checkins", data=data)
    assert response.status_code == 400
    assert message in response.text
    assert count(settings, CheckIn) == 0


def test_checkin_refused_for_household_and_unassigned(client: TestClient, world: World, settings: Settings) -> None:
    login(client, "cadre_a")
    response = client.post(
        "/checkins",
        data={
            "_csrf": csrf(client),
            "uuid": str(uuid.uuid4()),
            "target_id": str(world.targets["house_1"]),
            "lat": "29.6",
            "lon": "114.1",
        },
    )
    assert response.status_code == 400 and "不需要签到" in response.text
    login(client, "cadre_a2")
    response = client.post(
        "/checkins",
        data={
            "_csrf": csrf(client),
            "uuid": str(uuid.uuid4()),
            "target_id": str(world.targets["village_a"]),
            "lat": "29.6",
            "lon": "114.1",
        },
    )
    assert response.status_code == 403 and "不在您的包保/联系对象中" in response.text
    assert count(settings, CheckIn) == 0


def test_visit_with_two_photos_and_concern(client: TestClient, world: World, settings: Settings) -> None:
    login(client, "cadre_a")
    response = post_visit(
        client, visit_form(client, world.targets["house_1"]), [jpeg_bytes(), jpeg_bytes(color=(30, 60, 200))]
    )
    assert response.status_code == 200, response.text
    soup = BeautifulSoup(response.text, "html.parser")
    thumbs = [img["src"] for img in soup.select(".thumbs img")]
    assert len(thumbs) == 2
    assert "村口路灯坏了" in response.text
    assert "家庭收入" in response.text
    thumb = client.get(thumbs[0])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert count(settings, Visit) == 1 and count(settings, Photo) == 2 and count(settings, Concern) == 1
    # The photo is not visible to a cadre of another town.
    login(client, "cadre_b")
    assert client.get(thumbs[0]).status_code == 404
    visit_id = response.url.path.rsplit("/", 1)[-1]
    assert client.get(f"/visits/{visit_id}").status_code == 404


def test_visit_replay_with_same_uuid_creates_nothing_twice(
    client: TestClient, world: World, settings: Settings
) -> None:
    login(client, "cadre_a")
    data = visit_form(client, world.targets["house_1"])
    first = post_visit(client, data)
    second = post_visit(client, data)
    assert first.url == second.url
    assert count(settings, Visit) == 1 and count(settings, Concern) == 1


def test_visit_notes_are_escaped(client: TestClient, world: World) -> None:
    login(client, "cadre_a")
    response = post_visit(client, visit_form(client, world.targets["house_1"], notes="<script>alert(1)</script>"))
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"visited_at": (to_local(utcnow() + timedelta(days=3))).strftime("%Y-%m-%dT%H:%M")}, "晚于当前时间"),  # type: ignore[union-attr]
        ({"visited_at": "2020-01-01T10:00"}, "过早"),
        ({"visited_at": "yesterday"}, "格式不正确"),
        ({"notes": "", "topics": [], "concern_text": []}, "请填写走访内容"),
        ({"notes": "很长" * 3000}, "最多 5000 字"),
        ({"lat": "", "lon": ""}, "缺少定位信息"),
        ({"visit_type": "party"}, "请选择走访方式"),
        ({"topics": ["打麻将"]}, "未知的走访事项"),
        ({"concern_category": ["gossip"]}, "诉求类别"),
    ],
)
def test_visit_bad_input_saves_nothing(
    client: TestClient, world: World, settings: Settings, overrides: dict, message: str
) -> None:
    login(client, "cadre_a")
    response = post_visit(client, visit_form(client, world.targets["house_1"], **overrides), [jpeg_bytes()])
    assert response.status_code == 400, response.text
    assert message in response.text
    assert count(settings, Visit) == 0 and count(settings, Concern) == 0 and count(settings, Photo) == 0


def test_visit_with_non_image_upload_is_415_and_nothing_saved(
    client: TestClient, world: World, settings: Settings
) -> None:
    login(client, "cadre_a")
    files = [
        ("photos", ("a.jpg", jpeg_bytes(), "image/jpeg")),
        ("photos", ("evil.svg", b"<svg onload=alert(1)>", "image/svg+xml")),
    ]
    response = client.post("/visits", data=visit_form(client, world.targets["house_1"]), files=files)
    assert response.status_code == 415
    assert "不支持的文件类型" in response.text
    assert count(settings, Visit) == 0 and count(settings, Photo) == 0


def test_visit_too_many_photos(client: TestClient, world: World, settings: Settings) -> None:
    login(client, "cadre_a")
    response = post_visit(client, visit_form(client, world.targets["house_1"]), [jpeg_bytes(64, 64)] * 7)
    assert response.status_code == 400 and "最多 6 张" in response.text
    assert count(settings, Visit) == 0


def test_visit_unassigned_or_other_town_target(client: TestClient, world: World, settings: Settings) -> None:
    login(client, "cadre_a")
    response = post_visit(client, visit_form(client, world.targets["house_b"]))
    assert response.status_code == 404
    login(client, "cadre_a2")
    response = post_visit(client, visit_form(client, world.targets["house_1"]))
    assert response.status_code == 403
    assert count(settings, Visit) == 0


def test_supervisor_cannot_log_visits(client: TestClient, world: World) -> None:
    login(client, "super")
    assert client.get(f"/visits/new?target_id={world.targets['house_1']}").status_code == 403


def test_pending_photo_shows_uploading(client: TestClient, world: World, settings: Settings) -> None:
    login(client, "cadre_a")
    response = post_visit(client, visit_form(client, world.targets["house_1"]))
    visit_id = int(response.url.path.rsplit("/", 1)[-1])

    async def link() -> None:
        engine = create_engine(settings.database_url)
        async with session_maker(engine)() as db:
            db.add(VisitPhoto(visit_id=visit_id, photo_uuid=str(uuid.uuid4()), position=0))
            await db.commit()
        await engine.dispose()

    run(link())
    assert "照片上传中" in client.get(f"/visits/{visit_id}").text


def test_concurrent_double_submit_stores_one_visit(settings: Settings, world: World) -> None:
    """Two requests with the same uuid at once (a double tap on a slow network): one visit, one 'duplicate'."""
    import asyncio

    from server.accounts.service import Viewer
    from server.visits.schemas import ConcernInput, VisitInput
    from server.visits.service import record_visit

    viewer = Viewer(world.users["cadre_a"], "cadre_a", "王干部", "cadre", world.units["town_a"], "/1/2/", "甲镇")
    visit_uuid = str(uuid.uuid4())

    def data() -> VisitInput:
        return VisitInput(uuid=visit_uuid, target_id=world.targets["house_1"], visit_type="home", visited_at=None,
                          lat=VILLAGE_A[0], lon=VILLAGE_A[1], accuracy=8, notes="同时提交两次",
                          concerns=[ConcernInput(text="路灯坏了", category="problem", uuid=str(uuid.uuid4()))])

    async def scenario() -> list[bool]:
        engine = create_engine(settings.database_url)
        maker = session_maker(engine)

        async def one() -> bool:
            async with maker() as db:
                return (await record_visit(db, viewer, settings, data())).created

        results = await asyncio.gather(one(), one())
        await engine.dispose()
        return sorted(results)

    assert run(scenario()) == [False, True]
    assert count(settings, Visit) == 1
