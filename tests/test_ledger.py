"""The concern lifecycle through the API and the pages: every legal transition, every illegal one,
stale versions, roles, scope, close reasons, merge, feedback, rating and 回炉."""

from __future__ import annotations

from datetime import date

import pytest
from bs4 import BeautifulSoup
from litestar.testing import TestClient
from sqlalchemy import select

from server.ledger.lifecycle import ACTIONS
from server.ledger.models import ConcernEvent, ConcernState
from tests.conftest import bearer, csrf, login
from tests.factories import World, with_db
from tests.ledger_support import STATE_FIELDS, get_concern, make_concern

STATES = [s.value for s in ConcernState]


def payload(action: str, version: int, world: World, other_id: int | None = None) -> dict:
    """The fields each action needs to succeed."""
    body: dict = {"action": action, "version": version}
    extra = {
        "accept": {"domain": "infrastructure", "level": "village", "urgency": "normal"},
        "assign": {"owner_id": world.users["cadre_a"]},
        "progress": {"note": "已联系电力所"},
        "submit": {"note": "路灯已修好"},
        "return": {"note": "现场核实未修好"},
        "close": {"close_reason": "policy", "close_detail": "按政策由供电公司负责，已解释"},
        "merge": {"merged_into_id": other_id},
        "feedback": {"note": "已告知群众修好了"},
        "rate": {"score": "satisfied"},
        "reopen": {"note": "群众反映又坏了"},
    }.get(action, {})
    body.update(extra)
    return body


LEGAL = [(name, state) for name, a in ACTIONS.items() for state in a.sources]
ILLEGAL = [(name, state) for name, a in ACTIONS.items() for state in STATES if state not in a.sources]


