"""Map GeoJSON: bbox filtering, status per target, scoping, server-side aggregation, a day's route,
and the 不漏不重 assignment warnings."""

from __future__ import annotations

from datetime import date

import pytest
from bs4 import BeautifulSoup
from litestar.testing import TestClient
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.config import Settings
from server.coverage import maps
from server.places.models import Assignment, Target
from tests.conftest import login
from tests.coverage_helpers import add_rows, assignments_since, checkin, visit
from tests.factories import VILLAGE_A, VILLAGE_B, World, with_db

OCT = "from=2026-10-01&to=2026-10-31"
AROUND_A = "114.09,29.61,114.12,29.66"  # 东风村 and its households, not 西河村 (29.43)


@pytest.fixture
def mapped(settings: Settings, world: World) -> World:
    assignments_since(settings)
    u, t = world.users, world.targets
    add_rows(
        settings,
        [
            checkin(u["cadre_a"], t["village_a"], "2026-10-31 08:00", VILLAGE_A[0], VILLAGE_A[1]),
            visit(u["cadre_a"], t["house_1"], "2026-10-31 09:30", VILLAGE_A[0] + 0.001, VILLAGE_A[1]),
            visit(u["cadre_a"], t["house_3"], "2026-10-31 11:00", VILLAGE_A[0] + 0.03, VILLAGE_A[1] + 0.01),
            visit(u["cadre_a"], t["house_2"], "2026-09-15 10:00", VILLAGE_A[0] + 0.01, VILLAGE_A[1]),
            visit(u["cadre_b"], t["house_b"], "2026-10-02 10:00", VILLAGE_B[0] + 0.001, VILLAGE_B[1]),
        ],
    )
    return world


def features(body: dict, layer: str) -> dict[str, dict]:
    return {
        f["properties"].get("name") or f["properties"].get("target"): f
        for f in body["features"]
        if f["properties"]["layer"] == layer
    }


def test_targets_bbox_and_status(client: TestClient, mapped: World) -> None:
    login(client, "super")
    body = client.get(f"/api/v1/map/targets?bbox={AROUND_A}&{OCT}").json()
    assert body["type"] == "FeatureCollection" and body["aggregated"] is False
    status = {name: f["properties"]["status"] for name, f in features(body, "target").items()}
    assert status == {"刘大山户": "visited", "陈小梅户": "due", "周国强户": "visited", "东风茶厂": "never"}
    village = features(body, "village")
    assert list(village) == ["东风村"]  # 西河村 is outside the bbox
    assert (village["东风村"]["properties"]["covered"], village["东风村"]["properties"]["households"]) == (2, 3)
    # A bbox that stops short of 周国强户 (29.65) leaves it out.
    tight = client.get(f"/api/v1/map/targets?bbox=114.09,29.61,114.12,29.64&{OCT}").json()
    assert "周国强户" not in features(tight, "target")
    only = client.get(f"/api/v1/map/targets?bbox={AROUND_A}&{OCT}&kind=enterprise").json()
    assert set(features(only, "target")) == {"东风茶厂"} and not features(only, "village")
    mine = client.get(f"/api/v1/map/targets?bbox=113,29,115,30&{OCT}&user_id={mapped.users['cadre_b']}").json()
    assert set(features(mine, "target")) == {"吴秀英户"}


def test_targets_are_scoped_and_bad_bbox_is_400(client: TestClient, mapped: World) -> None:
    login(client, "leader_a")  # 甲镇 only
    body = client.get(f"/api/v1/map/targets?bbox=113,29,115,30&{OCT}").json()
    assert "吴秀英户" not in features(body, "target") and "西河村" not in features(body, "village")
    visits = client.get(f"/api/v1/map/visits?bbox=113,29,115,30&{OCT}").json()
    assert {f["properties"]["target"] for f in visits["features"]} == {"刘大山户", "周国强户", "东风村"}
    for bad in ("1,2,3", "114,30,113,29", "a,b,c,d", "114,29,115,95"):
        response = client.get(f"/api/v1/map/targets?bbox={bad}")
        assert response.status_code == 400
        assert "bbox" in response.json()["error"] or "坐标" in response.json()["error"]
    assert client.get("/api/v1/map/targets").status_code == 400  # bbox is required


def test_visits_bbox_window_and_checkins(client: TestClient, mapped: World) -> None:
    login(client, "super")
    body = client.get(f"/api/v1/map/visits?bbox={AROUND_A}&{OCT}").json()
    assert set(features(body, "visit")) == {"刘大山户", "周国强户"}  # 陈小梅户's visit is in September
    assert set(features(body, "checkin")) == {"东风村"}
    west = client.get(f"/api/v1/map/visits?bbox=113.9,29.4,114.05,29.5&{OCT}").json()
    assert set(features(west, "visit")) == {"吴秀英户"}


def test_aggregation_when_too_many_points(client: TestClient, mapped: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maps, "MAX_POINTS", 2)
    login(client, "super")
    body = client.get(f"/api/v1/map/targets?bbox=113,29,115,30&{OCT}").json()
    assert body["aggregated"] is True and body["count"] == 5
    cells = [f["properties"] for f in body["features"] if f["properties"]["layer"] == "cell"]
    assert sum(c["count"] for c in cells) == 5
    assert sum(c["visited"] for c in cells) == 3 and sum(c["never"] for c in cells) == 1
    assert not features(body, "target")
    visits = client.get(f"/api/v1/map/visits?bbox=113,29,115,30&{OCT}").json()
    assert visits["aggregated"] is True and sum(f["properties"]["count"] for f in visits["features"]) == 3


