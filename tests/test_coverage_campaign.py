"""The campaign page: the default campaign started by an admin, rules adjusted with validation (nothing
half-saved), and the quota following the new rule."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from litestar.testing import TestClient

from server.clock import local_today
from tests.conftest import csrf, login
from tests.factories import World


def _rule_ids(client: TestClient) -> list[int]:
    soup = BeautifulSoup(client.get("/coverage/campaign").text, "html.parser")
    return [int(li["data-rule"]) for li in soup.select("#rules li[data-rule]")]


def test_admin_starts_default_campaign_and_edits_a_rule(client: TestClient, world: World) -> None:
    login(client, "admin")
    page = BeautifulSoup(client.get("/coverage/campaign").text, "html.parser")
    assert "尚未设置活动" in page.get_text() and len(page.select("#rules li")) == 7
    started = client.post("/coverage/campaign", data={"_csrf": csrf(client)}, follow_redirects=False)
    assert started.status_code == 303
    page = BeautifulSoup(client.get("/coverage/campaign").text, "html.parser")
    phases = [li.get_text() for li in page.select(".phases li")]
    assert [p.split("：")[0] for p in phases] == ["动员部署", "全面开展", "持续深化", "巩固提升"]
    assert f"动员部署：{local_today()}" in phases[0] and "当前阶段" in phases[0]
    again = client.post("/coverage/campaign", data={"_csrf": csrf(client)})
    assert again.status_code == 409 and "无需重复创建" in again.text
    second_start = re.search(r"全面开展：(\d{4}-\d\d-\d\d)", phases[1]).group(1)  # type: ignore[union-attr]
    dashboard = BeautifulSoup(client.get(f"/coverage?from={local_today()}&to={second_start}").text, "html.parser")
    line = " ".join(dashboard.select_one("#campaign").get_text().split())  # type: ignore[union-attr]
    assert "· 阶段：动员部署、全面开展 ·" in line and line.count("阶段") == 1

    first = _rule_ids(client)[0]  # 镇村干部每月对包保农户走访至少1次
    month = local_today().replace(day=1).isoformat()
    before = client.get(f"/api/v1/coverage?from={month}").json()
    ok = client.post(
        f"/coverage/rules/{first}",
        data={"_csrf": csrf(client), "period": "month", "min_count": "2"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    after = client.get(f"/api/v1/coverage?from={month}").json()
    cadre_a = world.users["cadre_a"]

    def required(body: dict) -> int:
        return next(p["required"] for p in body["people_detail"] if p["user_id"] == cadre_a)

    assert required(after) == 2 * required(before) == 6  # three households, twice a month

    for bad, message in (
        ({"period": "decade", "min_count": "1"}, "统计周期"),
        ({"period": "campaign", "min_count": "1"}, "须按周、月、季度或年"),
        ({"period": "month", "min_count": "-1"}, "0～1000"),
        ({"period": "month", "min_count": "x"}, "整数"),
        ({"period": "month", "min_count": "3", "max_count": "2"}, "不能小于"),
        ({"period": "week", "min_count": ""}, "请填写"),
    ):
        response = client.post(f"/coverage/rules/{first}", data={"_csrf": csrf(client), **bad})
        assert response.status_code == 400 and message in response.text, bad
    assert required(client.get(f"/api/v1/coverage?from={month}").json()) == 6  # unchanged by bad input
    assert (
        client.post(
            "/coverage/rules/999999", data={"_csrf": csrf(client), "period": "month", "min_count": "1"}
        ).status_code
        == 404
    )


def test_only_admins_change_rules(client: TestClient, world: World) -> None:
    login(client, "super")
    assert client.get("/coverage/campaign").status_code == 200
    assert client.post("/coverage/campaign", data={"_csrf": csrf(client)}).status_code == 403
    assert "保存" not in client.get("/coverage/campaign").text
    client.cookies.clear()
    login(client, "admin")
    assert client.post("/coverage/campaign", data={}).status_code == 403  # no CSRF token
