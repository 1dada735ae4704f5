"""三个全覆盖 on a constructed dataset with hand-computed answers; the JSON API equals the dashboard;
role guards and scoping; 扎堆, uncovered lists, trend and calendar strip."""

from __future__ import annotations

from datetime import date

import pytest
from bs4 import BeautifulSoup
from litestar.testing import TestClient
from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from server.config import Settings
from server.places.models import Assignment
from tests.conftest import login
from tests.coverage_helpers import add_rows, assignments_since, checkin, visit
from tests.factories import VILLAGE_A, VILLAGE_B, World, with_db

OCT = "from=2026-10-01&to=2026-10-31"


@pytest.fixture
def october(settings: Settings, world: World) -> World:
    """October 2026, by hand (Asia/Shanghai):
    - cadre_a (包保 house_1..3): house_1 at 10-31 23:30 (Oct), house_2 at 11-01 00:10 (Nov),
      house_3 at 09-30 23:59 (Sep);
    - cadre_b (包保 house_b): house_b at 10-01 00:30 (Oct, although 30 Sep in UTC), check-in at village_b;
    - cadre_a2's assignment to house_3 ended on 10-20; leader_a (联系 village_a) made no visit.
    """
    assignments_since(settings)

    async def end_a2(db: AsyncSession) -> None:
        await db.execute(
            update(Assignment).where(Assignment.user_id == world.users["cadre_a2"]).values(end_date=date(2026, 10, 20))
        )
        await db.commit()

    with_db(settings, end_a2)
    u, t = world.users, world.targets
    add_rows(
        settings,
        [
            visit(u["cadre_a"], t["house_1"], "2026-10-31 23:30", VILLAGE_A[0] + 0.001, VILLAGE_A[1]),
            visit(u["cadre_a"], t["house_2"], "2026-11-01 00:10", VILLAGE_A[0] + 0.01, VILLAGE_A[1]),
            visit(u["cadre_a"], t["house_3"], "2026-09-30 23:59", VILLAGE_A[0] + 0.03, VILLAGE_A[1] + 0.01),
            visit(u["cadre_b"], t["house_b"], "2026-10-01 00:30", VILLAGE_B[0] + 0.001, VILLAGE_B[1]),
            checkin(u["cadre_b"], t["village_b"], "2026-10-15 09:00", VILLAGE_B[0], VILLAGE_B[1]),
        ],
    )
    return world


def test_three_coverages_by_hand(client: TestClient, october: World) -> None:
    login(client, "super")
    body = client.get(f"/api/v1/coverage?{OCT}").json()
    # 7 targets; covered: village_a (its house_1 visited), village_b (check-in), house_1, house_b.
    assert body["space"] == {"covered": 4, "total": 7, "pct": 57.1}
    assert body["space_by_kind"]["village"] == {"covered": 2, "total": 2, "pct": 100.0}
    assert body["space_by_kind"]["household"] == {"covered": 2, "total": 4, "pct": 50.0}
    assert body["space_by_kind"]["enterprise"] == {"covered": 0, "total": 1, "pct": 0.0}
    # Due in October: cadre_a 3 household visits (1 made), cadre_b 1 (made): 2 of 4. leader_a's
    # fourth quarter (village_a's households) is due in December, not yet.
    assert body["time"] == {"covered": 2, "total": 4, "pct": 50.0}
    # Four field workers; only cadre_b went down and met the October quota.
    assert body["people"] == {"covered": 1, "total": 4, "pct": 25.0}
    rows = {c["unit"]["name"]: c for c in body["children"]}
    assert rows["甲镇"]["space"]["covered"] == 2 and rows["甲镇"]["space"]["total"] == 5
    assert rows["乙镇"]["space"] == {"covered": 2, "total": 2, "pct": 100.0}
    assert rows["甲镇"]["time"] == {"covered": 1, "total": 3, "pct": 33.3}
    assert rows["乙镇"]["people"] == {"covered": 1, "total": 1, "pct": 100.0}
    detail = {p["user_id"]: p for p in body["people_detail"]}
    assert (detail[october.users["cadre_a"]]["required"], detail[october.users["cadre_a"]]["done"]) == (3, 1)
    assert detail[october.users["cadre_a2"]]["required"] == 0


def test_november_sees_the_other_side_of_the_boundary(client: TestClient, october: World) -> None:
    login(client, "super")
    body = client.get("/api/v1/coverage?from=2026-11-01&to=2026-11-30").json()
    assert body["space_by_kind"]["household"]["covered"] == 1  # house_2 (11-01 00:10 local)
    assert body["space_by_kind"]["village"]["covered"] == 1  # village_a through house_2