@pytest.mark.parametrize(("action", "state"), LEGAL)
def test_legal_transition(client: TestClient, settings, world: World, action: str, state: str) -> None:  # type: ignore[no-untyped-def]
    fields = dict(STATE_FIELDS[state], state=state)
    if action == "rate":
        from server.clock import utcnow

        fields["feedback_at"] = utcnow()
    if state == "pending_review" and action == "close":
        pass
    concern = make_concern(settings, world, **fields)
    other = make_concern(settings, world, text="村口路灯坏了") if action == "merge" else None
    headers = bearer(client, "leader_a")
    body = payload(action, concern.version, world, other.id if other else None)
    if action == "close" and state == "pending_review":
        body.update(close_reason="solved", close_detail="")
    response = client.post(f"/api/v1/concerns/{concern.id}/transition", json=body, headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()
    expected = ACTIONS[action].target or state
    assert data["state"] == expected
    assert data["version"] == concern.version + 1

    def events(db):  # type: ignore[no-untyped-def]
        return db.scalars(select(ConcernEvent).where(ConcernEvent.concern_id == concern.id))

    async def read(db):  # type: ignore[no-untyped-def]
        return list(await events(db))

    logged = with_db(settings, read)
    assert [(e.action, e.from_state, e.to_state) for e in logged] == [(action, state, expected)]
    assert logged[0].actor_id == world.users["leader_a"]


@pytest.mark.parametrize(("action", "state"), ILLEGAL)
def test_illegal_transition_refused(client: TestClient, settings, world: World, action: str, state: str) -> None:  # type: ignore[no-untyped-def]
    concern = make_concern(settings, world, state=state, **STATE_FIELDS[state])
    body = payload(action, concern.version, world, concern.id)
    response = client.post(f"/api/v1/concerns/{concern.id}/transition", json=body, headers=bearer(client, "leader_a"))
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert "不能" in error and ACTIONS[action].label in error
    assert response.json()["current_version"] == concern.version
    after = get_concern(settings, concern.id)
    assert (after.state, after.version) == (state, concern.version)


def test_stale_version_is_409_with_current_version(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    concern = make_concern(settings, world)
    headers = bearer(client, "leader_a")
    ok = client.post(f"/api/v1/concerns/{concern.id}/transition", json=payload("accept", 1, world), headers=headers)
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = client.post(
        f"/api/v1/concerns/{concern.id}/transition",
        json={"action": "assign", "version": 1, "owner_id": world.users["cadre_a"]},
        headers=headers,
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2 and "刷新" in stale.json()["error"]
    assert get_concern(settings, concern.id).state == "accepted"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "accept"}, "版本号"),
        ({"action": "accept", "version": "x"}, "版本号"),
        ({"action": "fly", "version": 1}, "未知的操作"),
        ({"action": "accept", "version": 1, "domain": "moon", "level": "village"}, "所属领域"),
        ({"action": "accept", "version": 1, "domain": "other"}, "办理层级"),
        ({"action": "accept", "version": 1, "domain": "other", "level": "village", "category": "x"}, "诉求类别"),
    ],
)
def test_bad_input_is_400(client: TestClient, settings, world: World, body: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    concern = make_concern(settings, world)
    response = client.post(f"/api/v1/concerns/{concern.id}/transition", json=body, headers=bearer(client, "leader_a"))
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert get_concern(settings, concern.id).version == 1


def test_roles_and_scope(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    concern = make_concern(settings, world)
    url = f"/api/v1/concerns/{concern.id}/transition"
    accept = payload("accept", 1, world)
    assert client.post(url, json=accept, headers=bearer(client, "cadre_a")).status_code == 403
    assert client.post(url, json=accept, headers=bearer(client, "super")).status_code == 403
    outside = client.post(url, json=accept, headers=bearer(client, "cadre_b"))
    assert outside.status_code == 404
    assert client.get(f"/api/v1/concerns/{concern.id}", headers=bearer(client, "cadre_b")).status_code == 404
    assert client.post(url, json=accept).status_code == 401
    # The owner (a cadre) may work on it; another cadre of the same town may not.
    started = make_concern(
        settings,
        world,
        state="assigned",
        owner_id=world.users["cadre_a2"],
        raised_by="cadre_a2",
        **STATE_FIELDS["assigned"],
    )
    url = f"/api/v1/concerns/{started.id}/transition"
    assert (
        client.post(url, json={"action": "start", "version": 1}, headers=bearer(client, "cadre_a")).status_code == 403
    )
    response = client.post(url, json={"action": "start", "version": 1}, headers=bearer(client, "cadre_a2"))
    assert response.status_code == 200 and response.json()["state"] == "in_progress"
    # The cadre who raised it (not the owner) cannot handle it, but tells the resident the result.
    raised = make_concern(
        settings, world, state="in_progress", owner_id=world.users["cadre_a2"], **STATE_FIELDS["in_progress"]
    )
    url = f"/api/v1/concerns/{raised.id}/transition"
    submit = {"action": "submit", "version": 1, "note": "办好了"}
    refused = client.post(url, json=submit, headers=bearer(client, "cadre_a"))
    assert refused.status_code == 403 and "责任人或班子成员" in refused.json()["error"]
    assert client.post(url, json=submit, headers=bearer(client, "cadre_a2")).status_code == 200
    close = {"action": "close", "version": 2, "close_reason": "solved"}
    assert client.post(url, json=close, headers=bearer(client, "leader_a")).status_code == 200
    told = client.post(
        url, json={"action": "feedback", "version": 3, "note": "已告知"}, headers=bearer(client, "cadre_a")
    )
    assert told.status_code == 200 and told.json()["feedback"] == "已告知"


def test_assign_computes_deadline_and_rejects_outside_owner(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    concern = make_concern(settings, world, state="accepted", category="request", **STATE_FIELDS["accepted"])
    url = f"/api/v1/concerns/{concern.id}/transition"
    headers = bearer(client, "leader_a")
    bad = client.post(url, json={"action": "assign", "version": 1, "owner_id": world.users["cadre_b"]}, headers=headers)
    assert bad.status_code == 400 and "责任人" in bad.json()["error"]
    past = client.post(
        url,
        json={"action": "assign", "version": 1, "owner_id": world.users["cadre_a"], "deadline": "2020-01-01"},
        headers=headers,
    )
    assert past.status_code == 400
    ok = client.post(url, json={"action": "assign", "version": 1, "owner_id": world.users["cadre_a"]}, headers=headers)
    assert ok.status_code == 200
    deadline = date.fromisoformat(ok.json()["deadline"])
    from server.clock import local_today
    from server.ledger.deadlines import WorkCalendar

    assert deadline == WorkCalendar().add_working_days(local_today(), 3)  # 诉求类 (求助): 3 working days


@pytest.mark.parametrize(
    ("state", "reason", "detail", "status"),
    [
        ("in_progress", "solved", "", 409),  # 已解决 needs 办结报核 first
        ("pending_review", "stepwise", "", 400),  # the plan is required
        ("pending_review", "stepwise", "6月底前完成路面硬化", 200),
        ("accepted", "transferred", "", 400),
        ("accepted", "transferred", "县交通运输局", 200),
        ("pending_review", "duplicate", "", 400),  # duplicates go through 合并
        ("pending_review", "", "", 400),
    ],
)
def test_close_reasons(
    client: TestClient, settings, world: World, state: str, reason: str, detail: str, status: int
) -> None:  # type: ignore[no-untyped-def]
    concern = make_concern(settings, world, state=state, **STATE_FIELDS[state])
    body = {"action": "close", "version": 1, "close_reason": reason, "close_detail": detail}
    response = client.post(f"/api/v1/concerns/{concern.id}/transition", json=body, headers=bearer(client, "leader_a"))
    assert response.status_code == status, response.text
    after = get_concern(settings, concern.id)
    if status == 200:
        assert (after.state, after.close_reason, after.close_detail) == ("closed", reason, detail)
    else:
        assert after.state == state and after.close_reason is None


def test_rating_requires_feedback_and_unsatisfied_reopens(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    concern = make_concern(settings, world, state="closed", owner_id=world.users["cadre_a"], **STATE_FIELDS["closed"])
    url = f"/api/v1/concerns/{concern.id}/transition"
    headers = bearer(client, "cadre_a")
    early = client.post(url, json={"action": "rate", "version": 1, "score": "satisfied"}, headers=headers)
    assert early.status_code == 409 and "反馈" in early.json()["error"]
    fed = client.post(url, json={"action": "feedback", "version": 1, "note": "已修好并告知"}, headers=headers)
    assert fed.status_code == 200
    bad = client.post(
        url, json={"action": "rate", "version": 2, "score": "unsatisfied", "note": "还是不亮"}, headers=headers
    )
    assert bad.status_code == 200
    data = bad.json()
    assert data["state"] == "in_progress" and data["reopen_count"] == 1 and data["close_reason"] is None
    assert data["deadline"] is not None


def test_merge_duplicate_and_similar_hint(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    main = make_concern(settings, world, target="house_2", text="村口的路灯坏了好几天，晚上出门不方便")
    dup = make_concern(settings, world, target="house_1", text="村口路灯坏了，晚上出行不便")
    unrelated = make_concern(settings, world, target="house_3", text="希望帮忙申请低保")
    elsewhere = make_concern(settings, world, target="house_b", text="村口路灯坏了，晚上出行不便", raised_by="cadre_b")
    login(client, "leader_a")
    page = BeautifulSoup(client.get(f"/ledger/{dup.id}").text, "html.parser")
    hinted = {a.get_text() for a in page.select("#similar a")}
    assert f"#{main.id}" in hinted and f"#{unrelated.id}" not in hinted and f"#{elsewhere.id}" not in hinted
    fragment = client.get(
        "/ledger/similar",
        params={"target_id": world.targets["house_3"], "category": "problem", "text": "路灯坏了晚上出行不便"},
        headers={"HX-Request": "true"},
    )
    assert f"#{main.id}" in fragment.text and "<html" not in fragment.text
    form = {"_csrf": csrf(client), "action": "merge", "version": "1", "merged_into_id": str(main.id)}
    response = client.post(f"/ledger/{dup.id}/transition", data=form, follow_redirects=False)
    assert response.status_code == 303
    after = get_concern(settings, dup.id)
    assert (after.state, after.close_reason, after.merged_into_id) == ("closed", "duplicate", main.id)
    timeline = client.get(f"/ledger/{main.id}").text
    assert f"合并了重复诉求 #{dup.id}" in timeline


def test_whole_flow_through_forms(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    login(client, "leader_a")
    token = csrf(client)
    created = client.post(
        "/ledger",
        data={
            "_csrf": token,
            "target_id": str(world.targets["house_1"]),
            "text": "屋后水渠堵塞",
            "category": "request",
            "urgency": "normal",
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    cid = int(created.headers["location"].rsplit("/", 1)[1])
    steps = [
        {"action": "accept", "domain": "infrastructure", "level": "village", "urgency": "urgent"},
        {"action": "assign", "owner_id": str(world.users["cadre_a"])},
        {"action": "start"},
        {"action": "progress", "note": "已安排清淤"},
        {"action": "submit", "note": "水渠已清理"},
        {"action": "close", "close_reason": "solved"},
        {"action": "feedback", "note": "已当面告知户主"},
    ]
    for version, step in enumerate(steps, start=1):
        response = client.post(
            f"/ledger/{cid}/transition", data={"_csrf": token, "version": str(version), **step}, follow_redirects=False
        )
        assert response.status_code == 303, (step, response.text[:500])
    refused = client.post(f"/ledger/{cid}/transition", data={"_csrf": token, "version": "8", "action": "start"})
    assert refused.status_code == 409
    soup = BeautifulSoup(refused.text, "html.parser")
    assert "当前状态为“销号”，不能开始办理" in soup.select_one(".error").get_text()
    page = BeautifulSoup(client.get(f"/ledger/{cid}").text, "html.parser")
    timeline = [li.get_text(" ", strip=True) for li in page.select(".timeline li")]
    assert len(timeline) == 1 + len(steps)
    assert "紧急" in timeline[1] and "责任人：王干部" in timeline[2]
    after = get_concern(settings, cid)
    assert after.deadline is not None and after.feedback == "已当面告知户主"
    # Urgent: due the same (working) day.
    from server.clock import local_today
    from server.ledger.deadlines import WorkCalendar

    assert after.deadline == WorkCalendar().add_working_days(local_today(), 0)
    # The three lists.
    for name, present in (("problem", True), ("task", False), ("result", True)):
        html = client.get(f"/ledger?list={name}").text
        assert (f'href="/ledger/{cid}"' in html) is present, name


def test_pages_need_login_and_api_reads(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    concern = make_concern(settings, world)
    assert client.get("/ledger", follow_redirects=False).status_code in (302, 303, 307)
    assert client.get(f"/api/v1/concerns/{concern.id}").status_code == 401
    headers = bearer(client, "cadre_a")
    data = client.get(f"/api/v1/concerns/{concern.id}", headers=headers).json()
    assert data["state"] == "registered" and data["version"] == 1


def test_concurrent_transitions_with_the_same_version(settings, world: World) -> None:  # type: ignore[no-untyped-def]
    """Two devices send an action based on the same version at once: exactly one wins, the other gets 409."""
    import asyncio

    from server.db import create_engine, session_maker
    from server.errors import AppError
    from server.ledger.lifecycle import ActionInput
    from server.ledger.service import transition
    from tests.factories import run
    from tests.ledger_support import viewer

    concern = make_concern(settings, world, state="in_progress", **STATE_FIELDS["in_progress"])

    async def main() -> list[object]:
        engine = create_engine(settings.database_url)
        maker = session_maker(engine)

        async def one(note: str) -> object:
            async with maker() as db:
                who = await viewer(db, "leader_a")
                await db.rollback()
                try:
                    return await transition(db, who, concern.id, ActionInput("progress", 1, note=note))  # type: ignore[arg-type]
                except AppError as exc:
                    return exc.status_code

        try:
            return list(await asyncio.gather(one("甲设备"), one("乙设备")))
        finally:
            await engine.dispose()

    results = run(main())
    assert sorted(r if isinstance(r, int) else 200 for r in results) == [200, 409]
    after = get_concern(settings, concern.id)
    assert after.version == 2 and after.progress in ("甲设备", "乙设备")


def test_detail_shows_the_visit_photos_that_arrived(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from server.clock import utcnow
    from server.visits.models import Photo, Visit, VisitPhoto

    arrived, pending = str(uuid.uuid4()), str(uuid.uuid4())

    async def work(db):  # type: ignore[no-untyped-def]
        visit = Visit(
            uuid=str(uuid.uuid4()),
            user_id=world.users["cadre_a"],
            target_id=world.targets["house_1"],
            visited_at=utcnow(),
            notes="看现场",
        )
        db.add(visit)
        db.add(Photo(uuid=arrived, user_id=world.users["cadre_a"], sha256="0" * 64, width=10, height=10, size_bytes=1))
        await db.flush()
        db.add(VisitPhoto(visit_id=visit.id, photo_uuid=arrived, position=0))
        db.add(VisitPhoto(visit_id=visit.id, photo_uuid=pending, position=1))
        await db.commit()
        return visit.id

    visit_id = with_db(settings, work)
    concern = make_concern(settings, world, visit_id=visit_id)
    login(client, "leader_a")
    soup = BeautifulSoup(client.get(f"/ledger/{concern.id}").text, "html.parser")
    assert [img["src"] for img in soup.select(".concern-detail .thumbs img")] == [f"/photos/{arrived}/thumb"]
    # Only a leader may put the photos on the public board; the decision is on the timeline.
    login(client, "cadre_a")
    assert (
        client.post(f"/ledger/{concern.id}/photos-public", data={"_csrf": csrf(client), "public": "1"}).status_code
        == 403
    )
    login(client, "leader_a")
    done = client.post(
        f"/ledger/{concern.id}/photos-public", data={"_csrf": csrf(client), "public": "1"}, follow_redirects=False
    )
    assert done.status_code == 303 and get_concern(settings, concern.id).photos_public
    assert "在公示栏公开走访照片" in client.get(f"/ledger/{concern.id}").text
