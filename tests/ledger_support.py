"""Helpers for the ledger tests: run code against the test database, put concerns in a given state."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer, viewer_of
from server.clock import utcnow
from server.config import Settings
from server.ledger.models import Concern
from server.places.models import Target
from tests.factories import World, with_db

T = TypeVar("T")




async def viewer(db: AsyncSession, username: str) -> Viewer:
    user = await db.scalar(select(User).where(User.username == username))
    assert user is not None
    unit = await db.get(OrgUnit, user.org_unit_id)
    assert unit is not None
    return viewer_of(user, unit)


def make_concern(
    settings: Settings,
    world: World,
    *,
    target: str = "house_1",
    text: str = "村口路灯坏了，晚上出行不便",
    category: str = "problem",
    raised_by: str = "cadre_a",
    **fields: Any,
) -> Concern:
    """A concern in any state (fields set directly: this is test setup, the transitions are what is tested)."""

    async def work(db: AsyncSession) -> Concern:
        t = await db.get(Target, world.targets[target])
        assert t is not None
        concern = Concern(
            uuid=str(uuid.uuid4()),
            target_id=t.id,
            org_unit_id=t.org_unit_id,  # type: ignore[arg-type]
            raised_by_id=world.users[raised_by],
            text=text,
            category=category,
            created_at=utcnow(),
        )
        for key, value in fields.items():
            setattr(concern, key, value)
        db.add(concern)
        await db.commit()
        return concern

    return with_db(settings, work)


def get_concern(settings: Settings, concern_id: int) -> Concern:
    async def work(db: AsyncSession) -> Concern:
        concern = await db.get(Concern, concern_id)
        assert concern is not None
        return concern

    return with_db(settings, work)


# Fields a concern needs to be "in" each state (the lifecycle would have set them).
STATE_FIELDS: dict[str, dict[str, Any]] = {
    "registered": {},
    "accepted": {"domain": "infrastructure", "level": "village"},
    "assigned": {"domain": "infrastructure", "level": "village", "deadline": date(2099, 1, 1)},
    "in_progress": {"domain": "infrastructure", "level": "village", "deadline": date(2099, 1, 1)},
    "pending_review": {"domain": "infrastructure", "level": "village", "deadline": date(2099, 1, 1)},
    "closed": {"domain": "infrastructure", "level": "village", "close_reason": "solved"},
}