def test_route_of_a_day_in_time_order(client: TestClient, mapped: World) -> None:
    login(client, "super")
    body = client.get(f"/api/v1/map/route?user_id={mapped.users['cadre_a']}&day=2026-10-31").json()
    stops = [f["properties"] for f in body["features"] if f["properties"]["layer"] != "route"]
    assert [(s["seq"], s["at"], s["layer"], s["target"]) for s in stops] == [
        (1, "08:00", "checkin", "东风村"),
        (2, "09:30", "visit", "刘大山户"),
        (3, "11:00", "visit", "周国强户"),
    ]
    line = [f for f in body["features"] if f["properties"]["layer"] == "route"][0]
    assert len(line["geometry"]["coordinates"]) == 3
    client.cookies.clear()
    login(client, "leader_a")
    other = client.get(f"/api/v1/map/route?user_id={mapped.users['cadre_b']}&day=2026-10-02")
    assert other.status_code == 404


def test_map_page(client: TestClient, mapped: World) -> None:
    login(client, "super")
    soup = BeautifulSoup(client.get(f"/map?{OCT}&user_id={mapped.users['cadre_a']}").text, "html.parser")
    el = soup.select_one("#map")
    assert el["data-user"] == str(mapped.users["cadre_a"]) and el["data-bounds"].count(",") == 3
    assert el["data-tile-url"] == ""
    assert client.get("/map?kind=castle").status_code == 400


def test_assignment_warnings(client: TestClient, settings: Settings, world: World) -> None:
    """不漏不重: one key transport enterprise with nobody, one with two cadres, one with exactly one."""
    unit = world.units["town_a"]
    add_rows(
        settings,
        [
            Target(code=f"t{i}", kind="enterprise", name=name, org_unit_id=unit, is_key=True, is_transport=True)
            for i, name in enumerate(("甲物流", "乙运输", "丙货运"))
        ],
    )

    async def ids(db: AsyncSession) -> dict[str, int]:
        return dict((await db.execute(select(Target.name, Target.id).where(Target.code.in_(["t0", "t1", "t2"])))).all())

    t = with_db(settings, ids)
    start = date(2026, 1, 1)
    add_rows(
        settings,
        [
            Assignment(user_id=world.users["cadre_a"], target_id=t["乙运输"], kind="bao", start_date=start),
            Assignment(user_id=world.users["cadre_a2"], target_id=t["乙运输"], kind="bao", start_date=start),
            Assignment(user_id=world.users["cadre_a"], target_id=t["丙货运"], kind="bao", start_date=start),
            # An ended second assignment does not double 丙货运.
            Assignment(
                user_id=world.users["cadre_a2"],
                target_id=t["丙货运"],
                kind="bao",
                start_date=start,
                end_date=date(2026, 2, 1),
            ),
        ],
    )
    login(client, "super")
    soup = BeautifulSoup(client.get("/coverage/assignments").text, "html.parser")
    check = soup.select_one("[data-metric=exactly_one]")
    assert "漏：1 个" in check.get_text() and [a.get_text() for a in check.select(".missed a")] == ["甲物流"]
    doubled = check.select(".doubled li")
    assert (
        len(doubled) == 1
        and "乙运输" in doubled[0].get_text()
        and {"王干部", "李干部"} <= set(doubled[0].select_one(".meta").get_text().split(" · ")[1].split("、"))
    )
    households = soup.select_one("[data-metric=visit][data-kind=household]")
    assert "符合要求" in households.get_text()  # every household has a 包保 cadre
    drivers = soup.select_one("[data-metric=links][data-kind=driver]")
    assert "赵书记" in drivers.get_text() and "现联系 0 个" in drivers.get_text()
    villages = soup.select_one("[data-metric=links][data-kind=village]")
    assert "符合要求" in villages.get_text()  # 赵书记 links one village (1–3)


def test_small_box_searches_place_first_on_sqlite(settings: Settings, world: World) -> None:
    """One village's box seeks its map cells (the cell index); a county-wide box keeps the time index."""
    from datetime import datetime

    from sqlalchemy import text

    from server.clock import UTC
    from server.visits.models import Visit

    if not settings.is_sqlite:
        pytest.skip("the planner hint is for SQLite; PostgreSQL plans by its statistics")
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)

    async def plans(db: AsyncSession) -> list[str]:
        out = []
        for box in ((114.09, 29.61, 114.11, 29.63), (113.5, 29.0, 114.8, 30.0)):
            stmt = select(Visit.id).where(maps.in_window_and_box(db, Visit, Visit.visited_at, start, end, box))
            compiled = stmt.compile(db.bind, compile_kwargs={"literal_binds": True})
            rows = (await db.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
            out.append(" ".join(str(r[-1]) for r in rows))
        return out

    small, large = with_db(settings, plans)
    assert "ix_visit_cell" in small
    assert "ix_visit_cell" not in large
