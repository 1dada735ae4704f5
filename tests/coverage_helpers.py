"""Helpers for the coverage tests: constructed visits/check-ins at exact local times, and calling
coverage services on the test database (real SQLite file, real services)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer, viewer_of
from server.config import Settings
from server.places.models import Assignment
from server.visits.models import CheckIn, Visit
from tests.factories import local, with_db

T = TypeVar("T")
CAMPAIGN_START = date(2026, 1, 1)






def add_rows(settings: Settings, rows: list[Any]) -> None:
    async def work(db: AsyncSession) -> None:
        db.add_all(rows)
        await db.commit()

    with_db(settings, work)


def visit(user_id: int, target_id: int, at: str, lat: float | None = None, lon: float | None = None) -> Visit:
    return Visit(uuid=str(uuid.uuid4()), user_id=user_id, target_id=target_id, visited_at=local(at), lat=lat, lon=lon)


def checkin(user_id: int, target_id: int, at: str, lat: float, lon: float) -> CheckIn:
    return CheckIn(
        uuid=str(uuid.uuid4()), user_id=user_id, target_id=target_id, lat=lat, lon=lon, device_time=local(at)
    )


def assignments_since(settings: Settings, start: date = CAMPAIGN_START) -> None:
    """Move the world's assignment start dates back so fixed 2026 dates fall inside them."""

    async def work(db: AsyncSession) -> None:
        await db.execute(update(Assignment).values(start_date=start))
        await db.commit()

    with_db(settings, work)


def call(settings: Settings, username_id: int, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Call a coverage service as the user with id ``username_id``."""

    async def work(db: AsyncSession) -> T:
        user = await db.get(User, username_id)
        assert user is not None
        unit = await db.get(OrgUnit, user.org_unit_id)
        viewer: Viewer = viewer_of(user, unit)  # type: ignore[arg-type]
        return await fn(db, viewer, *args)

    return with_db(settings, work)