def test_api_equals_dashboard(client: TestClient, october: World) -> None:
    login(client, "super")
    body = client.get(f"/api/v1/coverage?{OCT}").json()
    page = client.get(f"/coverage?{OCT}")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    for key in ("space", "time", "people"):
        shown = soup.select_one(f"[data-kpi={key}] .pct").get_text(strip=True)
        assert shown == f"{body[key]['pct']:.1f}%"
        assert f"{body[key]['covered']}/{body[key]['total']}" in soup.select_one(f"[data-kpi={key}]").get_text()
    table = soup.select("#children tbody tr")
    assert [r.select_one("a").get_text() for r in table] == [c["unit"]["name"] for c in body["children"]]
    for row, child in zip(table, body["children"], strict=True):
        cells = [td.select_one(".pct").get_text(strip=True) for td in row.select("td")[1:]]
        assert cells == [f"{child[k]['pct']:.1f}%" for k in ("space", "time", "people")]


def test_lists_uncovered_crowding_and_inactive(client: TestClient, settings: Settings, october: World) -> None:
    u, t = october.users, october.targets
    # house_1 three more times in October while house_2 and house_3 stay unvisited: 扎堆.
    add_rows(settings, [visit(u["cadre_a"], t["house_1"], f"2026-10-{d:02d} 10:00") for d in (5, 12, 19)])
    login(client, "super")
    soup = BeautifulSoup(client.get(f"/coverage?{OCT}").text, "html.parser")
    uncovered = soup.select_one("#uncovered")
    assert "未覆盖对象（3）" in uncovered.get_text()
    assert {"陈小梅户", "周国强户", "东风茶厂"} <= {a.get_text().split(" · ")[1] for a in uncovered.select("a")}
    crowding = soup.select_one("#crowding").get_text()
    assert "刘大山户：期间走访 4 次" in crowding and "仍有 2 个农户未走访" in crowding
    people = soup.select_one("#people").get_text()
    assert "未下沉人员（2）" in people and "李干部" in people and "赵书记" in people
    # No crowding when nobody is left uncovered in that unit and kind.
    add_rows(settings, [visit(u["cadre_a"], t[h], "2026-10-20 10:00") for h in ("house_2", "house_3")])
    soup = BeautifulSoup(client.get(f"/coverage?{OCT}").text, "html.parser")
    assert "没有发现扎堆走访" in soup.select_one("#crowding").get_text()


def test_drill_down_to_village_lists_targets(client: TestClient, october: World) -> None:
    login(client, "super")
    soup = BeautifulSoup(client.get(f"/coverage?{OCT}&unit_id={october.units['vil_a']}").text, "html.parser")
    assert soup.select_one("#children") is None
    items = {li.select_one(".row-title").get_text(): li["class"][0] for li in soup.select("#unit-targets li")}
    assert items["农户 · 刘大山户"] == "status-visited"
    assert items["农户 · 周国强户"] == "status-due"  # visited in September only
    assert items["农户 · 陈小梅户"] == "status-never"  # its only visit is in November
    trail = [a.get_text() for a in soup.select(".trail a")]
    assert trail == ["测试县", "甲镇"]


def test_trend_and_strip_fragments(client: TestClient, october: World) -> None:
    login(client, "super")
    trend = client.get("/coverage/trend?by=month&to=2026-10-31", headers={"HX-Request": "true"})
    assert trend.status_code == 200 and trend.text.lstrip().startswith('<div class="trend"')
    soup = BeautifulSoup(trend.text, "html.parser")
    assert soup.select_one("svg.chart") is not None
    october_row = [tr for tr in soup.select("tbody tr") if tr.td.get_text() == "10月"][0]
    assert [td.get_text() for td in october_row.select("td")[1:]] == ["57.1%", "50.0%", "25.0%"]
    assert client.get("/coverage/trend?by=year").status_code == 400
    strip = client.get(f"/coverage/strip?{OCT}", headers={"HX-Request": "true"})
    soup = BeautifulSoup(strip.text, "html.parser")
    rows = {tr.th.get_text(): tr for tr in soup.select("tbody tr")}
    zhang = [td.get_text() for td in rows["张干部"].select("td")]
    assert zhang[0] == "1" and zhang[-1] == "30"  # one visit on 1 October; 30 days without
    assert zhang[1:31].count("") == 30


@pytest.mark.parametrize("path", ["/coverage", "/map", "/coverage/assignments", "/coverage/strip"])
def test_pages_need_supervisor_or_leader(client: TestClient, world: World, path: str) -> None:
    assert client.get(path, follow_redirects=False).status_code in (302, 303)
    login(client, "cadre_a")
    assert client.get(path).status_code == 403
    assert "您没有权限" in client.get(path).text


