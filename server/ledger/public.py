"""公示: public, read-only boards per village and per unit, with residents' personal data redacted.

Names become 张** (surname kept), phone numbers, ID numbers and house addresses are never shown;
free text is scrubbed of any long digit run and of the names of the village's household heads.
Photos appear only when the concern is marked ``photos_public``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.errors import NotFound
from server.ledger.models import Concern
from server.places.models import Target
from server.visits.models import VisitPhoto

# Any run of 7+ digits (phones, ID numbers, bank cards, landlines), an ID number ending in X, and
# mobile numbers written with spaces or dashes (138 0000 1111).
_DIGITS = re.compile(r"1\d{2}[\s-]\d{4}[\s-]?\d{4}|\d{7,}[Xx]?")
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "令狐", "公孙", "慕容", "尉迟")
PUBLIC_LIMIT = 300


def mask_name(name: str | None) -> str:
    """张三丰 → 张**, 欧阳娜娜 → 欧阳**; empty stays empty."""
    name = (name or "").strip()
    if not name:
        return ""
    keep = 2 if name.startswith(COMPOUND_SURNAMES) and len(name) > 2 else 1
    return name[:keep] + "*" * max(1, len(name) - keep)


def scrub(text: str, names: list[str] | None = None) -> str:
    """Remove digit runs (phones, ID numbers) and replace known full names by their masked form."""
    text = _DIGITS.sub("***", text or "")
    for name in sorted({n for n in names or [] if n and len(n) >= 2}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    return text


@dataclass
class PublicItem:
    id: int
    who: str  # masked head name or the target's public name
    village: str
    text: str
    category: str
    state: str
    close_reason: str | None
    rating: str | None
    created_at: object
    photos: list[str] = field(default_factory=list)


@dataclass
class PublicBoard:
    title: str
    items: list[PublicItem]
    counts: dict[str, int]


def public_who(target: Target) -> str:
    """How a target is named in public: households as 张**户, drivers masked, others by their name."""
    if target.kind == "household":
        return f"{mask_name(target.head_name)}户" if target.head_name else "农户"
    if target.kind == "driver":
        return f"{mask_name(target.name)}（货车司机）"
    return target.name


async def _board(db: AsyncSession, title: str, where) -> PublicBoard:  # type: ignore[no-untyped-def]
    rows = (
        await db.execute(
            select(Concern, Target)
            .join(Target, Target.id == Concern.target_id)
            .join(OrgUnit, OrgUnit.id == Concern.org_unit_id)
            .where(where)
            .order_by(Concern.created_at.desc())  # type: ignore[attr-defined]
            .limit(PUBLIC_LIMIT)
        )
    ).all()
    village_ids = {t.village_id or t.id for _, t in rows}
    villages = (
        {t.id: t.name for t in await db.scalars(select(Target).where(Target.id.in_(village_ids)))} if rows else {}
    )  # type: ignore[attr-defined]
    heads = await _head_names(db, village_ids)
    photos = await _public_photos(db, [c for c, _ in rows])
    items = []
    counts: dict[str, int] = {}
    for concern, target in rows:
        counts[concern.state] = counts.get(concern.state, 0) + 1
        items.append(
            PublicItem(
                id=concern.id,  # type: ignore[arg-type]
                who=public_who(target),
                village=villages.get(target.village_id or target.id, ""),  # type: ignore[arg-type]
                text=scrub(concern.text, heads),
                category=concern.category,
                state=concern.state,
                close_reason=concern.close_reason,
                rating=concern.rating,
                created_at=concern.created_at,
                photos=photos.get(concern.id, []),  # type: ignore[arg-type]
            )
        )
    return PublicBoard(title, items, counts)


async def _head_names(db: AsyncSession, village_ids: set[int]) -> list[str]:
    """Every head name in these villages (and drivers' names), to scrub from free text."""
    if not village_ids:
        return []
    rows = await db.execute(
        select(Target.head_name, Target.name, Target.kind).where(
            or_(Target.village_id.in_(village_ids), Target.kind == "driver")  # type: ignore[union-attr]
        )
    )
    names = []
    for head, name, kind in rows.all():
        if head:
            names.append(head)
        if kind == "driver" and name:
            names.append(name)
    return names


async def _public_photos(db: AsyncSession, concerns: list[Concern]) -> dict[int, list[str]]:
    visible = {c.visit_id: c.id for c in concerns if c.photos_public and c.visit_id}
    if not visible:
        return {}
    result: dict[int, list[str]] = {}
    for link in await db.scalars(select(VisitPhoto).where(VisitPhoto.visit_id.in_(visible))):  # type: ignore[attr-defined]
        result.setdefault(visible[link.visit_id], []).append(link.photo_uuid)  # type: ignore[index]
    return result


async def public_photo_allowed(db: AsyncSession, photo_uuid: str) -> bool:
    """A photo may be served publicly only when a concern of its visit is marked public."""
    found = await db.scalar(
        select(Concern.id)
        .join(VisitPhoto, VisitPhoto.visit_id == Concern.visit_id)
        .where(VisitPhoto.photo_uuid == photo_uuid, Concern.photos_public.is_(True))  # type: ignore[attr-defined]
        .limit(1)
    )
    return found is not None


async def village_board(db: AsyncSession, village_id: int) -> PublicBoard:
    village = await db.get(Target, village_id)
    if village is None or village.kind != "village":
        raise NotFound("找不到这个村的公示栏。")
    where = or_(Target.id == village.id, Target.village_id == village.id)
    return await _board(db, f"{village.name} 民情办理公示", where)


async def unit_board(db: AsyncSession, unit_id: int) -> PublicBoard:
    unit = await db.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound("找不到这个单位的公示栏。")
    return await _board(db, f"{unit.name} 民情办理公示", OrgUnit.path.startswith(unit.path))  # type: ignore[attr-defined]


async def public_index(db: AsyncSession) -> tuple[list[OrgUnit], list[Target]]:
    units = list(await db.scalars(select(OrgUnit).where(OrgUnit.kind.in_(("county", "town"))).order_by(OrgUnit.path)))  # type: ignore[attr-defined]
    villages = list(await db.scalars(select(Target).where(Target.kind == "village").order_by(Target.name)))
    return units, villages
