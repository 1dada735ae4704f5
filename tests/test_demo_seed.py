"""Demo seed (崇阳县): counts, idempotence, determinism and the sanity of the generated data."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import verify_password
from server.clock import to_local
from server.db import create_engine, migrate, session_maker
from server.demo.seed import SeedSummary, seed_demo
from server.ledger.models import Concern
from server.places.models import Assignment, Target
from server.visits.models import CheckIn, Visit
from tests.factories import run as run_coro

TODAY = date(2025, 3, 17)
T = TypeVar("T")


def run(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` with a session on a fresh engine (its own event loop)."""

    async def main() -> T:
        engine = create_engine(url)
        try:
            async with session_maker(engine)() as db:
                return await work(db)
        finally:
            await engine.dispose()

    return run_coro(main())


def seeded_db(path: Path) -> tuple[str, SeedSummary]:
    url = f"sqlite+aiosqlite:///{path}"
    migrate(url)
    return url, run(url, lambda db: seed_demo(db, today=TODAY))


def rows(url: str, statement: Any) -> list[Any]:
    async def work(db: AsyncSession) -> list[Any]:
        return list((await db.execute(statement)).all())

    return run(url, work)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, SeedSummary]:
    return seeded_db(tmp_path_factory.mktemp("demo") / "demo.db")


def table_counts(url: str) -> dict[str, int]:
    models = (OrgUnit, User, Target, Assignment, CheckIn, Visit, Concern)
    return {m.__name__: rows(url, select(func.count()).select_from(m))[0][0] for m in models}


def test_counts(seeded: tuple[str, SeedSummary]) -> None:
    url, summary = seeded
    assert summary.created
    units = Counter(kind for (kind,) in rows(url, select(OrgUnit.kind)))
    targets = Counter(kind for (kind,) in rows(url, select(Target.kind)))
    assert units["county"] == 1 and units["town"] >= 2 and units["bureau"] >= 1
    assert 10 <= targets["village"] <= 12 == units["village"]
    assert 550 <= targets["household"] <= 650
    assert (targets["enterprise"], targets["driver"], targets["project"]) == (30, 15, 3)
    assert table_counts(url)["User"] == 17 == summary.users == len(summary.logins)
    assert (summary.households, summary.enterprises, summary.villages) == (
        targets["household"],
        30,
        targets["village"],
    )
    assert summary.visits > 500 and summary.checkins > 100 and summary.concerns > 30
    logins = {login[0]: login[1:3] for login in summary.logins}
    assert logins["cadre01"] == ("干部", "天城镇") and logins["supervisor01"] == ("督导", "崇阳县")


def test_second_run_adds_nothing(seeded: tuple[str, SeedSummary]) -> None:
    url, first = seeded
    before = table_counts(url)
    again = run(url, lambda db: seed_demo(db, today=TODAY))
    assert not again.created
    assert table_counts(url) == before
    assert (again.households, again.visits, again.logins) == (first.households, first.visits, first.logins)


def test_deterministic(seeded: tuple[str, SeedSummary], tmp_path: Path) -> None:
    url, _ = seeded
    other, _ = seeded_db(tmp_path / "again.db")
    households = select(Target.code, Target.head_name, Target.lat, Target.lon, Target.id_number).where(
        Target.kind == "household"
    )
    visits = select(Visit.uuid, Visit.visited_at, Visit.lat, Visit.lon, Visit.notes).order_by(Visit.uuid)
    assert rows(url, households.order_by(Target.code)) == rows(other, households.order_by(Target.code))
    assert rows(url, visits) == rows(other, visits)


