"""党群说事会 (items become concerns, the report-back section, leaders present), 回头看, and the list
filters and monthly review."""

from __future__ import annotations

from datetime import date, timedelta

from bs4 import BeautifulSoup
from litestar.testing import TestClient
from sqlalchemy import select

from server.clock import local_today, utcnow
from server.ledger.models import Concern, ConcernEvent, LookBack
from tests.conftest import csrf, login
from tests.factories import World, with_db
from tests.ledger_support import STATE_FIELDS, make_concern


def meeting_form(client: TestClient, world: World, held_on: date, items: list[str], leaders: bool = True) -> dict:
    form: dict = {
        "_csrf": csrf(client),
        "village_id": str(world.targets["village_a"]),
        "held_on": held_on.isoformat(),
        "host": "村支书",
        "place": "村委会",
        "others": "刘大山、陈小梅",
        "residents_count": "12",
        "item_text": items,
        "item_category": ["problem"] * len(items),
        "notes": "说：……问：……办：……评：……",
    }
    if leaders:
        form["leader_ids"] = [str(world.users["leader_a"])]
    return form


def test_meeting_items_become_concerns_and_report_back(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    login(client, "cadre_a")
    first_day = local_today() - timedelta(days=30)
    first = client.post(
        "/ledger/meetings",
        data=meeting_form(client, world, first_day, ["修村道", "装路灯", ""]),
        follow_redirects=False,
    )
    assert first.status_code == 303
    first_id = int(first.headers["location"].rsplit("/", 1)[1])

    async def items(db):  # type: ignore[no-untyped-def]
        return list(await db.scalars(select(Concern).where(Concern.meeting_id == first_id).order_by(Concern.id)))

    concerns = with_db(settings, items)
    assert [(c.text, c.source, c.state, c.target_id) for c in concerns] == [
        ("修村道", "meeting", "registered", world.targets["village_a"]),
        ("装路灯", "meeting", "registered", world.targets["village_a"]),
    ]
    # One of last month's items moves on; the next meeting reports back on both automatically.
    login(client, "leader_a")
    body = {
        "_csrf": csrf(client),
        "action": "accept",
        "version": "1",
        "domain": "infrastructure",
        "level": "village_major",
    }
    assert client.post(f"/ledger/{concerns[0].id}/transition", data=body, follow_redirects=False).status_code == 303
    login(client, "cadre_a")
    second = client.post(
        "/ledger/meetings",
        data=meeting_form(client, world, local_today(), ["河道清淤"], leaders=False),
        follow_redirects=False,
    )
    page = BeautifulSoup(client.get(second.headers["location"]).text, "html.parser")
    back = [li.get_text(" ", strip=True) for li in page.select(".report-back li")]
    assert len(back) == 2 and "修村道" in back[0] and "受理" in back[0] and "登记" in back[1]
    assert "河道清淤" in page.select_one(".items").get_text()
    year_count = page.select_one(".leader-count").get_text()
    assert year_count.startswith("1 次") and "未达到" in year_count
    listing = BeautifulSoup(client.get("/ledger/meetings").text, "html.parser")
    assert "村支书" in listing.get_text()
    assert listing.select_one(".missing-meetings") is None  # 东风村 met this month; 西河村 is not in 甲镇
    login(client, "super")
    assert listing_missing(client) == "本月尚未召开党群说事会：西河村"


def listing_missing(client: TestClient) -> str:
    return BeautifulSoup(client.get("/ledger/meetings").text, "html.parser").select_one(".missing-meetings").get_text()


def test_meeting_bad_input_saves_nothing(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    login(client, "cadre_a")
    future = meeting_form(client, world, local_today() + timedelta(days=2), ["修村道"])
    assert client.post("/ledger/meetings", data=future).status_code == 400
    no_host = dict(meeting_form(client, world, local_today(), ["修村道"]), host=" ")
    assert "主持人" in client.post("/ledger/meetings", data=no_host).text
    outsider = dict(meeting_form(client, world, local_today(), ["修村道"]), village_id=str(world.targets["village_b"]))
    assert client.post("/ledger/meetings", data=outsider).status_code == 404
    too_long = meeting_form(client, world, local_today(), ["长" * 2001])
    assert client.post("/ledger/meetings", data=too_long).status_code == 400

    async def count(db):  # type: ignore[no-untyped-def]
        return len(list(await db.scalars(select(Concern).where(Concern.source == "meeting"))))

    assert with_db(settings, count) == 0


def test_look_back_sampling(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    closed = [make_concern(settings, world, state="closed", **STATE_FIELDS["closed"]) for _ in range(3)]
    make_concern(
        settings,
        world,
        state="closed",
        merged_into_id=closed[0].id,
        **dict(STATE_FIELDS["closed"], close_reason="duplicate"),
    )
    make_concern(settings, world)  # open: never sampled
    login(client, "leader_a")
    assert client.post("/ledger/lookbacks/sample", data={"_csrf": csrf(client), "count": "2"}).status_code == 403
    login(client, "super")
    assert (
        client.post(
            "/ledger/lookbacks/sample", data={"_csrf": csrf(client), "count": "10"}, follow_redirects=False
        ).status_code
        == 303
    )

    async def checks(db):  # type: ignore[no-untyped-def]
        return list(await db.scalars(select(LookBack)))

    sampled = with_db(settings, checks)
    assert sorted(c.concern_id for c in sampled) == sorted(c.id for c in closed)  # no duplicate, no open item
    again = client.post("/ledger/lookbacks/sample", data={"_csrf": csrf(client), "count": "1"})
    assert again.status_code == 409 and "没有可抽查" in again.text
    check = sampled[0]
    assert (
        client.post(
            f"/ledger/lookbacks/{check.id}", data={"_csrf": csrf(client), "result": "problem", "finding": ""}
        ).status_code
        == 400
    )
    ok = client.post(
        f"/ledger/lookbacks/{check.id}",
        data={"_csrf": csrf(client), "result": "problem", "finding": "入户核实，路灯仍不亮"},
        follow_redirects=False,
    )
    assert ok.status_code == 303

    async def event(db):  # type: ignore[no-untyped-def]
        return await db.scalar(select(ConcernEvent).where(ConcernEvent.concern_id == check.concern_id))

    assert "发现问题：入户核实，路灯仍不亮" in with_db(settings, event).note
    assert "路灯仍不亮" in client.get("/ledger/lookbacks").text


def test_list_filters_and_monthly_review(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    old = make_concern(settings, world, text="去年的事", created_at=utcnow() - timedelta(days=400))
    mine = make_concern(
        settings,
        world,
        target="house_2",
        category="petition",
        state="assigned",
        owner_id=world.users["cadre_a"],
        **dict(STATE_FIELDS["assigned"], deadline=local_today() - timedelta(days=1)),
    )
    factory = make_concern(settings, world, target="factory", text="企业用电", category="request")
    login(client, "leader_a")

    def ids(query: str) -> set[int]:
        soup = BeautifulSoup(client.get(f"/ledger?{query}").text, "html.parser")
        return {int(a["href"].rsplit("/", 1)[1]) for a in soup.select(".concerns a.row")}

    assert ids("list=problem") == {old.id, mine.id, factory.id}
    assert ids("list=problem&category=petition") == {mine.id}
    assert ids(f"list=problem&owner_id={world.users['cadre_a']}") == {mine.id}
    assert ids(f"list=problem&start={(local_today() - timedelta(days=30)).isoformat()}") == {mine.id, factory.id}
    assert ids(f"list=problem&village_id={world.targets['village_a']}") == {old.id, mine.id, factory.id}
    assert ids(f"list=problem&unit_id={world.units['vil_a']}") == {old.id, mine.id}
    assert ids("list=problem&state=registered") == {old.id, factory.id}
    assert client.get(f"/ledger?unit_id={world.units['town_b']}").status_code == 404
    fragment = client.get("/ledger?list=problem&category=request", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'id="ledger-table"' in fragment.text
    make_concern(
        settings,
        world,
        created_at=utcnow() - timedelta(days=400),
        state="closed",
        closed_at=utcnow(),
        **STATE_FIELDS["closed"],
    )
    review = BeautifulSoup(client.get("/ledger/review").text, "html.parser")
    assert review.select_one(".n-new").get_text() == "2" and review.select_one(".n-overdue").get_text() == "1"
    assert review.select_one(".n-closed").get_text() == "1"
    assert f"#{mine.id}" in review.select_one(".discuss").get_text()
