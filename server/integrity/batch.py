"""Integrity checks for a whole sync batch of new visits and check-ins (``sync.bulk``).

The single-visit path (``checks.load_evidence``) loads a visit's evidence with a few narrow queries; here
the same evidence is loaded for every visit of the batch with a handful of queries (links and photos, the
cadre's field visits in a window around the batch, the last one before it, exact-coordinate twins, dHash
look-alikes), and every visit goes through the same ``checks.findings_from``. Each visit sees only rows
recorded before it (smaller id), as it would had the batch been recorded item by item.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import func, literal_column, or_, select, tuple_
from sqlmodel.ext.asyncio.session import AsyncSession

from server.clock import to_utc
from server.config import Settings
from server.db import new_row
from server.integrity.checks import (
    BURST_WINDOW,
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
from server.integrity.service import flag_values
from server.places.models import Target
from server.visits.models import CheckIn, Photo, Visit, VisitPhoto

FIELD_COLUMNS = (Visit.id, Visit.user_id, Visit.target_id, Visit.visit_type, Visit.visited_at, Visit.lat, Visit.lon)
WINDOW_MARGIN = timedelta(days=1)  # > BURST_WINDOW; older previous visits come from one more query


async def batch_flags(
    db: AsyncSession, visits: list[Visit], checkins: list[CheckIn], targets: dict[int, Target], settings: Settings
) -> list[dict[str, Any]]:
    """The flag rows of a batch's new, stored visits and check-ins (ids set; ORM rows or rows of column
    values), as values for ``db.insert_rows``."""
    evidence = await load_batch_evidence(db, visits)
    flags = []
    for visit in visits:
        target = targets[visit.target_id]
        for finding in findings_from(visit, target, settings, evidence[visit.id]):  # type: ignore[index]
            values = flag_values(finding, user_id=visit.user_id, target=target, at=visit.visited_at, visit_id=visit.id)
            flags.append(new_row(IntegrityFlag, **values))
    for checkin in checkins:
        target = targets[checkin.target_id]
        for finding in await checkin_findings(checkin, target):
            values = flag_values(
                finding, user_id=checkin.user_id, target=target, at=checkin.device_time, checkin_id=checkin.id
            )
            flags.append(new_row(IntegrityFlag, **values))
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
    timelines = {user_id: Timeline(await _field_rows(db, user_id, mine)) for user_id, mine in by_user.items()}
    evidence = {}
    for visit in visits:
        found = Evidence(photos.get(visit.id, []), links.get(visit.id, 0))  # type: ignore[arg-type]
        if visit.visit_type in FIELD_TYPES:
            found.earlier = timelines[visit.user_id].earlier(visit)
        found.look_alikes = [row for row in look_alikes if row[1].id < visit.id]  # type: ignore[operator]
        evidence[visit.id] = found
    return evidence  # type: ignore[return-value]


class Timeline:
    """A cadre's field visits by (visit time, id) and by exact spot, to hand each visit of the batch only
    the rows its checks look at: the burst window before it, the previous located visit, same-spot visits
    to other targets;
    all recorded before it (smaller id), each once."""

    def __init__(self, rows: list[Visit]) -> None:
        self.rows = sorted(rows, key=lambda r: (to_utc(r.visited_at), r.id))
        self.keys = [(to_utc(r.visited_at), r.id) for r in self.rows]
        self.spots: dict[tuple[float, float], list[Visit]] = defaultdict(list)
        for row in self.rows:
            if row.lat is not None and row.lon is not None:
                self.spots[(row.lat, row.lon)].append(row)

    def earlier(self, visit: Visit) -> list[Visit]:
        at = to_utc(visit.visited_at)
        end = bisect_left(self.keys, (at, visit.id))  # rows before the visit (checks._before)
        start = bisect_left(self.keys, (at - BURST_WINDOW,))
        picked = {r.id: r for r in self.rows[start:end] if r.id < visit.id}  # type: ignore[operator]
        for i in range(end - 1, -1, -1):  # the previous located visit recorded before this one
            row = self.rows[i]
            if row.id < visit.id and row.lat is not None and row.lon is not None:  # type: ignore[operator]
                picked[row.id] = row
                break
        if visit.lat is not None and visit.lon is not None:
            spot = self.spots.get((visit.lat, visit.lon), [])
            picked.update((r.id, r) for r in spot if r.id < visit.id and r.target_id != visit.target_id)  # type: ignore[operator]
        return list(picked.values())


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
    # Plain rows of the columns the checks read, not ORM objects: a window can hold hundreds. The batch's
    # own rows are in memory already.
    mine = select(*FIELD_COLUMNS).where(Visit.user_id == user_id, Visit.visit_type.in_(FIELD_TYPES))  # type: ignore[attr-defined]
    ours = [v.id for v in visits]
    window = await db.execute(
        mine.where(Visit.visited_at >= low, Visit.visited_at <= high, Visit.id.not_in(ours))  # type: ignore[union-attr]
    )
    rows: dict[int, Any] = {r.id: r for r in window.all()}
    rows.update((v.id, v) for v in visits)
    before = (
        await db.execute(
            mine.where(Visit.lat.is_not(None), Visit.visited_at < low)  # type: ignore[union-attr]
            .order_by(Visit.visited_at.desc(), Visit.id.desc())  # type: ignore[attr-defined, union-attr]
            .limit(1)
        )
    ).first()
    if before is not None:
        rows[before.id] = before
    rows.update((r.id, r) for r in await _spot_rows(db, mine, visits))
    return list(rows.values())


async def _spot_rows(db: AsyncSession, mine: Any, visits: list[Visit]) -> list[Visit]:
    """Earlier visits at the batch's exact spots: per spot and target the latest one recorded before the
    batch is enough for ``same_coords_reasons`` (the batch's own rows come with the window)."""
    spots = sorted({(v.lat, v.lon) for v in visits if v.lat is not None and v.lon is not None})
    first_id = min(v.id for v in visits)  # type: ignore[type-var]
    found: list[Visit] = []
    for start in range(0, len(spots), 400):
        latest = (
            select(func.max(Visit.id))
            .where(
                Visit.user_id == visits[0].user_id,
                Visit.visit_type.in_(FIELD_TYPES),  # type: ignore[attr-defined]
                Visit.id < first_id,  # type: ignore[operator]
                tuple_(Visit.lat, Visit.lon).in_(spots[start : start + 400]),
            )
            .group_by(Visit.lat, Visit.lon, Visit.target_id)
        )
        found.extend((await db.execute(mine.where(Visit.id.in_(latest)))).all())  # type: ignore[union-attr]
    return found


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
