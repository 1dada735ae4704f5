"""A small, hand-made world for tests, built through the real services (no mocks).

县 → 甲镇 (village 东风村 with 3 households, enterprise 茶厂) and 乙镇 (village 西河村 with 1 household).
cadre_a works in 甲镇 and is assigned everything there; cadre_b works in 乙镇. Password: secret-pass-1.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from PIL import Image
from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts import service as accounts
from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer, viewer_of
from server.clock import LOCAL, local_today, to_utc
from server.config import Settings
from server.db import create_engine, session_maker
from server.places.models import Assignment, Target

PASSWORD = "secret-pass-1"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in its own thread (safe while Playwright's loop is running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def with_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` with a session on the test's database (a fresh engine, its own event loop)."""

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with session_maker(engine)() as db:
                return await work(db)
        finally:
            await engine.dispose()

    return run(go())


def count(settings: Settings, model: type) -> int:
    """How many rows a table holds (for "nothing was saved" assertions)."""

    async def work(db: AsyncSession) -> int:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)

    return with_db(settings, work)


async def viewer_for(db: AsyncSession, user_id: int) -> Viewer:
    """The ``Viewer`` a logged-in user is, for calling services directly."""
    user = await db.get(User, user_id)
    assert user is not None
    unit = await db.get(OrgUnit, user.org_unit_id)
    assert unit is not None
    return viewer_of(user, unit)


def local(text: str) -> datetime:
    """'2026-10-31 23:30' Asia/Shanghai → aware UTC."""
    return to_utc(datetime.fromisoformat(text).replace(tzinfo=LOCAL))
T = TypeVar("T")
VILLAGE_A = (29.6200, 114.1000)
VILLAGE_B = (29.4300, 114.0000)


@dataclass
class World:
    units: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    targets: dict[str, int] = field(default_factory=dict)


async def build_world(url: str) -> World:
    engine = create_engine(url)
    world = World()
    try:
        async with session_maker(engine)() as db:
            county = await accounts.create_unit(db, "测试县", "county", None, "county")
            town_a = await accounts.create_unit(db, "甲镇", "town", county, "town-a")
            town_b = await accounts.create_unit(db, "乙镇", "town", county, "town-b")
            vil_a = await accounts.create_unit(db, "东风村委会", "village", town_a, "vil-a")
            vil_b = await accounts.create_unit(db, "西河村委会", "village", town_b, "vil-b")
            world.units = {
                "county": county.id,
                "town_a": town_a.id,
                "town_b": town_b.id,  # type: ignore[dict-item]
                "vil_a": vil_a.id,
                "vil_b": vil_b.id,
            }
            people = [
                ("cadre_a", "cadre", town_a, "王干部"),
                ("cadre_a2", "cadre", town_a, "李干部"),
                ("cadre_b", "cadre", town_b, "张干部"),
                ("leader_a", "leader", town_a, "赵书记"),
                ("super", "supervisor", county, "钱督导"),
                ("admin", "admin", county, "管理员"),
            ]
            for username, role, unit, name in people:
                user = await accounts.create_user(db, username, PASSWORD, role, unit, name)
                world.users[username] = user.id  # type: ignore[assignment]
            await _targets(db, world, vil_a, vil_b, town_a)
            await db.commit()
    finally:
        await engine.dispose()
    return world


async def _targets(db, world: World, vil_a: OrgUnit, vil_b: OrgUnit, town_a: OrgUnit) -> None:  # type: ignore[no-untyped-def]
    def add(key: str, **kw) -> Target:  # type: ignore[no-untyped-def]
        target = Target(code=key, **kw)
        db.add(target)
        return target

    village_a = add(
        "village_a", kind="village", name="东风村", org_unit_id=vil_a.id, lat=VILLAGE_A[0], lon=VILLAGE_A[1]
    )
    village_b = add(
        "village_b", kind="village", name="西河村", org_unit_id=vil_b.id, lat=VILLAGE_B[0], lon=VILLAGE_B[1]
    )
    await db.flush()
    rows = {
        "village_a": village_a,
        "village_b": village_b,
        # house_1 is nearest to the village centre, house_3 farthest.
        "house_1": add(
            "house_1",
            kind="household",
            name="东风村一组1号",
            head_name="刘大山",
            org_unit_id=vil_a.id,
            village_id=village_a.id,
            lat=VILLAGE_A[0] + 0.001,
            lon=VILLAGE_A[1],
            phone="13800001111",
            id_number="421223196501011234",
            address="东风村一组1号",
            group_name="一组",
            members=4,
        ),
        "house_2": add(
            "house_2",
            kind="household",
            name="东风村二组5号",
            head_name="陈小梅",
            org_unit_id=vil_a.id,
            village_id=village_a.id,
            lat=VILLAGE_A[0] + 0.01,
            lon=VILLAGE_A[1],
            phone="13900002222",
        ),
        "house_3": add(
            "house_3",
            kind="household",
            name="东风村三组9号",
            head_name="周国强",
            org_unit_id=vil_a.id,
            village_id=village_a.id,
            lat=VILLAGE_A[0] + 0.03,
            lon=VILLAGE_A[1] + 0.01,
        ),
        "house_b": add(
            "house_b",
            kind="household",
            name="西河村一组2号",
            head_name="吴秀英",
            org_unit_id=vil_b.id,
            village_id=village_b.id,
            lat=VILLAGE_B[0] + 0.001,
            lon=VILLAGE_B[1],
            phone="13700003333",
        ),
        "factory": add(
            "factory",
            kind="enterprise",
            name="东风茶厂",
            org_unit_id=town_a.id,
            village_id=village_a.id,
            lat=VILLAGE_A[0] - 0.005,
            lon=VILLAGE_A[1] + 0.005,
            industry="茶叶",
            is_key=True,
        ),
    }
    await db.flush()
    world.targets = {k: v.id for k, v in rows.items()}
    start = local_today() - timedelta(days=60)
    for key in ("village_a", "house_1", "house_2", "house_3", "factory"):
        db.add(Assignment(user_id=world.users["cadre_a"], target_id=rows[key].id, kind="bao", start_date=start))
    for key in ("village_b", "house_b"):
        db.add(Assignment(user_id=world.users["cadre_b"], target_id=rows[key].id, kind="bao", start_date=start))
    db.add(Assignment(user_id=world.users["leader_a"], target_id=rows["village_a"].id, kind="lian", start_date=start))
    # An assignment that ended: cadre_a2 no longer covers house_3.
    db.add(
        Assignment(
            user_id=world.users["cadre_a2"],
            target_id=rows["house_3"].id,
            kind="bao",
            start_date=start,
            end_date=date.today() - timedelta(days=10),
        )
    )


def jpeg_bytes(width: int = 800, height: int = 600, color: tuple[int, int, int] = (120, 160, 90)) -> bytes:
    """A small real JPEG with some structure (so its perceptual hash is meaningful)."""
    img = Image.new("RGB", (width, height), color)
    for i in range(0, width, 40):
        for j in range(0, height, 40):
            if (i // 40 + j // 40) % 2:
                img.paste((color[2], color[0], color[1]), (i, j, i + 40, j + 40))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()
