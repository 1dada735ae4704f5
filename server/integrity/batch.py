"""Integrity checks for a whole sync batch of new visits and check-ins (``sync.bulk``).

The single-visit path (``checks.load_evidence``) loads a visit's evidence with a few narrow queries; here
the same evidence is loaded for every visit of the batch with a handful of queries (arrived photos, the
cadre's field visits in a window around the batch, the last one before it, exact-coordinate twins, dHash
look-alikes), and every visit goes through the same ``checks.findings_from``. Each visit sees only rows
recorded before it (smaller id), as it would had the batch been recorded item by item.

The evidence is read before the write transaction (``read_evidence``, in the batch's read phase), so that
SQLite's write lock is held only for the inserts and the checks. In the write transaction
``batch_evidence`` then makes sure nothing it depends on was recorded in between: a field visit of the
same cadre, or a photo of the batch that was still uploading, makes it read everything again under the
lock; visits of other people recorded in between (and the batch's own) are searched for look-alike photos.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
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
from server.visits.models import CheckIn, Photo, Visit

FIELD_COLUMNS = (Visit.id, Visit.user_id, Visit.target_id, Visit.visit_type, Visit.visited_at, Visit.lat, Visit.lon)
WINDOW_MARGIN = timedelta(days=1)  # > BURST_WINDOW; older previous visits come from one more query
LookAlike = tuple[str, Visit, str]  # (dHash, visit, author)


@dataclass
class StoredEvidence:
    """What the batch's new visits are compared with among the visits recorded up to ``last_id``."""

    last_id: int
    photos: dict[str, Photo]  # the batch's arrived photos, by uuid
    field_rows: dict[int, list[Any]]  # per cadre: field visits in the window, the one before it, same spots
    look_alikes: list[LookAlike]


async def batch_flags(
    db: AsyncSession,
    visits: list[Visit],
    photo_uuids: list[list[str]],
    checkins: list[CheckIn],
    targets: dict[int, Target],
    settings: Settings,
    stored: StoredEvidence | None = None,
    *,
    ahead: bool = False,
) -> list[dict[str, Any]]:
    """The flag rows of a batch's new, stored visits (with each one's linked photo uuids) and check-ins (ids
    set; ORM rows or rows of column values), as values for ``db.insert_rows``. ``stored``: the evidence
    read before the write transaction, if any. ``ahead``: the rows are not stored yet but stand under
    ``FORESEEN`` ids, and ``stored`` is taken as it is (``unchanged_since`` tells later whether it held)."""
    evidence = await batch_evidence(db, visits, photo_uuids, stored, ahead=ahead)
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


async def read_evidence(
    db: AsyncSession, visits: list[Visit], photo_uuids: list[list[str]], upto_id: int | None = None
) -> StoredEvidence:
    """The stored evidence for a batch's visits (ids not needed): rows up to ``upto_id``, or up to the last
    visit recorded when it is None (in the read phase, before the batch is written)."""
    if upto_id is None:
        upto_id = int(await db.scalar(select(func.max(Visit.id))) or 0)
    uuids = sorted({u for linked in photo_uuids for u in linked})
    photos = {}
    for start in range(0, len(uuids), 400):
        stmt = select(Photo).where(Photo.uuid.in_(uuids[start : start + 400]))  # type: ignore[attr-defined]
        photos.update((p.uuid, p) for p in await db.scalars(stmt))
    by_user: dict[int, list[Visit]] = defaultdict(list)
    for visit in visits:
        if visit.visit_type in FIELD_TYPES:
            by_user[visit.user_id].append(visit)
    field_rows = {user_id: await _field_rows(db, user_id, mine, upto_id) for user_id, mine in by_user.items()}
    look_alikes = await _look_alikes(db, list(photos.values()), upto_id + 1)
    return StoredEvidence(upto_id, photos, field_rows, look_alikes)


