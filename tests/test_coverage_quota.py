"""Quotas on a constructed dataset with hand-computed answers, including Asia/Shanghai month boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from server.config import Settings
from server.coverage.service import cadre_quota
from server.errors import AppError, NotFound
from server.places.models import Assignment
from tests.coverage_helpers import add_rows, assignments_since, call, visit
from tests.factories import World

OCT = (date(2026, 10, 1), date(2026, 10, 31))
NOV = (date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture
def boundary_visits(settings: Settings, world: World) -> World:
    """cadre_a (包保 house_1..3) visits house_1 at 10-31 23:30 and house_2 at 11-01 00:10 local time:
    both instants are on 31 October in UTC (15:30 and 16:10)."""
    assignments_since(settings)
    u, t = world.users["cadre_a"], world.targets
    add_rows(settings, [visit(u, t["house_1"], "2026-10-31 23:30"), visit(u, t["house_2"], "2026-11-01 00:10")])
    return world


def test_month_boundary_is_local_time(settings: Settings, boundary_visits: World) -> None:
    w = boundary_visits
    oct_q = call(settings, w.users["super"], cadre_quota, w.users["cadre_a"], *OCT)
    nov_q = call(settings, w.users["super"], cadre_quota, w.users["cadre_a"], *NOV)
    # Three households, one visit each month required; one of them visited in each month.
    assert (oct_q.required, oct_q.done, oct_q.visits, oct_q.met) == (3, 1, 1, False)
    assert (nov_q.required, nov_q.done, nov_q.visits, nov_q.met) == (3, 1, 1, False)
    assert [line.period for line in oct_q.lines] == ["2026年10月"]


def test_quota_met_and_extra_visits_count_once(settings: Settings, boundary_visits: World) -> None:
    w = boundary_visits
    u, t = w.users["cadre_a"], w.targets
    add_rows(
        settings,
        [
            visit(u, t["house_2"], "2026-10-03 09:00"),
            visit(u, t["house_3"], "2026-10-01 00:00"),
            visit(u, t["house_3"], "2026-10-20 10:00"),
        ],  # house_3 twice: still one of three
    )
    q = call(settings, w.users["super"], cadre_quota, u, *OCT)
    assert (q.required, q.done, q.visits, q.met) == (3, 3, 4, True)


def test_week_window_has_nothing_due_and_someone_elses_visit_does_not_count(
    settings: Settings, boundary_visits: World
) -> None:
    w = boundary_visits
    # cadre_b visits cadre_a's house_3: not cadre_a's work.
    add_rows(settings, [visit(w.users["cadre_b"], w.targets["house_3"], "2026-10-10 10:00")])
    q = call(settings, w.users["super"], cadre_quota, w.users["cadre_a"], *OCT)
    assert q.done == 1
    # A window in which no month ends: nothing is due, but went down → met.
    mid = call(settings, w.users["super"], cadre_quota, w.users["cadre_a"], date(2026, 10, 25), date(2026, 10, 31))
    assert (mid.required, mid.done, mid.visits, mid.met) == (3, 1, 1, False)
    early = call(settings, w.users["super"], cadre_quota, w.users["cadre_a"], date(2026, 10, 5), date(2026, 10, 11))
    assert (early.required, early.visits, early.met) == (0, 0, False)


def test_leader_quarter_and_meetings(settings: Settings, boundary_visits: World) -> None:
    """leader_a 联系 village_a: must visit its 3 households in Q4 (due in December), and attend
    4 meetings in 2026 (due in December too)."""
    w = boundary_visits
    lead, t = w.users["leader_a"], w.targets
    add_rows(
        settings,
        [
            visit(lead, t["house_1"], "2026-10-05 10:00"),
            visit(lead, t["house_1"], "2026-12-05 10:00"),
            visit(lead, t["house_3"], "2026-12-31 23:59"),
        ],
    )
    dec = call(settings, w.users["super"], cadre_quota, lead, date(2026, 12, 1), date(2026, 12, 31))
    household_lines = [line for line in dec.lines if "农户" in line.label]
    assert [(line.period, line.required, line.done) for line in household_lines] == [("2026年第4季度", 3, 2)]
    meeting_lines = [line for line in dec.lines if "说事会" in line.label]
    assert len(meeting_lines) == 1 and meeting_lines[0].period == "2026年"
    nov = call(settings, w.users["super"], cadre_quota, lead, *NOV)
    assert nov.lines == [] and nov.required == 0


def test_scope_and_bad_window(settings: Settings, boundary_visits: World) -> None:
    w = boundary_visits
    with pytest.raises(NotFound):
        call(settings, w.users["cadre_b"], cadre_quota, w.users["cadre_a"], *OCT)
    with pytest.raises(AppError) as err:
        call(settings, w.users["super"], cadre_quota, w.users["cadre_a"], date(2026, 11, 2), date(2026, 11, 1))
    assert err.value.status_code == 400


def test_campaign_rules_from_the_database(settings: Settings, boundary_visits: World) -> None:
    """A campaign (10-10 … 12-31) whose rule wants two visits a month: October is clipped to the
    campaign, a visit before it does not count, a third visit of the same household adds nothing."""
    from server.accounts.models import OrgUnit
    from server.coverage.models import CoverageRule, Phase
    from server.coverage.seed import add_default_campaign
    from tests.factories import with_db

    w = boundary_visits

    async def setup(db):  # type: ignore[no-untyped-def]
        county = await db.get(OrgUnit, w.units["county"])
        campaign = await add_default_campaign(db, county, date(2026, 10, 10), date(2026, 12, 31))
        rule = (await db.execute(select(CoverageRule).where(CoverageRule.campaign_id == campaign.id))).scalars().first()
        rule.min_count = 2
        phases = (await db.execute(select(Phase).order_by(Phase.position))).scalars().all()
        await db.commit()
        return [(p.name, p.start_date, p.end_date) for p in phases]

    phases = with_db(settings, setup)
    assert [p[0] for p in phases] == ["动员部署", "全面开展", "持续深化", "巩固提升"]
    assert phases[0][1] == date(2026, 10, 10) and phases[-1][2] == date(2026, 12, 31)
    assert all(a[2] + timedelta(days=1) == b[1] for a, b in zip(phases, phases[1:], strict=False))
    u, t = w.users["cadre_a"], w.targets
    add_rows(
        settings,
        [
            visit(u, t["house_1"], "2026-10-05 10:00"),
            visit(u, t["house_1"], "2026-10-20 10:00"),
            visit(u, t["house_1"], "2026-10-21 10:00"),
            visit(u, t["house_3"], "2026-10-15 10:00"),
        ],
    )
    q = call(settings, w.users["super"], cadre_quota, u, *OCT)
    # house_1: 10-20, 10-21, 10-31 → 2 of 2; house_2: 0 of 2; house_3: 1 of 2.
    assert (q.required, q.done) == (6, 3)
    assert q.lines[0].period == "10月10日–10月31日"


def test_a_repeated_assignment_counts_once(settings: Settings, boundary_visits: World) -> None:
    """cadre_a's 包保 of house_1 entered twice more (once still active, once ended in September):
    still three households required; with two visits a month required, house_1 counts 2, once."""
    from server.accounts.models import OrgUnit
    from server.coverage.models import CoverageRule
    from server.coverage.seed import add_default_campaign
    from tests.factories import with_db

    w = boundary_visits
    u, t = w.users["cadre_a"], w.targets
    add_rows(
        settings,
        [
            Assignment(user_id=u, target_id=t["house_1"], kind="bao", start_date=date(2026, 1, 1)),
            Assignment(
                user_id=u, target_id=t["house_1"], kind="bao", start_date=date(2026, 1, 1), end_date=date(2026, 9, 30)
            ),
            visit(u, t["house_1"], "2026-10-05 10:00"),
            visit(u, t["house_1"], "2026-10-06 10:00"),
        ],
    )
    q = call(settings, w.users["super"], cadre_quota, u, *OCT)
    assert (q.required, q.done) == (3, 1)  # house_1 (three October visits) once; house_2, house_3 not visited

    async def two_a_month(db):  # type: ignore[no-untyped-def]
        county = await db.get(OrgUnit, w.units["county"])
        campaign = await add_default_campaign(db, county, date(2026, 1, 1), date(2026, 12, 31))
        rule = (await db.execute(select(CoverageRule).where(CoverageRule.campaign_id == campaign.id))).scalars().first()
        rule.min_count = 2
        await db.commit()

    with_db(settings, two_a_month)
    q = call(settings, w.users["super"], cadre_quota, u, *OCT)
    assert (q.required, q.done) == (6, 2)  # house_1: 3 visits, capped at 2; the others none in October


@pytest.mark.parametrize("min_count", [1, 2])
def test_a_tally_in_parts_is_the_whole_tally(settings: Settings, boundary_visits: World, min_count: int) -> None:
    """The report splits each tally into ranges of user ids (``TallyCache.jobs``) that two connections
    share: the parts add up to the tally computed at once, a repeated assignment still counts once, for
    December's 包保 month and 包村领导 quarter alike."""
    from server.accounts.models import OrgUnit
    from server.coverage import periods
    from server.coverage.compute import Tally
    from server.coverage.quota import TallyCache
    from server.coverage.rules import rules_for
    from server.db import create_engine, read_session_maker, share_out, side_session
    from tests.factories import run

    w = boundary_visits
    u, t = w.users, w.targets
    add_rows(
        settings,
        [
            Assignment(user_id=u["cadre_a"], target_id=t["house_1"], kind="bao", start_date=date(2026, 1, 1)),
            Assignment(user_id=u["leader_a"], target_id=t["village_a"], kind="lian", start_date=date(2026, 1, 1)),
            visit(u["cadre_a"], t["house_1"], "2026-12-05 10:00"),
            visit(u["cadre_a"], t["house_1"], "2026-12-06 10:00"),
            visit(u["cadre_b"], t["house_b"], "2026-12-07 10:00"),
            visit(u["leader_a"], t["house_2"], "2026-11-07 10:00"),
        ],
    )
    first, last, today = date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 15)

    async def tallies() -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
        engine = create_engine(settings.database_url)
        try:
            async with read_session_maker(engine)() as db, side_session(db) as side:
                assert side is not None
                county = await db.get(OrgUnit, w.units["county"])
                ruleset = await rules_for(db, county.path, first, last)  # type: ignore[union-attr]
                for rule in ruleset.of_metric("visit"):
                    rule.min_count = min_count
                rules = ruleset.of_metric("visit")
                due = [(r, s) for r in rules for s in periods.due_periods(r.period, first, last, None)]
                whole = TallyCache(db, county.path, today)  # type: ignore[union-attr]
                at_once = {(r.label, s): await whole.get(r, s) for r, s in due}
                one = await TallyCache(db, county.path, today).jobs(ruleset, first, last, 8, part_users=7)  # type: ignore[union-attr]
                assert len(one) == 1 + len(due)  # six users: too few for parts of seven
                split = []
                for parts in (2, 3, 8):
                    cache = TallyCache(db, county.path, today)  # type: ignore[union-attr]
                    jobs = await cache.jobs(ruleset, first, last, parts)  # parts of one user or more
                    assert len(jobs) == 1 + len(due) * min(parts, 6)  # visit counts + parts (six users)
                    await share_out([db, side], jobs)
                    split.append({(r.label, s): await cache.get(r, s) for r, s in due})
                return at_once, split
        finally:
            await engine.dispose()

    at_once, split = run(tallies())
    assert all(s == at_once for s in split)
    month = next(v for (label, _), v in at_once.items() if "每月" in label)
    quarter = next(v for (label, _), v in at_once.items() if "每季度" in label)
    k = min_count
    assert month[u["cadre_a"]] == Tally(3 * k, min(2, k))  # house_1 twice (assigned twice), house_2, house_3 not
    assert month[u["cadre_b"]] == Tally(1 * k, 1)  # house_b (village_b is not a household)
    assert quarter[u["leader_a"]] == Tally(3 * k, 1)  # village_a's households (联系 twice), house_2 in November
