"""``visited_month``: the database's triggers keep one row per (local month, visited target) whatever
writes the visits, and a whole-month report's space pass, which counts those rows, gives what probing
every target's visits gives."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.config import Settings
from server.coverage.compute import _probed_rows, space_rows
from server.coverage.models import VisitedMonth
from server.places.models import Target
from server.visits.models import Visit
from tests.coverage_helpers import add_rows, checkin, visit
from tests.factories import VILLAGE_B, World, local, with_db


def months_of(settings: Settings) -> set[tuple[int, int, int, str]]:
    async def work(db: AsyncSession) -> set[tuple[int, int, int, str]]:
        rows = await db.execute(
            select(VisitedMonth.month, VisitedMonth.target_id, VisitedMonth.org_unit_id, VisitedMonth.kind)
        )
        return {(int(m), int(t), int(u), str(k)) for m, t, u, k in rows.all()}

    return with_db(settings, work)


def test_rows_follow_visits_inserted_deleted_moved_and_targets_moved(settings: Settings, world: World) -> None:
    u, t, units = world.users, world.targets, world.units
    h1, h2 = t["house_1"], t["house_2"]
    add_rows(
        settings,
        [
            visit(u["cadre_a"], h1, "2026-10-31 23:30"),  # 15:30 UTC on the 31st: October, local time
            visit(u["cadre_a"], h1, "2026-10-05 10:00"),
            visit(u["cadre_b"], h1, "2026-11-01 00:10"),  # still 31 October in UTC: November
            visit(u["cadre_a"], h2, "2026-12-31 23:59"),
        ],
    )
    vil_a = units["vil_a"]
    assert months_of(settings) == {
        (202610, h1, vil_a, "household"),
        (202611, h1, vil_a, "household"),
        (202612, h2, vil_a, "household"),
    }

    async def edit(db: AsyncSession) -> None:  # one of house_1's two October visits goes: October stays
        await db.execute(delete(Visit).where(Visit.visited_at == local("2026-10-05 10:00")))
        await db.commit()

    with_db(settings, edit)
    assert (202610, h1, vil_a, "household") in months_of(settings)

    async def edit_more(db: AsyncSession) -> None:
        await db.execute(delete(Visit).where(Visit.visited_at == local("2026-10-31 23:30")))  # the last in October
        await db.execute(  # December's visit is re-dated into January and moved to house_1
            update(Visit)
            .where(Visit.target_id == h2)
            .values(visited_at=local("2027-01-01 00:00"), target_id=h1)
        )
        await db.execute(update(Target).where(Target.id == h1).values(org_unit_id=units["vil_b"]))
        await db.commit()

    with_db(settings, edit_more)
    assert months_of(settings) == {(202611, h1, units["vil_b"], "household"), (202701, h1, units["vil_b"], "household")}


@pytest.mark.parametrize(
    "window",
    [
        (date(2026, 10, 1), date(2026, 10, 31)),
        (date(2026, 9, 1), date(2026, 10, 31)),
        (date(2026, 11, 1), date(2026, 11, 30)),
        (date(2026, 10, 2), date(2026, 10, 31)),  # not whole months: probed, as a control
    ],
)
def test_whole_month_space_equals_probing_every_target(
    settings: Settings, world: World, window: tuple[date, date]
) -> None:
    u, t = world.users, world.targets
    add_rows(
        settings,
        [
            visit(u["cadre_a"], t["house_1"], "2026-10-31 23:30"),
            visit(u["cadre_b"], t["house_2"], "2026-11-01 00:10"),  # somebody else's household counts too
            visit(u["cadre_a"], t["house_3"], "2026-09-30 23:59"),
            visit(u["cadre_a"], t["house_3"], "2026-10-01 00:00"),
            checkin(u["cadre_b"], t["village_b"], "2026-10-15 09:00", VILLAGE_B[0], VILLAGE_B[1]),
        ],
    )

    async def both(db: AsyncSession) -> tuple[list[tuple[int, str, int, int]], list[tuple[int, str, int, int]]]:
        county = await db.get(OrgUnit, world.units["county"])
        assert county is not None
        units = select(OrgUnit.id).where(OrgUnit.path.startswith(county.path))  # type: ignore[attr-defined]
        fast = await space_rows(db, county.path, *window)
        probed = await _probed_rows(db, *window, Target.org_unit_id.in_(units))  # type: ignore[attr-defined]
        return sorted(fast), sorted(probed)

    fast, probed = with_db(settings, both)
    assert fast == probed
    assert sum(row[3] for row in fast) > 0  # something is covered in every window: the comparison has teeth
