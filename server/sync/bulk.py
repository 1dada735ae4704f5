"""The bulk path of a sync batch (docs/sync.md), in two phases. ``plan_bulk`` (in a read transaction)
looks the batch's new check-ins and visits up with a few queries for the whole batch and checks them with
the same pure functions as the per-item path; ``write_bulk`` writes them in one transaction (multi-row
inserts, integrity flags from ``integrity.batch``).

Items still stand alone: everything that can reject an item is decided before anything is written, and
rejected items write nothing. The answers (status, flags, error text, ids) are the ones the per-item path
would give. Whatever this path does not handle (concerns, an item whose target is not found, a batch
that repeats a uuid) is left to the per-item path; if the bulk transaction fails anyway (a concurrent
replay of the same uuids), it is rolled back and the whole batch goes the per-item way.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.accounts.service import Viewer
from server.clock import local_today, to_utc, utcnow
from server.config import Settings
from server.db import insert_rows, new_row
from server.errors import AppError
from server.integrity.batch import StoredEvidence, batch_flags, foreseen_ids, read_evidence, unchanged_since, with_ids
from server.integrity.models import IntegrityFlag
from server.ledger.models import Concern
from server.places.models import Assignment, Target
from server.places.service import active_assignment_clause, in_scope_clause
from server.sync.schemas import SyncItem, SyncResult
from server.visits.models import CheckIn, Photo, Visit, VisitPhoto
from server.visits.photos import check_uuid
from server.visits.schemas import CheckInInput, ConcernInput, VisitInput
from server.visits.service import (
    check_checkin_input,
    check_visit_input,
    checkin_flags,
    checkin_values,
    link_values,
    require_assigned,
    time_flags,
    visit_concerns,
    visit_values,
)

BULK_KINDS = ("checkin", "visit")
YIELD_EVERY = 10  # staged items between turns of the event loop (≈ 1 ms)
DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected
Entry = SyncItem | SyncResult


def visit_input(item: SyncItem) -> VisitInput:
    return VisitInput(
        uuid=item.uuid,
        target_id=item.target_id,
        visit_type=item.visit_type,
        visited_at=item.visited_at or item.created_at,
        lat=item.lat,
        lon=item.lon,
        accuracy=item.accuracy,
        notes=item.notes,
        topics=list(item.topics),
        photo_uuids=list(item.photo_uuids),
        concerns=[ConcernInput(text=c.text, category=c.category, uuid=c.uuid) for c in item.concerns],
    )


def checkin_input(item: SyncItem) -> CheckInInput:
    return CheckInInput(
        uuid=item.uuid,
        target_id=item.target_id,
        lat=item.lat,
        lon=item.lon,
        accuracy=item.accuracy,
        device_time=item.created_at,
    )


def bulk_candidates(decoded: list[Entry], known: dict[tuple[str, str], SyncResult]) -> list[tuple[int, SyncItem]]:
    """(position, item) of the new check-ins and visits, or none when the batch is unusual: a repeated uuid,
    or a concern item whose uuid or visit the bulk write would store before it (the per-item order matters)."""
    items = [(n, e) for n, e in enumerate(decoded) if isinstance(e, SyncItem)]
    if max(Counter((e.kind, e.uuid) for _, e in items).values(), default=1) > 1:
        return []
    visit_at = {e.uuid: n for n, e in items if e.kind == "visit"}
    inner = {c.uuid.lower() for _, e in items if e.kind == "visit" for c in e.concerns if c.uuid}
    for n, e in items:
        if e.kind == "concern" and (e.uuid in inner or visit_at.get((e.visit_uuid or "").lower(), -1) > n):
            return []
    return [(n, e) for n, e in items if e.kind in BULK_KINDS and (e.kind, e.uuid) not in known]


async def _targets(db: AsyncSession, viewer: Viewer, ids: set[int]) -> dict[int, tuple[Target, bool]]:
    """Targets in the viewer's scope, each with whether the viewer holds an active assignment: one query.
    The targets are plain rows of the table's columns (read like ``Target``; ORM objects cost ≈ 10× more)."""
    held = Assignment.id.label("held_assignment_id")  # type: ignore[union-attr]
    rows = await db.execute(
        select(Target.__table__, held)  # type: ignore[attr-defined]
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .outerjoin(
            Assignment,
            and_(
                Assignment.target_id == Target.id,
                Assignment.user_id == viewer.id,
                active_assignment_clause(local_today()),
            ),
        )
        .where(Target.id.in_(sorted(ids)), in_scope_clause(viewer))  # type: ignore[union-attr]
    )
    found: dict[int, tuple[Target, bool]] = {}
    for row in rows.all():
        target, was_held = found.get(row.id, (row, False))
        found[row.id] = (target, was_held or row.held_assignment_id is not None)
    return found


