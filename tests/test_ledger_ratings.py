"""Residents rate without an account: one-time links with QR codes, 30-day expiry, a polite refusal
the second time, their own item only, and ratings feeding the cadre's satisfaction figures."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from bs4 import BeautifulSoup
from litestar.testing import TestClient
from sqlalchemy import select, update

from server.clock import utcnow
from server.ledger.models import Rating, RatingToken
from server.ledger.ratings import satisfaction_by_cadre
from server.visits.models import Visit
from tests.conftest import csrf, login
from tests.factories import World, with_db
from tests.ledger_support import STATE_FIELDS, get_concern, make_concern


def closed_concern(settings, world: World, **extra):  # type: ignore[no-untyped-def]
    fields = dict(
        STATE_FIELDS["closed"],
        state="closed",
        owner_id=world.users["cadre_a"],
        feedback="路灯已修好",
        feedback_at=utcnow(),
    )
    fields.update(extra)
    return make_concern(settings, world, text="村口路灯坏了，联系电话13800001111", **fields)


def make_link(client: TestClient, path: str) -> str:
    response = client.post(path, data={"_csrf": csrf(client)})
    assert response.status_code == 200, response.text
    soup = BeautifulSoup(response.text, "html.parser")
    assert soup.select_one(".qr svg") is not None
    url = soup.select_one("#rating-url")["href"]
    assert re.search(r"/r/[A-Za-z0-9_-]{20,}$", url)
    return "/r/" + url.rsplit("/r/", 1)[1]


def rate(client: TestClient, link: str, score: str = "satisfied", comment: str = ""):  # type: ignore[no-untyped-def]
    return client.post(link, data={"_csrf": csrf(client), "score": score, "comment": comment})


def test_single_use_rating_link(app, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    concern = closed_concern(settings, world)
    with TestClient(app=app) as cadre, TestClient(app=app) as resident:
        login(cadre, "cadre_a")
        link = make_link(cadre, f"/ledger/{concern.id}/rating-link")
        page = resident.get(link)
        assert page.status_code == 200
        text = BeautifulSoup(page.text, "html.parser").get_text()
        assert "刘**" in text and "刘大山" not in text and "13800001111" not in text and "路灯已修好" in text
        assert resident.post(link, data={"score": "satisfied"}).status_code == 403  # no CSRF token
        bad = rate(resident, link, "wonderful")
        assert bad.status_code == 400 and "请选择一项评价" in bad.text
        done = rate(resident, link, "satisfied", "修得很及时")
        assert done.status_code == 200 and "感谢您的评价" in done.text
        again = rate(resident, link, "unsatisfied")
        assert again.status_code == 410 and "您已经评价过了" in again.text
        assert resident.get(link).status_code == 410
    after = get_concern(settings, concern.id)
    assert after.rating == "satisfied" and after.state == "closed"

    async def ratings(db):  # type: ignore[no-untyped-def]
        return list(await db.scalars(select(Rating)))

    rows = with_db(settings, ratings)
    assert [(r.score, r.cadre_id, r.comment) for r in rows] == [("satisfied", world.users["cadre_a"], "修得很及时")]


def test_expired_unknown_and_replaced_links(app, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    concern = closed_concern(settings, world)
    with TestClient(app=app) as cadre, TestClient(app=app) as resident:
        login(cadre, "cadre_a")
        first = make_link(cadre, f"/ledger/{concern.id}/rating-link")
        second = make_link(cadre, f"/ledger/{concern.id}/rating-link")
        assert resident.get(first).status_code == 410  # replaced by the new link
        assert resident.get("/r/not-a-real-token-at-all").status_code == 404

        async def expire(db):  # type: ignore[no-untyped-def]
            await db.execute(update(RatingToken).values(expires_at=utcnow() - timedelta(seconds=1)))
            await db.commit()

        with_db(settings, expire)
        gone = resident.get(second)
        assert gone.status_code == 410 and "已过期" in gone.text
        assert rate(resident, second).status_code == 410
    assert get_concern(settings, concern.id).rating is None


def test_link_needs_closed_item_with_feedback(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    open_item = make_concern(settings, world)
    unfed = make_concern(settings, world, state="closed", **STATE_FIELDS["closed"])
    login(client, "cadre_a")
    assert client.post(f"/ledger/{open_item.id}/rating-link", data={"_csrf": csrf(client)}).status_code == 409
    response = client.post(f"/ledger/{unfed.id}/rating-link", data={"_csrf": csrf(client)})
    assert response.status_code == 409 and "反馈" in response.text
    login(client, "cadre_b")
    assert client.post(f"/ledger/{unfed.id}/rating-link", data={"_csrf": csrf(client)}).status_code == 404


def test_unsatisfied_rating_reopens(app, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    concern = closed_concern(settings, world)
    with TestClient(app=app) as cadre, TestClient(app=app) as resident:
        login(cadre, "leader_a")
        link = make_link(cadre, f"/ledger/{concern.id}/rating-link")
        assert rate(resident, link, "unsatisfied", "晚上还是不亮").status_code == 200
        timeline = cadre.get(f"/ledger/{concern.id}").text
    after = get_concern(settings, concern.id)
    assert (after.state, after.reopen_count, after.rating) == ("in_progress", 1, "unsatisfied")
    assert "不满意，回炉重办" in timeline and "群众（评价链接）" in timeline


def test_visit_rating_feeds_satisfaction(app, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    async def add_visit(db):  # type: ignore[no-untyped-def]
        visit = Visit(
            uuid=str(uuid.uuid4()),
            user_id=world.users["cadre_a"],
            target_id=world.targets["house_1"],
            visited_at=utcnow(),
            notes="了解情况",
        )
        db.add(visit)
        await db.commit()
        return visit.id

    visit_id = with_db(settings, add_visit)
    with TestClient(app=app) as cadre, TestClient(app=app) as resident:
        login(cadre, "cadre_a2")  # not the visiting cadre
        assert cadre.post(f"/ledger/visits/{visit_id}/rating-link", data={"_csrf": csrf(cadre)}).status_code == 403
        login(cadre, "cadre_a")
        concern = make_concern(settings, world, visit_id=visit_id)
        button = BeautifulSoup(cadre.get(f"/ledger/{concern.id}").text, "html.parser").select_one("#visit-rating-link")
        assert button is not None and button.find_parent("form")["action"] == f"/ledger/visits/{visit_id}/rating-link"
        link = make_link(cadre, f"/ledger/visits/{visit_id}/rating-link")
        page = resident.get(link).text
        assert "干部走访评议" in page and "王干部" in page and "刘大山" not in page
        assert rate(resident, link, "basic").status_code == 200
    start, end = utcnow() - timedelta(days=1), utcnow() + timedelta(days=1)
    scores = with_db(settings, lambda db: satisfaction_by_cadre(db, start, end))
    assert scores == {world.users["cadre_a"]: (1, 1)}
