"""Deadlines in working days, 即将到期 / 超期, the 催办 mark, escalation one org level up, extensions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from bs4 import BeautifulSoup
from litestar.testing import TestClient
from sqlalchemy import select

from server.clock import local_today
from server.ledger import reminders
from server.ledger.deadlines import WorkCalendar, deadline_status, default_deadline
from server.ledger.models import CalendarDay, Concern, ConcernEvent, DeadlineRule
from tests.conftest import csrf, login
from tests.factories import World, with_db
from tests.ledger_support import STATE_FIELDS, get_concern, make_concern, viewer

# 2025-09-29 is a Monday; 2025-10-01..07 were the National Day holidays, 2025-09-28 and 10-11 make-up days.
NATIONAL_DAY = WorkCalendar(
    holidays=frozenset(date(2025, 10, d) for d in range(1, 9)),
    workdays=frozenset({date(2025, 9, 28), date(2025, 10, 11)}),
)


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2025, 3, 17), 0, date(2025, 3, 17)),  # Monday, same day
        (date(2025, 3, 21), 1, date(2025, 3, 24)),  # Friday + 1 → Monday
        (date(2025, 3, 22), 0, date(2025, 3, 24)),  # Saturday, same day → next working day
        (date(2025, 3, 17), 3, date(2025, 3, 20)),
        (date(2025, 3, 17), 13, date(2025, 4, 3)),  # 13 working days = 2 weeks + 3 days
    ],
)
def test_working_days_plain_weeks(start: date, days: int, expected: date) -> None:
    assert WorkCalendar().add_working_days(start, days) == expected


def test_holidays_and_make_up_days() -> None:
    # Tuesday 30 Sep + 3 working days: Oct 1–8 off, Oct 9 (Thu), 10 (Fri), 11 (Sat, make-up day).
    assert NATIONAL_DAY.add_working_days(date(2025, 9, 30), 3) == date(2025, 10, 11)
    assert NATIONAL_DAY.is_workday(date(2025, 9, 28)) and not NATIONAL_DAY.is_workday(date(2025, 10, 2))
    assert NATIONAL_DAY.working_days_between(date(2025, 9, 30), date(2025, 10, 13)) == 4
    assert WorkCalendar().working_days_between(date(2025, 3, 21), date(2025, 3, 24)) == 1


def test_deadline_status() -> None:
    cal = WorkCalendar()
    today = date(2025, 3, 20)  # Thursday
    concern = Concern(uuid="x", target_id=1, org_unit_id=1, raised_by_id=1, text="t", state="in_progress")
    cases = [
        (date(2025, 3, 28), ""),
        (date(2025, 3, 21), "due_soon"),
        (today, "due_soon"),
        (date(2025, 3, 19), "overdue"),
    ]
    for deadline, expected in cases:
        concern.deadline = deadline
        assert deadline_status(concern, today, cal) == expected, deadline
    concern.state, concern.deadline = "pending_review", date(2025, 3, 1)
    assert deadline_status(concern, today, cal) == ""  # handed in: no longer counted as overdue


def test_rules_and_calendar_come_from_the_database(settings, world: World) -> None:  # type: ignore[no-untyped-def]
    async def work(db):  # type: ignore[no-untyped-def]
        start = date(2025, 3, 17)
        before = (
            await default_deadline(db, "petition", "normal", start),
            await default_deadline(db, "request", "normal", start),
        )
        db.add(DeadlineRule(category="request", urgency="normal", working_days=1))
        db.add(CalendarDay(day=date(2025, 3, 18), workday=False, name="测试假日"))
        await db.commit()
        after = await default_deadline(db, "request", "normal", start)
        return before, after

    (petition, request), after = with_db(settings, work)
    assert petition == date(2025, 4, 3)  # 投诉/信访 13 working days
    assert request == date(2025, 3, 20)  # 求助 3 working days
    assert after == date(2025, 3, 19)  # 1 working day, skipping the 18th


def test_settings_page_edits_rules(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    login(client, "admin")
    form = {"_csrf": csrf(client)}
    for cat in ("problem", "request", "petition", "suggestion"):
        form[f"{cat}:normal"], form[f"{cat}:urgent"] = "7", "0"
    assert client.post("/ledger/settings/rules", data=form, follow_redirects=False).status_code == 303
    bad = dict(form, **{"problem:normal": "-1"})
    assert client.post("/ledger/settings/rules", data=bad).status_code == 400
    added = client.post(
        "/ledger/settings/days",
        data={"_csrf": csrf(client), "day": "2025-10-01", "name": "国庆节", "workday": "0"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert "国庆节" in client.get("/ledger/settings").text
    login(client, "leader_a")
    assert client.get("/ledger/settings").status_code == 403


def _events(settings, concern_id: int) -> list[ConcernEvent]:  # type: ignore[no-untyped-def]
    async def work(db):  # type: ignore[no-untyped-def]
        return list(
            await db.scalars(
                select(ConcernEvent).where(ConcernEvent.concern_id == concern_id).order_by(ConcernEvent.id)
            )
        )

    return with_db(settings, work)


def test_overdue_is_urged_then_escalated_one_level_up(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    today = date(2025, 3, 20)  # Thursday
    # No owner: the responsible unit is the village (东风村委会) → escalated to 甲镇.
    village_item = make_concern(
        settings, world, state="assigned", **dict(STATE_FIELDS["assigned"], deadline=date(2025, 3, 18))
    )
    # Owned by cadre_a of 甲镇 → escalated to the county.
    town_item = make_concern(
        settings,
        world,
        state="in_progress",
        owner_id=world.users["cadre_a"],
        **dict(STATE_FIELDS["in_progress"], deadline=date(2025, 3, 14)),
    )
    fresh = make_concern(settings, world, state="assigned", **dict(STATE_FIELDS["assigned"], deadline=today))

    def sweep(day: date):  # type: ignore[no-untyped-def]
        return with_db(settings, lambda db: reminders.sweep(db, day))

    assert sweep(today) == (2, 1)  # both urged; only the one 4 working days late is escalated
    town = get_concern(settings, town_item.id)
    assert town.urged_at is not None and town.escalated_unit_id == world.units["county"]
    village = get_concern(settings, village_item.id)
    assert village.urged_at is not None and village.escalated_unit_id is None
    assert get_concern(settings, fresh.id).urged_at is None
    assert sweep(today) == (0, 0)  # idempotent
    # Three more working days: the village item goes up to 甲镇; the county has no parent.
    # fresh (due 3-20) is now urged and, 3 working days late, escalated like the village item.
    assert sweep(date(2025, 3, 25)) == (1, 2)
    assert get_concern(settings, village_item.id).escalated_unit_id == world.units["town_a"]
    assert get_concern(settings, fresh.id).escalated_unit_id == world.units["town_a"]
    assert get_concern(settings, town_item.id).escalated_unit_id == world.units["county"]
    actions = [e.action for e in _events(settings, village_item.id)]
    assert actions == ["auto_urge", "escalate"]
    assert "上报甲镇督办" in _events(settings, village_item.id)[1].note
    # 甲镇's leader sees it on the 上级督办 list; the county-level item is not on it.
    login(client, "leader_a")
    page = client.get("/ledger?list=task&status=escalated").text
    assert f'href="/ledger/{village_item.id}"' in page and f'href="/ledger/{town_item.id}"' not in page
    assert "上级督办" in BeautifulSoup(client.get("/ledger").text, "html.parser").select_one(".escalated").get_text()


def test_overdue_counts_and_filters(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    def assigned(days: int):  # type: ignore[no-untyped-def]
        deadline = local_today() + timedelta(days=days)
        fields = dict(STATE_FIELDS["assigned"], deadline=deadline, owner_id=world.users["cadre_a2"])
        return make_concern(settings, world, state="assigned", **fields)

    late, soon, later = assigned(-1), assigned(0), assigned(30)
    login(client, "leader_a")
    overdue = client.get("/ledger?list=task&status=overdue").text
    assert f'href="/ledger/{late.id}"' in overdue and f'href="/ledger/{soon.id}"' not in overdue
    due = client.get("/ledger?list=task&status=due_soon").text
    assert f'href="/ledger/{soon.id}"' in due and f'href="/ledger/{later.id}"' not in due
    soup = BeautifulSoup(client.get("/ledger?list=task").text, "html.parser")
    assert "超期 1" in soup.select_one(".counts").get_text(" ", strip=True)
    assert "催办" in client.get(f"/ledger/{late.id}").text  # the page load swept it
    assert "我负责办理" not in client.get("/ledger").text  # nothing is the leader's own
    login(client, "cadre_a2")
    mine = BeautifulSoup(client.get("/ledger").text, "html.parser").select_one(".mine").get_text()
    assert mine == "我负责办理 3 条，即将到期 1 条，已超期 1 条"


def test_extension_requests(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    deadline = local_today() + timedelta(days=5)
    concern = make_concern(
        settings,
        world,
        state="in_progress",
        owner_id=world.users["cadre_a"],
        **dict(STATE_FIELDS["in_progress"], deadline=deadline),
    )

    def ask(username: str, version: int, new: date, reason: str = "需等待材料"):  # type: ignore[no-untyped-def]
        async def work(db):  # type: ignore[no-untyped-def]
            return await reminders.request_extension(db, await viewer(db, username), concern.id, version, new, reason)

        return with_db(settings, work)

    from server.errors import AppError

    with pytest.raises(AppError, match="晚于原时限"):
        ask("cadre_a", 1, deadline)
    with pytest.raises(AppError, match="理由"):
        ask("cadre_a", 1, deadline + timedelta(days=3), " ")
    with pytest.raises(AppError, match="责任人或班子成员"):
        ask("cadre_a2", 1, deadline + timedelta(days=3))
    request = ask("cadre_a", 1, deadline + timedelta(days=3))
    with pytest.raises(AppError, match="等待审批"):
        ask("cadre_a", 2, deadline + timedelta(days=4))
    login(client, "cadre_a")
    url = f"/ledger/{concern.id}/extension/{request.id}"
    refused = client.post(url, data={"_csrf": csrf(client), "version": "2", "decision": "approve"})
    assert refused.status_code == 403
    login(client, "leader_a")
    ok = client.post(url, data={"_csrf": csrf(client), "version": "2", "decision": "approve"}, follow_redirects=False)
    assert ok.status_code == 303
    assert get_concern(settings, concern.id).deadline == deadline + timedelta(days=3)
    # After the deadline has passed no extension can be asked for.
    late = make_concern(
        settings,
        world,
        state="in_progress",
        owner_id=world.users["cadre_a"],
        **dict(STATE_FIELDS["in_progress"], deadline=local_today() - timedelta(days=1)),
    )

    async def late_ask(db):  # type: ignore[no-untyped-def]
        return await reminders.request_extension(
            db, await viewer(db, "cadre_a"), late.id, 1, local_today() + timedelta(days=9), "x"
        )

    with pytest.raises(AppError, match="超过办理时限"):
        with_db(settings, late_ask)