def inside(lon: float, lat: float, ring: list[list[float]]) -> bool:
    hit = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def test_households_inside_their_village(seeded: tuple[str, SeedSummary]) -> None:
    url, _ = seeded
    villages = {
        tid: json.loads(b)
        for tid, b in rows(url, select(Target.id, Target.boundary).where(Target.kind == "village"))
    }
    for geometry in villages.values():
        ring = geometry["coordinates"][0]
        assert geometry["type"] == "Polygon" and ring[0] == ring[-1] and 9 <= len(ring) <= 13
    households = rows(
        url, select(Target.village_id, Target.lon, Target.lat).where(Target.kind == "household")
    )
    outside = [h for h in households if not inside(h[1], h[2], villages[h[0]]["coordinates"][0])]
    assert households and not outside


def test_id_numbers_and_phones(seeded: tuple[str, SeedSummary]) -> None:
    url, _ = seeded
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    for id_number, phone in rows(
        url, select(Target.id_number, Target.phone).where(Target.kind == "household")
    ):
        assert re.fullmatch(r"421223\d{11}[\dX]", id_number), id_number
        assert (
            "10X98765432"[sum(int(d) * w for d, w in zip(id_number, weights, strict=False)) % 11]
            == id_number[17]
        )
        assert datetime.strptime(id_number[6:14], "%Y%m%d").date() < TODAY
        assert re.fullmatch(r"1[358]\d{9}", phone)


def test_assignments(seeded: tuple[str, SeedSummary]) -> None:
    url, _ = seeded
    targets = {
        code: (kind, is_key, is_transport)
        for code, kind, is_key, is_transport in rows(
            url, select(Target.code, Target.kind, Target.is_key, Target.is_transport)
        )
    }
    holders: dict[str, list[tuple[str, str]]] = {code: [] for code in targets}
    for code, role, kind in rows(
        url,
        select(Target.code, User.role, Assignment.kind)
        .join(Assignment, Assignment.target_id == Target.id)
        .join(User, User.id == Assignment.user_id),
    ):
        holders[code].append((role, kind))

    def of_kind(kind: str) -> list[str]:
        return [code for code, (k, _, _) in targets.items() if k == kind]

    transport_key = [c for c in of_kind("enterprise") if targets[c][1] and targets[c][2]]
    assert len(transport_key) >= 6
    assert all(holders[c] == [("cadre", "bao")] for c in transport_key)
    assert all(holders[c] == [("cadre", "bao")] for c in of_kind("household"))
    assert all(sorted(holders[c]) == [("cadre", "bao"), ("leader", "lian")] for c in of_kind("village"))
    unassigned = [c for c in of_kind("enterprise") if not holders[c]]
    assert 1 <= len(unassigned) <= 2 and not any(targets[c][1] for c in unassigned)
    assert all(("leader", "lian") in holders[c] for c in of_kind("project"))


def test_visit_history(seeded: tuple[str, SeedSummary]) -> None:
    url, _ = seeded
    visits = rows(
        url, select(Visit.visited_at, Visit.received_at, Visit.target_id, Visit.distance_m, Visit.accuracy)
    )
    for visited_at, received_at, *_ in visits:
        local = to_local(visited_at)
        assert local is not None and local.date() < TODAY and time(8) <= local.time() <= time(18)
        assert received_at > visited_at
    for (device_time,) in rows(url, select(CheckIn.device_time)):
        local = to_local(device_time)
        assert local is not None and local.date() < TODAY and time(8) <= local.time() <= time(18)
    visited = {v[2] for v in visits}
    households = {tid for (tid,) in rows(url, select(Target.id).where(Target.kind == "household"))}
    assert households - visited, "some households are never visited"
    assert any(v[3] and v[3] > 2000 for v in visits) and any(v[4] == 0 for v in visits)
    assert rows(url, select(func.count()).select_from(CheckIn).where(col(CheckIn.off_site)))[0][0] > 0


def test_demo_password(seeded: tuple[str, SeedSummary]) -> None:
    url, _ = seeded
    [(password_hash,)] = rows(url, select(User.password_hash).where(User.username == "cadre01"))
    assert verify_password(password_hash, "minqing-demo")
    assert not verify_password(password_hash, "wrong-password")