def test_api_guards_and_scope(client: TestClient, october: World) -> None:
    assert client.get("/api/v1/coverage").status_code == 401
    login(client, "cadre_a")
    assert client.get("/api/v1/coverage").status_code == 403
    client.cookies.clear()
    login(client, "leader_a")
    body = client.get(f"/api/v1/coverage?{OCT}").json()
    assert body["unit"]["name"] == "甲镇" and body["space"]["total"] == 5
    other = client.get(f"/api/v1/coverage?unit_id={october.units['town_b']}")
    assert other.status_code == 404 and "不在您的管辖范围" in other.json()["error"]
    bad = client.get("/api/v1/coverage?from=2026-11-02&to=2026-11-01")
    assert bad.status_code == 400 and "开始日期不能晚于结束日期" in bad.json()["error"]
    assert client.get("/api/v1/coverage?from=2026-13-01").status_code == 400
    assert client.get("/api/v1/coverage?from=2020-01-01&to=2026-01-01").status_code == 400
    for url in (
        "/api/v1/coverage?from=0001-01-01&to=0001-01-02",
        "/api/v1/coverage?from=9999-12-30&to=9999-12-31",
        f"/api/v1/map/route?user_id={october.users['cadre_a']}&day=9999-12-31",
        "/coverage/trend?to=0001-01-31",
        "/coverage/strip?from=0001-01-01&to=0001-01-03",
        "/map?day=9999-12-31",
        "/coverage/assignments?unit_id=0",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
    assert "日期超出范围" in client.get("/api/v1/coverage?from=0001-01-01&to=0001-01-02").json()["error"]


def test_home_sends_supervisors_to_dashboard(client: TestClient, world: World) -> None:
    login(client, "super")
    assert client.get("/", follow_redirects=False).headers["location"] == "/coverage"
    nav = [a.get_text() for a in BeautifulSoup(client.get("/coverage").text, "html.parser").select(".tabbar a")]
    assert "督导" in nav and "地图" in nav


def test_december_holds_the_quarter(client: TestClient, settings: Settings, october: World) -> None:
    """The fourth quarter is due in December: leader_a's household visits count there."""
    add_rows(settings, [visit(october.users["leader_a"], october.targets["house_1"], "2026-12-05 10:00")])
    login(client, "super")
    body = client.get("/api/v1/coverage?from=2026-12-01&to=2026-12-31").json()
    # December: cadre_a 0 of 3, cadre_b 0 of 1; Q4: leader_a 1 of 3 (the 10-05 visit is cadre_a's).
    assert body["time"] == {"covered": 1, "total": 7, "pct": 14.3}
    leader = next(p for p in body["people_detail"] if p["user_id"] == october.users["leader_a"])
    assert (leader["visits"], leader["done"], leader["met"]) == (1, 1, False)


def test_town_rows_include_its_own_targets_and_people(client: TestClient, october: World) -> None:
    """甲镇's cadres and its tea factory belong to the town itself, not to a village: a 本级 row."""
    login(client, "super")
    body = client.get(f"/api/v1/coverage?{OCT}&unit_id={october.units['town_a']}").json()
    rows = {(c["unit"]["name"], c["own"]): c for c in body["children"]}
    village = rows[("东风村委会", False)]
    assert (village["space"]["covered"], village["space"]["total"], village["people"]["total"]) == (2, 4, 0)
    own = rows[("甲镇", True)]
    assert (own["space"]["covered"], own["space"]["total"]) == (0, 1)  # 东风茶厂
    assert own["people"] == {"covered": 0, "total": 3, "pct": 0.0}  # 王干部, 李干部, 赵书记
    assert own["time"] == {"covered": 1, "total": 3, "pct": 33.3}
    soup = BeautifulSoup(client.get(f"/coverage?{OCT}&unit_id={october.units['town_a']}").text, "html.parser")
    assert "本级" in soup.select("#children tbody tr")[-1].get_text()


def test_report_alone_and_with_a_side_session_agree(settings: Settings, october: World) -> None:
    """A read session (as in a GET) runs the space pass on a second connection, which then shares the
    tallies' parts with the first; a write session runs everything on its own connection. Same numbers
    either way, cadre_a's repeated 包保 of house_1 counted once."""
    from server.accounts.models import OrgUnit
    from server.coverage.report import build_report
    from server.db import create_engine, read_session_maker, session_maker, side_session
    from tests.factories import run

    u, t = october.users, october.targets
    again = Assignment(user_id=u["cadre_a"], target_id=t["house_1"], kind="bao", start_date=date(2026, 1, 1))
    add_rows(settings, [again])

    async def both() -> list[dict]:
        engine = create_engine(settings.database_url)
        try:
            out = []
            for maker, parallel in ((session_maker(engine), False), (read_session_maker(engine), True)):
                async with maker() as db:
                    async with side_session(db) as side:
                        assert (side is not None) is parallel
                    county = await db.get(OrgUnit, october.units["county"])
                    report = await build_report(db, county, date(2026, 10, 1), date(2026, 10, 31))
                    rows = [r.coverage.as_dict() for r in report.children]
                    out.append({"total": report.total.as_dict(), "rows": rows})
            return out
        finally:
            await engine.dispose()

    alone, beside = run(both())
    assert alone == beside
    assert alone["total"]["space"] == {"covered": 4, "total": 7, "pct": 57.1}
    assert alone["total"]["time"] == {"covered": 2, "total": 4, "pct": 50.0}