async def batch_evidence(
    db: AsyncSession,
    visits: list[Visit],
    photo_uuids: list[list[str]],
    stored: StoredEvidence | None,
    *,
    ahead: bool = False,
) -> dict[int, Evidence]:
    """``checks.load_evidence`` for many visits at once, by visit id, in the write transaction after the
    batch's rows were inserted: ``stored`` if it is still complete, else read again under the lock
    (``ahead``: ``stored`` as it is, before the rows are stored)."""
    if not visits:
        return {}
    ours = [int(v.id) for v in visits]  # type: ignore[arg-type]
    if ahead and stored is not None:
        look_alikes = stored.look_alikes
    else:
        if stored is None or await _recorded_since(db, stored, photo_uuids, ours):
            stored = await read_evidence(db, visits, photo_uuids, min(ours) - 1)
        # Look-alikes among visits recorded since (other people's, and the batch's own photos).
        since = await _look_alikes(db, list(stored.photos.values()), max(ours), stored.last_id)
        look_alikes = stored.look_alikes + since
    timelines = {}
    for user_id, rows in stored.field_rows.items():
        mine = [v for v in visits if v.user_id == user_id and v.visit_type in FIELD_TYPES]
        timelines[user_id] = Timeline(list({r.id: r for r in [*rows, *mine]}.values()))
    evidence = {}
    for visit, uuids in zip(visits, photo_uuids, strict=True):
        linked = list(dict.fromkeys(uuids))
        found = Evidence([stored.photos[u] for u in linked if u in stored.photos], len(linked))
        if visit.visit_type in FIELD_TYPES:
            found.earlier = timelines[visit.user_id].earlier(visit)
        found.look_alikes = [row for row in look_alikes if row[1].id < visit.id]  # type: ignore[operator]
        evidence[visit.id] = found
    return evidence  # type: ignore[return-value]


async def _recorded_since(
    db: AsyncSession, stored: StoredEvidence, photo_uuids: list[list[str]], ours: list[int]
) -> bool:
    """Whether evidence read before the write lock may be incomplete: a field visit of one of the batch's
    cadres recorded since, or a photo of the batch that has arrived since."""
    users = sorted(stored.field_rows)
    if users:
        newer = select(Visit.id).where(
            Visit.user_id.in_(users),  # type: ignore[attr-defined]
            Visit.id > stored.last_id,  # type: ignore[operator]
            Visit.id.not_in(ours),  # type: ignore[union-attr]
            Visit.visit_type.in_(FIELD_TYPES),  # type: ignore[attr-defined]
        )
        if await db.scalar(newer.limit(1)) is not None:
            return True
    missing = sorted({u for linked in photo_uuids for u in linked} - set(stored.photos))
    return False if not missing else await _any_photo(db, missing)


async def unchanged_since(
    db: AsyncSession, stored: StoredEvidence, photo_uuids: list[list[str]], ours: list[int]
) -> bool:
    """Whether flags worked out ahead from ``stored`` (for ``FORESEEN`` ids) still hold once the batch's visits
    are stored with ids ``ours``: nothing ``batch_evidence`` would add was recorded since — no field visit of
    the batch's cadres, no photo of the batch, and no look-alike photo on a visit since, the batch's own
    included (those were not stored when the flags were worked out)."""
    if await _recorded_since(db, stored, photo_uuids, ours):
        return False
    return not await _look_alikes(db, list(stored.photos.values()), max(ours), stored.last_id)


FORESEEN = 10**15  # ids a batch's rows stand under before they are stored: after every stored row, in order


def foreseen_ids(count: int) -> range:
    """The ids ``count`` rows of one kind stand under before they are stored, in insert order."""
    return range(FORESEEN + 1, FORESEEN + 1 + count)


_VISIT_REF = re.compile(r"#(\d+)")  # how a flag's message names a visit (checks.py: "走访 #123")


def with_ids(flags: list[dict[str, Any]], visits: dict[int, int], checkins: dict[int, int]) -> list[dict[str, Any]]:
    """Flag rows worked out for foreseen ids, with the ids the rows were stored under (by foreseen id)."""

    def named(match: re.Match[str]) -> str:
        return f"#{visits.get(int(match.group(1)), match.group(1))}"

    for flag in flags:
        if flag["visit_id"] is not None:
            flag["visit_id"] = visits[flag["visit_id"]]
        if flag["checkin_id"] is not None:
            flag["checkin_id"] = checkins[flag["checkin_id"]]
        flag["message"] = _VISIT_REF.sub(named, flag["message"])
    return flags