async def _foreign_photos(db: AsyncSession, viewer: Viewer, uuids: set[str]) -> set[str]:
    if not uuids:
        return set()
    stmt = select(Photo.uuid).where(Photo.uuid.in_(sorted(uuids)), Photo.user_id != viewer.id)  # type: ignore[attr-defined]
    return set(await db.scalars(stmt))


def _photo_uuids(item: SyncItem) -> list[str] | AppError:
    try:
        return [check_uuid(p, "照片编号") for p in item.photo_uuids]
    except AppError as exc:
        return exc


FOREIGN_PHOTO = "照片编号已被其他用户使用，请删除这条记录中的照片后重新拍摄。"


@dataclass
class Staged:
    """A new row of the batch with what goes with it, before the write. The row is its column values as
    attributes (the integrity checks read them like an ORM row; building ORM rows costs more than the checks)."""

    position: int
    kind: str  # "checkin" | "visit"
    row: SimpleNamespace
    flags: list[str] = field(default_factory=list)  # the answer's flags of a visit (time flags)
    concerns: list[Concern] = field(default_factory=list)
    photo_uuids: list[str] = field(default_factory=list)


def staged_row(model: type[SQLModel], values: dict[str, Any]) -> SimpleNamespace:
    """A row to insert: every column ``model(**values)`` would set (its ``vars`` are the INSERT's values);
    ``id`` is added once it is stored."""
    return SimpleNamespace(**new_row(model, **values))


@dataclass
class BulkPlan:
    """The batch's new check-ins and visits, checked and staged (``plan_bulk``), ready for ``write_bulk``."""

    staged: list[Staged]
    targets: dict[int, Target]
    rejected: dict[int, SyncResult]  # by position: refused while staging, nothing to write
    evidence: StoredEvidence | None = None  # what the visits' integrity checks compare them with, read early
    ahead: list[dict[str, Any]] | None = None  # flag rows worked out in the read phase, under foreseen ids

    def rows(self) -> dict[str, list[SimpleNamespace]]:
        """The rows to insert by kind, in insertion order."""
        rows: dict[str, list[SimpleNamespace]] = {"checkin": [], "visit": []}
        for s in self.staged:
            rows[s.kind].append(s.row)
        return rows

    def photo_uuids(self) -> list[list[str]]:
        """Each visit's linked photo uuids, in the order of ``rows()["visit"]``."""
        return [s.photo_uuids for s in self.staged if s.kind == "visit"]


async def plan_bulk(
    db: AsyncSession, viewer: Viewer, settings: Settings, decoded: list[Entry], known: dict[tuple[str, str], SyncResult]
) -> BulkPlan | None:
    """Look up and check the batch's new check-ins and visits, and build their rows: reads only, so the
    caller runs it in a read transaction (``db.read_phase``). None when the batch is for the per-item path."""
    pending = bulk_candidates(decoded, known)
    if not pending:
        return None
    photos = {n: _photo_uuids(item) for n, item in pending if item.kind == "visit"}
    foreign = await _foreign_photos(db, viewer, {u for p in photos.values() if isinstance(p, list) for u in p})
    targets = await _targets(db, viewer, {item.target_id for _, item in pending})
    received = utcnow()
    plan = BulkPlan([], {target.id: target for target, _ in targets.values()}, {})  # type: ignore[misc]
    for k, (n, item) in enumerate(pending, start=1):
        if k % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let a batch that holds SQLite's write lock go on (docs/sync.md)
        try:
            one = _stage(n, viewer, settings, item, photos.get(n), foreign, targets, received)
        except AppError as exc:
            plan.rejected[n] = SyncResult(uuid=item.uuid, status="rejected", error=exc.message)
            continue
        if one is not None:
            plan.staged.append(one)
    if visits := plan.rows()["visit"]:
        plan.evidence = await read_evidence(db, visits, plan.photo_uuids())  # type: ignore[arg-type]
    if plan.staged:
        plan.ahead = await _flags_ahead(db, plan, settings)
    return plan


async def _flags_ahead(db: AsyncSession, plan: BulkPlan, settings: Settings) -> list[dict[str, Any]]:
    """The flag rows the write would compute, worked out before the write lock (the checks are most of a
    write's time): the rows stand under ids after every stored one, in order (``foreseen_ids``), which
    ``_flags`` replaces with the stored ids."""
    rows = plan.rows()
    for kind_rows in rows.values():
        for row, foreseen in zip(kind_rows, foreseen_ids(len(kind_rows)), strict=True):
            row.id = foreseen
    try:
        visits, checkins = rows["visit"], rows["checkin"]
        return await batch_flags(
            db, visits, plan.photo_uuids(), checkins, plan.targets, settings, plan.evidence, ahead=True  # type: ignore[arg-type]
        )
    finally:
        for row in (*rows["checkin"], *rows["visit"]):
            del row.id  # the insert leaves the id to the database


