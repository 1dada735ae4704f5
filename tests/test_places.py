"""今日: my targets nearest first, search, scoping of target pages, the assignments API."""

from __future__ import annotations

from bs4 import BeautifulSoup
from litestar.testing import TestClient

from tests.conftest import bearer, login
from tests.factories import VILLAGE_A, World


def _names(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    return [el.get_text(strip=True) for el in soup.select("#targets .row-title")]


def test_today_lists_my_targets_nearest_first(client: TestClient, world: World) -> None:
    login(client, "cadre_a")
    # Standing at house_3 (the farthest from the village centre).
    response = client.get("/today", params={"lat": VILLAGE_A[0] + 0.03, "lon": VILLAGE_A[1] + 0.01})
    assert response.status_code == 200
    names = _names(response.text)
    assert names[0] == "周国强户"
    assert set(names) == {"周国强户", "陈小梅户", "刘大山户", "东风村", "东风茶厂"}
    assert "吴秀英户" not in response.text  # another town's household
    assert "已按距离由近到远排序" in response.text


def test_today_fragment_for_htmx(client: TestClient) -> None:
    login(client, "cadre_a")
    response = client.get("/today", params={"lat": VILLAGE_A[0], "lon": VILLAGE_A[1]}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="targets"')
    assert "<html" not in response.text


def test_today_search(client: TestClient) -> None:
    login(client, "cadre_a")
    assert _names(client.get("/today", params={"q": "陈小梅"}).text) == ["陈小梅户"]
    assert "没有找到" in client.get("/today", params={"q": "不存在的人"}).text


def test_today_rejects_impossible_position(client: TestClient) -> None:
    login(client, "cadre_a")
    response = client.get("/today", params={"lat": 95, "lon": 114})
    assert response.status_code == 400
    assert "超出范围" in response.text


def test_ended_assignment_is_not_listed(client: TestClient) -> None:
    login(client, "cadre_a2")
    assert "您还没有包保或联系对象" in client.get("/today").text


def test_target_page_scoped_to_town(client: TestClient, world: World) -> None:
    login(client, "cadre_b")
    response = client.get(f"/targets/{world.targets['house_1']}")
    assert response.status_code == 404
    assert "不在您的管辖范围内" in response.text
    assert "刘大山" not in response.text
    assert client.get(f"/targets/{world.targets['house_b']}").status_code == 200


def test_supervisor_sees_county_targets(client: TestClient, world: World) -> None:
    login(client, "super")
    page = client.get(f"/targets/{world.targets['house_1']}")
    assert page.status_code == 200
    assert "只能查看" in page.text


def test_assignments_api(client: TestClient, world: World) -> None:
    headers = bearer(client, "cadre_a")
    items = client.get("/api/v1/assignments", params={"lat": VILLAGE_A[0], "lon": VILLAGE_A[1]}, headers=headers).json()
    assert [i["name"] for i in items][0] == "东风村"
    assert {i["kind"] for i in items} == {"village", "household", "enterprise"}
    assert all(i["last_visit"] is None and i["due"] for i in items)
    assert items[0]["distance_m"] == 0.0
    bad = client.get("/api/v1/assignments", params={"lat": "abc", "lon": 1}, headers=headers)
    assert bad.status_code == 400


def test_gazetteer_names_the_village_without_network(settings, world: World) -> None:  # type: ignore[no-untyped-def]
    import json

    from server.accounts.service import Viewer
    from server.db import create_engine, session_maker
    from server.places.gazetteer import describe_position
    from server.places.models import Target
    from tests.factories import run

    viewer = Viewer(world.users["super"], "super", "督导", "supervisor", world.units["county"], "/1/", "测试县")
    lat, lon = VILLAGE_A
    ring = [[lon - 0.01, lat - 0.01], [lon + 0.01, lat - 0.01], [lon + 0.01, lat + 0.01], [lon - 0.01, lat + 0.01]]

    async def scenario() -> tuple[str, str, str]:
        engine = create_engine(settings.database_url)
        async with session_maker(engine)() as db:
            village = await db.get(Target, world.targets["village_a"])
            village.boundary = json.dumps({"type": "Polygon", "coordinates": [ring + [ring[0]]]})
            await db.commit()
            inside = await describe_position(db, viewer, lat + 0.005, lon)
            near = await describe_position(db, viewer, lat + 0.02, lon)
            far = await describe_position(db, viewer, 39.9, 116.4)
        await engine.dispose()
        return inside, near, far

    inside, near, far = run(scenario())
    assert inside == "东风村（村界内）"
    assert near == "距东风村约 2.2 公里"
    assert far == ""


def test_due_follows_the_coverage_rule_period(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    """Households: the monthly 包保 rule, in local time — a visit at 00:00 on the 1st counts for this month,
    one at 23:50 the evening before does not (under a rolling 30 days it would have). The enterprise has
    no visit rule: the rolling 30 days, without a period word."""
    from datetime import timedelta

    from server.clock import local_today
    from tests.coverage_helpers import add_rows, assignments_since, visit

    first = local_today().replace(day=1)
    assignments_since(settings, first - timedelta(days=400))
    u, t = world.users["cadre_a"], world.targets
    add_rows(
        settings,
        [
            visit(u, t["house_1"], f"{first} 00:00"),
            visit(u, t["house_2"], f"{first - timedelta(days=1)} 23:50"),
            visit(u, t["factory"], f"{local_today() - timedelta(days=20)} 10:00"),
            visit(world.users["cadre_b"], t["house_3"], f"{first} 09:00"),  # not cadre_a's visit
        ],
    )
    login(client, "cadre_a")
    soup = BeautifulSoup(client.get("/today").text, "html.parser")
    badges = {
        li.select_one(".row-title").get_text(strip=True): li.select(".badge")[-1].get_text(strip=True)  # type: ignore[union-attr]
        for li in soup.select("#targets li")
    }
    assert badges["刘大山户"] == "本月已走访"
    assert badges["陈小梅户"] == "本月待走访"
    assert badges["周国强户"] == "本月待走访"
    assert badges["东风茶厂"] == "已走访"
    items = client.get("/api/v1/assignments").json()
    due = {i["name"]: i["due"] for i in items}
    assert (due["刘大山户"], due["陈小梅户"], due["东风茶厂"]) == (False, True, False)
