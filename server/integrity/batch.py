"""Integrity checks for a whole sync batch of new visits and check-ins (``sync.bulk``).

The single-visit path (``checks.load_evidence``) loads a visit's evidence with a few narrow queries; here
the same evidence is loaded for every visit of the batch with a handful of queries (links and photos, the
cadre's field visits in a window around the batch, the last one before it, exact-coordinate twins, dHash
look-alikes), and every visit goes through the same ``checks.findings_from``. Each visit sees only rows
recorded before it (smaller id), as it would had the batch been recorded item by item.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import literal_column, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.clock import to_utc
from server.config import Settings
from server.integrity.checks import (
    DHASH_CHUNKS,
    FIELD_TYPES,
    Evidence,
    checkin_findings,
    dhash_chunks,
    findings_from,
    look_alike_rows,
    usable_dhash,
)
from server.integrity.models import IntegrityFlag
from server.integrity.service import new_flag
from server.places.models import Target
from server.visits.models import CheckIn, Photo, Visit, VisitPhoto

WINDOW_MARGIN = timedelta(days=1)  # more than BURST_WINDOW; the speed check's older legs come from one more query


async def batch_flags(
    db: AsyncSession, visits: list[Visit], checkins: list[CheckIn], targets: dict[int, Target], settings: Settings
) -> list[IntegrityFlag]:
    """The flag rows of new, flushed visits and check-ins (ids set); the caller adds them and commits."""
    flags = []
    for checkin in checkins:
        target = targets[checkin.target_id]
        for finding in await checkin_findings(checkin, target):
            flags.append(
                new_flag(finding, user_id=checkin.user_id, target=target, at=checkin.device_time, checkin_id=checkin.id)
            )
    evidence = await load_batch_evidence(db, visits)
    for visit in visits:
        target = targets[visit.target_id]
        for finding in findings_from(visit, target, settings, evidence[visit.id]):  # type: ignore[index]
            flags.append(
                new_flag(finding, user_id=visit.user_id, target=target, at=visit.visited_at, visit_id=visit.id)
            )
    return flags


async def load_batch_evidence(db: AsyncSession, visits: list[Visit]) -> dict[int, Evidence]:
    """``checks.load_evidence`` for many visits at once, by visit id."""
    if not visits:
        return {}
    photos, links = await _photos(db, [v.id for v in visits])  # type: ignore[misc]
    look_alikes = await _look_alikes(db, [p for ps in photos.values() for p in ps], max(v.id for v in visits))  # type: ignore[type-var]
    by_user: dict[int, list[Visit]] = defaultdict(list)
    for visit in visits:
        if visit.visit_type in FIELD_TYPES:
            by_user[visit.user_id].append(visit)
    others: dict[int, list[Visit]] = {}
    for user_id, field_visits in by_user.items():
        others[user_id] = sorted(await _field_rows(db, user_id, field_visits), key=lambda r: r.id)  # type: ignore[arg-type, return-value]
    evidence = {}
    for visit in visits:
        found = Evidence(photos.get(visit.id, []), links.get(visit.id, 0))  # type: ignore[arg-type]
        if visit.visit_type in FIELD_TYPES:
            found.earlier = [r for r in others[visit.user_id] if r.id < visit.id]  # type: ignore[operator]
        found.look_alikes = [row for row in look_alikes if row[1].id < visit.id]  # type: ignore[operator]
        evidence[visit.id] = found
    return evidence  # type: ignore[return-value]


async def _photos(db: AsyncSession, visit_ids: list[int]) -> tuple[dict[int, list[Photo]], dict[int, int]]:
    """Arrived photos in link order and the number of links, per visit: one query."""
    rows = await db.execute(
        select(VisitPhoto.visit_id, Photo)
        .outerjoin(Photo, Photo.uuid == VisitPhoto.photo_uuid)
        .where(VisitPhoto.visit_id.in_(visit_ids))  # type: ignore[attr-defined]
        .order_by(VisitPhoto.visit_id, VisitPhoto.position)
    )
    photos: dict[int, list[Photo]] = defaultdict(list)
    links: dict[int, int] = defaultdict(int)
    for visit_id, photo in rows.all():
        links[visit_id] += 1
        if photo is not None:
            photos[visit_id].append(photo)
    return photos, links


async def _field_rows(db: AsyncSession, user_id: int, visits: list[Visit]) -> list[Visit]:
    """The cadre's field visits the checks may compare the batch with: those in a window around the batch
    (speed, burst), the last located one before the window (speed), and exact-coordinate matches (any time)."""
    times = [to_utc(v.visited_at) for v in visits]
    low, high = min(times) - WINDOW_MARGIN, max(times) + WINDOW_MARGIN
    mine = select(Visit).where(Visit.user_id == user_id, Visit.visit_type.in_(FIELD_TYPES))  # type: ignore[attr-defined]
    rows = {r.id: r for r in await db.scalars(mine.where(Visit.visited_at >= low, Visit.visited_at <= high))}
    before = await db.scalar(
        mine.where(Visit.lat.is_not(None), Visit.visited_at < low)  # type: ignore[union-attr]
        .order_by(Visit.visited_at.desc(), Visit.id.desc())  # type: ignore[attr-defined, union-attr]
        .limit(1)
    )
    if before is not None:
        rows[before.id] = before
    lats = sorted({v.lat for v in visits if v.lat is not None})
    for start in range(0, len(lats), 400):
        for row in await db.scalars(mine.where(Visit.lat.in_(lats[start : start + 400]))):  # type: ignore[union-attr]
            rows[row.id] = row
    return list(rows.values())


async def _look_alikes(db: AsyncSession, photos: list[Photo], below_id: int) -> list[tuple[str, Visit, str]]:
    """(dHash, visit, author) of earlier visits' photos sharing a 16-bit chunk with any photo of the batch."""
    hashes = {p.dhash for p in photos if usable_dhash(p.dhash)}
    if not hashes:
        return []
    chunks: list[set[str]] = [set() for _ in range(DHASH_CHUNKS)]
    for dhash in hashes:
        for k, chunk in enumerate(dhash_chunks(dhash)):  # type: ignore[arg-type]
            chunks[k].add(chunk)
    same_chunk = or_(
        *(literal_column(f"substr(photo.dhash, {1 + 4 * k}, 4)").in_(sorted(chunks[k])) for k in range(DHASH_CHUNKS))
    )
    rows = await db.execute(look_alike_rows(same_chunk, below_id))
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]
