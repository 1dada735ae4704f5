"""督导's pages: the review queue (filters, confirm/dismiss with a note), the flags on a visit page,
随机抽查 (reproducible sample, phone for the call-back, results), roles and scoping."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from litestar.testing import TestClient
from sqlalchemy import select

from server.accounts import service as accounts
from server.accounts.models import OrgUnit
from server.clock import local_today
from server.config import Settings
from server.integrity.models import IntegrityFlag, SpotCheck
from server.integrity.spotcheck import draw_sample
from tests.conftest import csrf, login
from tests.factories import PASSWORD, VILLAGE_A, World, local, with_db
from tests.integrity_helpers import flags, photo_bytes, record

HOUSE_1 = (VILLAGE_A[0] + 0.001, VILLAGE_A[1])
HX = {"HX-Request": "true"}


def day_at(hhmm: str, days_ago: int = 2):  # type: ignore[no-untyped-def]
    return local(f"{local_today() - timedelta(days=days_ago)} {hhmm}")


@pytest.fixture
def far_visit(settings: Settings, world: World) -> int:
    """cadre_a's visit to house_3 recorded from house_1, 3.4 km away: flagged far_from_target."""
    return record(
        settings,
        world.users["cadre_a"],
        world.targets["house_3"],
        at=day_at("10:00"),
        lat=HOUSE_1[0],
        lon=HOUSE_1[1],
        photos=[photo_bytes(101)],
    )


@pytest.fixture
def town_b_supervisor(settings: Settings, world: World) -> str:
    async def work(db):  # type: ignore[no-untyped-def]
        unit = await db.get(OrgUnit, world.units["town_b"])
        await accounts.create_user(db, "super_b", PASSWORD, "supervisor", unit, "乙镇督导")
        await db.commit()

    with_db(settings, work)
    return "super_b"


def flag_id(settings: Settings, visit_id: int, code: str) -> int:
    return flags(settings, visit_id=visit_id)[code].id


@pytest.mark.parametrize(("user", "status"), [("cadre_a", 403), ("leader_a", 403), ("super", 200), ("admin", 200)])
def test_queue_roles(client: TestClient, user: str, status: int) -> None:
    login(client, user)
    assert client.get("/integrity").status_code == status
    assert client.get("/integrity/spot-checks").status_code == status


def test_leader_cannot_review_or_draw(client: TestClient, settings: Settings, world: World, far_visit: int) -> None:
    login(client, "leader_a")
    fid = flag_id(settings, far_visit, "far_from_target")
    data = {"_csrf": csrf(client), "action": "confirm", "note": "x"}
    assert client.post(f"/integrity/flags/{fid}", data=data).status_code == 403
    assert client.post("/integrity/spot-checks", data={"_csrf": csrf(client), "percent": "10"}).status_code == 403
    assert flags(settings, visit_id=far_visit)["far_from_target"].status == "open"


def test_anonymous_is_sent_to_login(client: TestClient) -> None:
    response = client.get("/integrity", follow_redirects=False)
    assert response.status_code in (302, 303) and "/login" in response.headers["location"]
    assert client.get("/integrity", headers=HX).status_code == 401


def test_queue_lists_and_filters(client: TestClient, world: World, far_visit: int) -> None:
    login(client, "super")
    page = BeautifulSoup(client.get("/integrity").text, "html.parser")
    rows = page.select("li.flag-row")
    assert [r["data-code"] for r in rows] == ["far_from_target"]
    assert "王干部" in rows[0].get_text() and "3.4 公里" in rows[0].get_text()
    assert page.select_one(f'a[href="/visits/{far_visit}"]') is not None
    fragment = client.get("/integrity", params={"code": "photo_reused"}, headers=HX)
    assert 'id="flag-list"' in fragment.text and "<html" not in fragment.text
    assert "没有符合条件的异常标记" in fragment.text
    by_other = client.get("/integrity", params={"user_id": world.users["cadre_b"]})
    assert "没有符合条件的异常标记" in by_other.text
    by_unit = client.get("/integrity", params={"unit_id": world.units["vil_a"]})
    assert len(BeautifulSoup(by_unit.text, "html.parser").select("li.flag-row")) == 1
    assert client.get("/integrity", params={"user_id": "x"}).status_code == 400