async def _any_photo(db: AsyncSession, uuids: list[str]) -> bool:
    for start in range(0, len(uuids), 400):
        found = select(Photo.id).where(Photo.uuid.in_(uuids[start : start + 400])).limit(1)  # type: ignore[attr-defined]
        if await db.scalar(found) is not None:
            return True
    return False


class Timeline:
    """A cadre's field visits by (visit time, id) and by exact spot, to hand each visit of the batch only
    the rows its checks look at: the burst window before it, the previous located visit, same-spot visits
    to other targets; all recorded before it (smaller id), each once."""

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


async def _field_rows(db: AsyncSession, user_id: int, visits: list[Visit], upto_id: int) -> list[Any]:
    """The cadre's stored field visits (id ≤ ``upto_id``) the checks may compare the batch with: those in a
    window around the batch (speed, burst), the last located one before the window (speed), and
    exact-coordinate matches (any time). Plain rows of the columns the checks read, not ORM objects."""
    times = [to_utc(v.visited_at) for v in visits]
    low, high = min(times) - WINDOW_MARGIN, max(times) + WINDOW_MARGIN
    mine = select(*FIELD_COLUMNS).where(
        Visit.user_id == user_id,
        Visit.visit_type.in_(FIELD_TYPES),  # type: ignore[attr-defined]
        Visit.id <= upto_id,  # type: ignore[operator]
    )
    window = await db.execute(mine.where(Visit.visited_at >= low, Visit.visited_at <= high))
    rows: dict[int, Any] = {r.id: r for r in window.all()}
    before = (
        await db.execute(
            mine.where(Visit.lat.is_not(None), Visit.visited_at < low)  # type: ignore[union-attr]
            .order_by(Visit.visited_at.desc(), Visit.id.desc())  # type: ignore[attr-defined, union-attr]
            .limit(1)
        )
    ).first()
    if before is not None:
        rows[before.id] = before
    rows.update((r.id, r) for r in await _spot_rows(db, mine, user_id, visits, upto_id))
    return list(rows.values())


async def _spot_rows(db: AsyncSession, mine: Any, user_id: int, visits: list[Visit], upto_id: int) -> list[Any]:
    """Stored visits at the batch's exact spots: per spot and target the latest one is enough for
    ``same_coords_reasons`` (the batch's own rows are added by ``batch_evidence``)."""
    spots = sorted({(v.lat, v.lon) for v in visits if v.lat is not None and v.lon is not None})
    found: list[Any] = []
    for start in range(0, len(spots), 400):
        latest = (
            select(func.max(Visit.id))
            .where(
                Visit.user_id == user_id,
                Visit.visit_type.in_(FIELD_TYPES),  # type: ignore[attr-defined]
                Visit.id <= upto_id,  # type: ignore[operator]
                tuple_(Visit.lat, Visit.lon).in_(spots[start : start + 400]),
            )
            .group_by(Visit.lat, Visit.lon, Visit.target_id)
        )
        found.extend((await db.execute(mine.where(Visit.id.in_(latest)))).all())  # type: ignore[union-attr]
    return found


async def _look_alikes(
    db: AsyncSession, photos: list[Photo], below_id: int, above_id: int | None = None
) -> list[LookAlike]:
    """(dHash, visit, author) of photos of visits with ``above_id`` < id < ``below_id`` sharing a 16-bit chunk
    with any of ``photos``."""
    hashes = {p.dhash for p in photos if usable_dhash(p.dhash)}
    if not hashes or (above_id is not None and above_id + 1 >= below_id):
        return []
    chunks: list[set[str]] = [set() for _ in range(DHASH_CHUNKS)]
    for dhash in hashes:
        for k, chunk in enumerate(dhash_chunks(dhash)):  # type: ignore[arg-type]
            chunks[k].add(chunk)
    same_chunk = or_(
        *(literal_column(f"substr(photo.dhash, {1 + 4 * k}, 4)").in_(sorted(chunks[k])) for k in range(DHASH_CHUNKS))
    )
    query = look_alike_rows(same_chunk, below_id)
    if above_id is not None:
        query = query.where(Visit.id > above_id)  # type: ignore[operator]
    return [tuple(r) for r in (await db.execute(query)).all()]  # type: ignore[misc]
