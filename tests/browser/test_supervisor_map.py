"""The supervisor in a real phone-sized Chromium: lands on the 三个全覆盖 dashboard, opens the map,
sees never-visited households in red, filters to one cadre and a day and sees the route in order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.clock import local_today
from tests.coverage_helpers import add_rows, checkin, visit
from tests.factories import VILLAGE_A
from tests.live import browser_login

pytestmark = pytest.mark.browser


def test_supervisor_dashboard_map_and_route(phone, live_server, world) -> None:  # type: ignore[no-untyped-def]
    day = local_today() - timedelta(days=1)
    u, t = world.users, world.targets
    add_rows(
        live_server.settings,
        [
            checkin(u["cadre_a"], t["village_a"], f"{day} 08:05", VILLAGE_A[0], VILLAGE_A[1]),
            visit(u["cadre_a"], t["house_1"], f"{day} 09:30", VILLAGE_A[0] + 0.001, VILLAGE_A[1]),
            visit(u["cadre_a"], t["house_2"], f"{day} 10:40", VILLAGE_A[0] + 0.01, VILLAGE_A[1]),
        ],
    )
    page = phone.new_page()
    browser_login(page, "super")
    page.wait_for_url("**/coverage")
    for kpi in ("space", "time", "people"):
        assert "%" in page.locator(f"[data-kpi={kpi}] .big").inner_text()
    page.wait_for_selector("#trend svg.chart")
    page.wait_for_selector("#strip table.strip")

    page.locator(".tabbar a", has_text="地图").click()
    page.wait_for_url("**/map")
    page.wait_for_selector("#map[data-loaded]")
    # 周国强户 was never visited: a red marker.
    red = page.locator("path.target-marker.status-never")
    assert red.count() >= 1
    assert red.first.get_attribute("fill") == "#d32f2f"
    if day.month == local_today().month:  # yesterday's visits fall in the default window (this month)
        assert page.locator("path.target-marker.status-visited").count() == 2

    page.click("details > summary")  # the filters are folded away on a phone
    page.select_option("select[name=user_id]", str(u["cadre_a"]))
    page.fill("input[name=day]", day.isoformat())
    page.click("#map-filters button[type=submit]")
    page.wait_for_url(f"**user_id={u['cadre_a']}**")
    page.wait_for_selector("#map[data-loaded]")
    page.wait_for_selector("path.route-line", state="attached")
    assert page.locator(".route-stop").count() == 3
    steps = page.locator("#route-list li").all_inner_texts()
    assert steps == ["08:05 签到 东风村", "09:30 入户走访 刘大山户", "10:40 入户走访 陈小梅户"]