def test_confirm_needs_a_note_and_then_records_the_reviewer(
    client: TestClient, settings: Settings, far_visit: int
) -> None:
    login(client, "super")
    fid = flag_id(settings, far_visit, "far_from_target")
    refused = client.post(f"/integrity/flags/{fid}", data={"_csrf": csrf(client), "action": "confirm"}, headers=HX)
    assert refused.status_code == 400 and "请填写核查说明" in refused.text and f'id="flag-{fid}"' in refused.text
    assert flags(settings, visit_id=far_visit)["far_from_target"].status == "open"  # nothing saved
    ok = client.post(
        f"/integrity/flags/{fid}",
        headers=HX,
        data={"_csrf": csrf(client), "action": "confirm", "note": "电话核实：当天未入户"},
    )
    assert ok.status_code == 200 and "已确认" in ok.text and "钱督导" in ok.text
    flag = flags(settings, visit_id=far_visit)["far_from_target"]
    assert (flag.status, flag.note, flag.reviewer_id is not None) == ("confirmed", "电话核实：当天未入户", True)
    # without htmx: a plain form post redirects back to the queue
    plain = client.post(
        f"/integrity/flags/{fid}",
        data={"_csrf": csrf(client), "action": "dismiss", "note": "复核后排除"},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/integrity"
    assert flags(settings, visit_id=far_visit)["far_from_target"].status == "dismissed"
    assert client.post(f"/integrity/flags/{fid}", data={"_csrf": csrf(client), "action": "delete"}).status_code == 400


def test_reviewed_flag_survives_a_rescan(client: TestClient, settings: Settings, far_visit: int) -> None:
    from server.integrity.service import check_visit

    login(client, "super")
    fid = flag_id(settings, far_visit, "far_from_target")
    client.post(
        f"/integrity/flags/{fid}", data={"_csrf": csrf(client), "action": "dismiss", "note": "村里新房，坐标未更新"}
    )

    async def rescan(db):  # type: ignore[no-untyped-def]
        await check_visit(db, far_visit, settings)
        await db.commit()
        return list(await db.scalars(select(IntegrityFlag).where(IntegrityFlag.visit_id == far_visit)))

    rows = with_db(settings, rescan)
    assert [(r.id, r.code, r.status) for r in rows] == [(fid, "far_from_target", "dismissed")]


def test_town_supervisor_sees_only_their_town(
    client: TestClient, settings: Settings, world: World, far_visit: int, town_b_supervisor: str
) -> None:
    login(client, town_b_supervisor)
    assert "没有符合条件的异常标记" in client.get("/integrity").text
    fid = flag_id(settings, far_visit, "far_from_target")
    response = client.post(f"/integrity/flags/{fid}", data={"_csrf": csrf(client), "action": "confirm", "note": "x"})
    assert response.status_code == 404
    assert client.get("/integrity", params={"unit_id": world.units["town_a"]}).status_code == 404
    assert client.get(f"/integrity/visits/{far_visit}").status_code == 404


def test_visit_page_loads_its_flags(client: TestClient, far_visit: int) -> None:
    login(client, "cadre_a")
    page = client.get(f"/visits/{far_visit}")
    assert f'hx-get="/integrity/visits/{far_visit}"' in page.text
    fragment = client.get(f"/integrity/visits/{far_visit}", headers=HX)
    assert "偏离对象位置" in fragment.text and "3.4 公里" in fragment.text
    assert "确认异常" not in fragment.text  # only supervisors review
    assert "<html" not in fragment.text
    page_without_js = client.get(f"/integrity/visits/{far_visit}")  # the slot's fallback link: a whole page
    assert "<html" in page_without_js.text and f'href="/visits/{far_visit}"' in page_without_js.text
    login(client, "super")
    assert "确认异常" in client.get(f"/integrity/visits/{far_visit}", headers=HX).text


def test_visit_flags_fragment_is_scoped(client: TestClient, far_visit: int) -> None:
    login(client, "cadre_b")
    assert client.get(f"/integrity/visits/{far_visit}").status_code == 404


# --- 随机抽查 ------------------------------------------------------------------------------------------


def test_draw_sample_is_reproducible_and_respects_the_percentage() -> None:
    visits = {1: list(range(100, 137)), 2: list(range(200, 203)), 3: [300]}
    sample = draw_sample(visits, 10, seed=2026)
    assert sample == draw_sample(visits, 10, seed=2026)
    assert {u: len(v) for u, v in sample.items()} == {1: 4, 2: 1, 3: 1}  # ceil(37×10%), ceil(3×10%), ceil(1×10%)
    assert all(set(v) <= set(visits[u]) for u, v in sample.items())
    assert draw_sample(visits, 10, seed=2027) != sample
    assert len(draw_sample(visits, 50, seed=1)[1]) == math.ceil(37 / 2)
    assert draw_sample(visits, 100, seed=1) == {u: sorted(v) for u, v in visits.items()}


def sampled_visits(html: str) -> list[str]:
    return [a["href"] for a in BeautifulSoup(html, "html.parser").select("li.spot-item a[href^='/visits/']")]


def test_spot_check_run_with_call_back_and_result(client: TestClient, settings: Settings, world: World) -> None:
    for n, key in enumerate(["house_1", "house_2", "house_1", "house_2"]):
        record(
            settings,
            world.users["cadre_a"],
            world.targets[key],
            at=day_at(f"{n + 8:02d}:00"),
            lat=HOUSE_1[0],
            lon=HOUSE_1[1],
            photos=[photo_bytes(120 + n)],
        )
    login(client, "super")
    form = {
        "_csrf": csrf(client),
        "unit_id": str(world.units["town_a"]),
        "percent": "50",
        "seed": "12345",
        "start": str(local_today() - timedelta(days=7)),
        "end": str(local_today()),
    }
    created = client.post("/integrity/spot-checks", data=form, follow_redirects=False)
    assert created.status_code == 303
    run_url = created.headers["location"]
    page = BeautifulSoup(client.get(run_url).text, "html.parser")
    items = page.select("li.spot-item")
    assert len(items) == 2  # ceil(4 × 50%)
    assert page.select_one("[data-seed]").get_text() == "12345"
    phones = {a.get_text() for a in page.select('.callback a[href^="tel:"]')}
    assert phones <= {"13800001111", "13900002222"} and phones
    # the same seed draws the same visits again
    again = client.post("/integrity/spot-checks", data=form, follow_redirects=True)
    assert [i["id"] for i in BeautifulSoup(again.text, "html.parser").select("li.spot-item")] != []
    assert sampled_visits(again.text) == sampled_visits(client.get(run_url).text)

    check_id = int(re.sub(r"\D", "", items[0]["id"]))
    url = f"/integrity/spot-checks/items/{check_id}"
    refused = client.post(url, data={"_csrf": csrf(client), "result": "false"}, headers=HX)
    assert refused.status_code == 400 and "请填写说明" in refused.text
    done = client.post(url, data={"_csrf": csrf(client), "result": "false", "note": "户主称当天无人来访"}, headers=HX)
    assert done.status_code == 200 and "不属实" in done.text
    assert client.post(url, data={"_csrf": csrf(client), "result": "maybe"}).status_code == 400

    def stored(db):  # type: ignore[no-untyped-def]
        return db.get(SpotCheck, check_id)

    check = with_db(settings, stored)
    assert (check.result, check.note, check.checked_by_id) == ("false", "户主称当天无人来访", world.users["super"])
    assert "不属实 1 条" in client.get("/integrity/spot-checks").text


def test_spot_check_bad_input_and_scope(
    client: TestClient, settings: Settings, world: World, town_b_supervisor: str
) -> None:
    record(
        settings,
        world.users["cadre_a"],
        world.targets["house_1"],
        at=day_at("09:00"),
        lat=HOUSE_1[0],
        lon=HOUSE_1[1],
        photos=[photo_bytes(130)],
    )
    login(client, "super")
    base = {
        "_csrf": csrf(client),
        "unit_id": str(world.units["town_a"]),
        "start": str(local_today() - timedelta(days=7)),
        "end": str(local_today()),
    }
    assert client.post("/integrity/spot-checks", data=base | {"percent": "0"}).status_code == 400
    assert client.post("/integrity/spot-checks", data=base | {"percent": "abc"}).status_code == 400
    empty = client.post("/integrity/spot-checks", data=base | {"percent": "10", "unit_id": str(world.units["town_b"])})
    assert empty.status_code == 400 and "没有走访记录" in empty.text
    run_url = client.post("/integrity/spot-checks", data=base | {"percent": "10"}, follow_redirects=False).headers[
        "location"
    ]
    login(client, town_b_supervisor)
    assert client.get(run_url).status_code == 404
    assert (
        client.post("/integrity/spot-checks", data={**base, "_csrf": csrf(client), "percent": "10"}).status_code == 404
    )
