"""工作日志: compiled from check-ins and visits; the note with versions; scoping."""

from __future__ import annotations

from datetime import timedelta

from bs4 import BeautifulSoup
from litestar.testing import TestClient

from server.clock import local_today, to_local, utcnow
from tests.conftest import csrf, login
from tests.factories import VILLAGE_A, World
from tests.test_visits import checkin, post_visit, visit_form


def test_diary_compiles_checkins_and_visits_in_time_order(client: TestClient, world: World) -> None:
    login(client, "cadre_a")
    checkin(client, world.targets["village_a"], VILLAGE_A[0], VILLAGE_A[1])
    later = to_local(utcnow() + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")  # type: ignore[union-attr]
    post_visit(client, visit_form(client, world.targets["house_1"], notes="宣传医保缴费政策", visited_at=later))
    page = client.get("/diary")
    assert page.status_code == 200
    rows = BeautifulSoup(page.text, "html.parser").select("table.diary tbody tr")
    assert [r["class"][0] for r in rows] == ["entry-checkin", "entry-visit"]
    assert "东风村" in rows[0].get_text() and "宣传医保缴费政策" in rows[1].get_text()
    assert "打印" in page.text
    summary = BeautifulSoup(client.get("/today").text, "html.parser").select_one(".today-summary")
    assert summary is not None and [s.get_text() for s in summary.select("strong")] == ["1", "1"]


def test_diary_empty_day(client: TestClient) -> None:
    login(client, "cadre_a")
    assert "这一天没有签到或走访记录" in client.get("/diary", params={"day": "2026-01-05"}).text
    assert client.get("/diary", params={"day": "2026-13-05"}).status_code == 400


def test_diary_note_versions_and_conflict(client: TestClient) -> None:
    login(client, "cadre_a")
    day = local_today().isoformat()
    ok = client.post("/diary/note", data={"_csrf": csrf(client), "day": day, "version": "0", "note": "第一版"})
    assert ok.status_code == 200 and "第一版" in ok.text
    stale = client.post("/diary/note", data={"_csrf": csrf(client), "day": day, "version": "0", "note": "手机上的版本"})
    assert stale.status_code == 409
    assert "第一版" in stale.text and "手机上的版本" in stale.text
    fixed = client.post("/diary/note", data={"_csrf": csrf(client), "day": day, "version": "1", "note": "合并后"})
    assert fixed.status_code == 200 and "合并后" in fixed.text


def test_leader_reads_a_cadres_diary_but_other_cadre_cannot(client: TestClient, world: World) -> None:
    login(client, "leader_a")
    assert client.get("/diary", params={"user_id": world.users["cadre_a"]}).status_code == 200
    login(client, "cadre_b")
    assert client.get("/diary", params={"user_id": world.users["cadre_a"]}).status_code == 404