async def write_bulk(db: AsyncSession, plan: BulkPlan, settings: Settings) -> dict[int, SyncResult]:
    """Store a plan in one transaction: answers by position for its check-ins and visits; positions
    missing from the answer are left to the per-item path (all of them when the write failed)."""
    answers = dict(plan.rejected)
    if not plan.staged:
        return answers
    try:
        await _write(db, plan, settings)
    except DBAPIError as exc:
        # A concurrent replay stored some of these uuids first, or two such writers deadlocked (PostgreSQL
        # aborts one): roll back and redo the batch item by item. Anything else fails the request.
        if not isinstance(exc, IntegrityError) and getattr(exc.orig, "sqlstate", None) != DEADLOCK:
            raise
        await db.rollback()
        return {}
    for s in plan.staged:
        flags = checkin_flags(s.row) if s.kind == "checkin" else s.flags  # type: ignore[arg-type]
        answers[s.position] = SyncResult(uuid=s.row.uuid, status="created", flags=flags, id=s.row.id)
    return answers


async def _write(db: AsyncSession, plan: BulkPlan, settings: Settings) -> None:
    """One transaction: check-ins and visits (their ids returned by the insert), photo links, concerns, flags."""
    staged, rows = plan.staged, plan.rows()
    for kind, model in (("checkin", CheckIn), ("visit", Visit)):
        if rows[kind]:  # multi-row INSERT … RETURNING: the ids come back with the uuids, no read-back
            table = model.__table__  # type: ignore[attr-defined]
            stored = await db.execute(table.insert().returning(table.c.uuid, table.c.id), [vars(r) for r in rows[kind]])
            ids = dict(stored.all())
            for row in rows[kind]:
                row.id = ids[row.uuid]
    for s in staged:
        for concern in s.concerns:
            concern.visit_id = s.row.id
    await insert_rows(db, VisitPhoto, [link for s in staged for link in link_values(s.row.id, s.photo_uuids)])
    await insert_rows(db, Concern, [column_values(concern) for s in staged for concern in s.concerns])
    flags = await _flags(db, plan, rows, settings)
    await insert_rows(db, IntegrityFlag, flags)
    await db.commit()


async def _flags(
    db: AsyncSession, plan: BulkPlan, rows: dict[str, list[SimpleNamespace]], settings: Settings
) -> list[dict[str, Any]]:
    """The flag rows of the stored batch: those worked out ahead, under the stored ids, when nothing they
    depend on was recorded in between (``integrity.batch.unchanged_since``); else computed again now."""
    ahead, photo_uuids, ours = plan.ahead, plan.photo_uuids(), [r.id for r in rows["visit"]]
    if ahead is not None and (
        plan.evidence is None or not ours or await unchanged_since(db, plan.evidence, photo_uuids, ours)
    ):
        stored = {kind: dict(zip(foreseen_ids(len(r)), [row.id for row in r], strict=True)) for kind, r in rows.items()}
        return with_ids(ahead, stored["visit"], stored["checkin"])
    return await batch_flags(
        db, rows["visit"], photo_uuids, rows["checkin"], plan.targets, settings, plan.evidence  # type: ignore[arg-type]
    )


def column_values(row: SQLModel) -> dict[str, Any]:
    """A new ORM row's column values for ``insert_rows`` (the autoincrement id left to the database)."""
    table = type(row).__table__  # type: ignore[attr-defined]
    return {c.key: getattr(row, c.key) for c in table.columns if c.key != "id" or not c.primary_key}


def _stage(
    position: int,
    viewer: Viewer,
    settings: Settings,
    item: SyncItem,
    photo_uuids: list[str] | AppError | None,
    foreign: set[str],
    targets: dict[int, tuple[Target, bool]],
    received: datetime,
) -> Staged | None:
    """One item's rows, checked in the per-item path's order (``sync_visit``/``record_visit``,
    ``record_checkin``); None when its target is not found (the per-item path answers that)."""
    if item.kind == "checkin":
        checked = check_checkin_input(checkin_input(item), received)
        if item.target_id not in targets:
            return None
        target = require_assigned(*targets[item.target_id])
        values = checkin_values(viewer, settings, item.uuid, checked, target, received)
        return Staged(position, "checkin", staged_row(CheckIn, values))
    if isinstance(photo_uuids, AppError):
        raise photo_uuids
    assert photo_uuids is not None
    if foreign.intersection(photo_uuids):
        raise AppError(FOREIGN_PHOTO, 409)
    data = visit_input(item)
    data.photo_uuids = photo_uuids
    checked = check_visit_input(data, received)
    if item.target_id not in targets:
        return None
    target = require_assigned(*targets[item.target_id])
    visit = staged_row(Visit, visit_values(viewer, data, checked, target, received))
    concerns = visit_concerns(viewer, data, checked, target, received)
    flags = sorted(set(time_flags(checked.at, received)) | set(time_flags(to_utc(item.created_at), received)))
    return Staged(position, "visit", visit, flags, concerns, photo_uuids)
