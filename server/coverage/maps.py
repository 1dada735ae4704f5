"""GeoJSON for the map: targets coloured by status, villages shaded by coverage, visits, check-ins and
one person's route for a day. Everything is bbox-filtered and scoped to the viewer's org subtree;
when a bbox holds more than ``MAX_POINTS`` points they are aggregated server-side into grid cells.

Status of a target for a window: ``visited`` (a visit in the window), ``due`` (visited before the
window's end but not in it), ``never`` (no visit at all up to the window's end).
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

from sqlalchemy import Integer, and_, case, cast, exists, func, literal, literal_column, select, type_coerce
from sqlalchemy.orm import aliased
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.clock import fmt_local, period_bounds_utc
from server.coverage.compute import active_on
from server.places.models import Assignment, Target
from server.places.service import display_name
from server.visits.models import VISIT_TYPE_LABELS, CheckIn, Visit

MAX_POINTS = 2500
GRID = 32  # cells across the bbox when aggregating
BBox = tuple[float, float, float, float]
STATUSES = ("visited", "due", "never")


def _point(lon: float, lat: float, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def _collection(features: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, **meta}


def in_bbox(lat: Any, lon: Any, bbox: BBox) -> Any:
    return and_(lat >= bbox[1], lat <= bbox[3], lon >= bbox[0], lon <= bbox[2])


# A box smaller than this (degrees, ≈ 20 km) is searched place-first, by map cells (ix_visit_cell /
# ix_checkin_cell): one village's box holds a few hundred of a county month's ~170k visits. Larger boxes
# scan by time.
PLACE_FIRST_DEGREES = 0.2
CELLS_PER_DEGREE = 50  # cells of 0.02° (≈ 2 km) in the cell indexes (migration coverage_0005)


def cell_of(db: AsyncSession, column: Any) -> Any:
    """The cell number of a latitude or longitude column, written exactly as the cell indexes compute it
    (an index on an expression serves only the same expression, with the constant inline)."""
    name = f"{column.table.name}.{column.name}"
    if db.bind.dialect.name == "sqlite":
        return literal_column(f"CAST({name} * {CELLS_PER_DEGREE} AS INTEGER)", Integer)
    return literal_column(f"floor({name} * {CELLS_PER_DEGREE})")


def cells_between(db: AsyncSession, low: float, high: float) -> list[int]:
    """Every cell number from ``low`` to ``high`` degrees (the expression is monotonic, so a point in the
    range has one of these): SQLite's CAST truncates toward zero, PostgreSQL's floor rounds down."""
    to_cell = int if db.bind.dialect.name == "sqlite" else math.floor
    return list(range(to_cell(low * CELLS_PER_DEGREE), to_cell(high * CELLS_PER_DEGREE) + 1))


def _unindexed(db: AsyncSession, column: Any) -> Any:
    """``+column`` on SQLite: the same value, but the planner will not use an index on it."""
    if db.bind.dialect.name != "sqlite":
        return column
    return type_coerce(literal_column(f"+{column.table.name}.{column.name}"), column.type)


VISIT_POINT = (Visit.id, Visit.user_id, Visit.lat, Visit.lon, Visit.visited_at, Visit.visit_type)
CHECKIN_POINT = (CheckIn.id, CheckIn.user_id, CheckIn.lat, CheckIn.lon, CheckIn.device_time, CheckIn.off_site)


def in_window_and_box(db: AsyncSession, model: Any, time: Any, start: Any, end: Any, bbox: BBox) -> Any:
    """``start <= time < end`` inside the box. SQLite cannot tell a small box from a large one, so we tell
    it: a small box is searched by its cells (a seek per cell, then the window), a large one time-first."""
    small = bbox[2] - bbox[0] <= PLACE_FIRST_DEGREES and bbox[3] - bbox[1] <= PLACE_FIRST_DEGREES
    if small:
        cells = and_(
            cell_of(db, model.lat).in_(cells_between(db, bbox[1], bbox[3])),
            cell_of(db, model.lon).in_(cells_between(db, bbox[0], bbox[2])),
        )
        return and_(cells, time >= start, time < end, in_bbox(model.lat, model.lon, bbox))
    return and_(time >= start, time < end, in_bbox(_unindexed(db, model.lat), model.lon, bbox))


def _cell(lat: Any, lon: Any, bbox: BBox) -> tuple[Any, Any, float, float]:
    w = max((bbox[2] - bbox[0]) / GRID, 1e-6)
    h = max((bbox[3] - bbox[1]) / GRID, 1e-6)
    return cast((lon - bbox[0]) / w, Integer), cast((lat - bbox[1]) / h, Integer), w, h


def _scope(unit_path: str, target: Any = Target) -> Any:
    return target.org_unit_id.in_(select(OrgUnit.id).where(OrgUnit.path.startswith(unit_path)))  # type: ignore[attr-defined]


async def unit_bounds(db: AsyncSession, unit_path: str) -> str:
    """``minlon,minlat,maxlon,maxlat`` of the subtree's targets, for the map's first view ("" if none)."""
    row = (
        await db.execute(
            select(func.min(Target.lon), func.min(Target.lat), func.max(Target.lon), func.max(Target.lat)).where(
                _scope(unit_path),
                Target.lat.is_not(None),  # type: ignore[union-attr]
            )
        )
    ).one()
    return ",".join(f"{v:.5f}" for v in row) if row[0] is not None else ""


async def map_targets(
    db: AsyncSession,
    viewer: Viewer,
    bbox: BBox,
    first: date,
    last: date,
    *,
    kind: str = "",
    unit_path: str | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    """Villages (polygon or point, shaded by household coverage) and other targets by status."""
    start, end = period_bounds_utc(first, last)
    path = unit_path or viewer.unit_path
    in_window = exists(
        select(literal(1)).where(Visit.target_id == Target.id, Visit.visited_at >= start, Visit.visited_at < end)
    )
    ever = exists(select(literal(1)).where(Visit.target_id == Target.id, Visit.visited_at < end))
    status = case((in_window, "visited"), (ever, "due"), else_="never")
    where = [_scope(path), in_bbox(Target.lat, Target.lon, bbox), Target.kind != "village"]
    if kind and kind != "village":
        where.append(Target.kind == kind)
    if user_id is not None:
        where.append(
            Target.id.in_(select(Assignment.target_id).where(Assignment.user_id == user_id, active_on(last)))  # type: ignore[union-attr]
        )
    features = await _villages(db, path, bbox, start, end) if not kind or kind in ("village", "household") else []
    if kind == "village":
        return _collection(features, aggregated=False, count=0)
    count = int(await db.scalar(select(func.count()).select_from(Target).where(*where)) or 0)
    if count > MAX_POINTS:
        cx, cy, _, _ = _cell(Target.lat, Target.lon, bbox)
        rows = await db.execute(
            select(
                func.avg(Target.lon),
                func.avg(Target.lat),
                func.count(),
                *[func.sum(case((status == s, 1), else_=0)) for s in STATUSES],
            )
            .where(*where)
            .group_by(cx, cy)
        )
        for lon, lat, n, *by_status in rows.all():
            props = {
                "layer": "cell",
                "count": int(n),
                **{s: int(v or 0) for s, v in zip(STATUSES, by_status, strict=True)},
            }
            features.append(_point(round(lon, 6), round(lat, 6), props))
        return _collection(features, aggregated=True, count=count)
    rows = await db.execute(select(Target, status).where(*where).order_by(Target.id))
    for target, st in rows.all():
        props = {"layer": "target", "id": target.id, "kind": target.kind, "name": display_name(target), "status": st}
        features.append(_point(target.lon, target.lat, props))
    return _collection(features, aggregated=False, count=count)


async def _villages(db: AsyncSession, path: str, bbox: BBox, start: Any, end: Any) -> list[dict[str, Any]]:
    """Village features with households covered / households in the window."""
    house = Target.__table__.alias("house")  # type: ignore[attr-defined]
    visited = exists(
        select(literal(1)).where(Visit.target_id == house.c.id, Visit.visited_at >= start, Visit.visited_at < end)
    )
    # Correlated per village in the bbox (index on village_id), so a small bbox counts only its villages.
    of_village = (house.c.village_id == Target.id, house.c.kind == "household")
    n = select(func.count()).where(*of_village).scalar_subquery()
    c = select(func.count()).where(*of_village, visited).scalar_subquery()
    rows = await db.execute(
        select(Target, n, c).where(Target.kind == "village", _scope(path), in_bbox(Target.lat, Target.lon, bbox))
    )
    features = []
    for village, n, c in rows.all():
        n, c = int(n or 0), int(c or 0)
        props = {
            "layer": "village",
            "id": village.id,
            "name": village.name,
            "households": n,
            "covered": c,
            "pct": round(100 * c / n, 1) if n else None,
        }
        geometry = json.loads(village.boundary) if village.boundary else None
        feature = _point(village.lon, village.lat, props)
        if geometry:
            feature["geometry"] = geometry
        features.append(feature)
    return features


async def _whole_tree(db: AsyncSession, path: str) -> bool:
    """True when ``path`` is the root of the only org tree (then every row is in scope)."""
    if path.count("/") != 2:
        return False
    roots = await db.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.parent_id.is_(None)))  # type: ignore[union-attr]
    return roots == 1


async def map_visits(
    db: AsyncSession,
    viewer: Viewer,
    bbox: BBox,
    first: date,
    last: date,
    *,
    unit_path: str | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    """Visits (with GPS) and check-ins in the bbox and window; grid cells when there are too many."""
    start, end = period_bounds_utc(first, last)
    path = unit_path or viewer.unit_path
    # Checked per visit already inside the bbox and window (a correlated probe), never as a list of
    # every target id of the scope.
    t = aliased(Target)
    if await _whole_tree(db, path):  # the only root's viewer sees everything: no per-visit check
        scoped = c_scoped = literal(True)
    else:
        scoped = exists(select(literal(1)).where(t.id == Visit.target_id, _scope(path, t)))
        c_scoped = exists(select(literal(1)).where(t.id == CheckIn.target_id, _scope(path, t)))
    where = [in_window_and_box(db, Visit, Visit.visited_at, start, end, bbox), scoped]
    c_where = [in_window_and_box(db, CheckIn, CheckIn.device_time, start, end, bbox), c_scoped]
    if user_id is not None:
        where.append(Visit.user_id == user_id)
        c_where.append(CheckIn.user_id == user_id)
    # The points themselves, at most one more than we would draw (no separate count for a small box),
    # and only the columns a point shows: no notes, no village boundaries.
    points = (
        await db.execute(
            select(*VISIT_POINT, Target.kind, Target.name, Target.head_name, User.display_name)
            .join(Target, Target.id == Visit.target_id)
            .join(User, User.id == Visit.user_id)
            .where(*where)
            .order_by(Visit.visited_at)
            .limit(MAX_POINTS + 1)
        )
    ).all()
    features: list[dict[str, Any]] = []
    if len(points) > MAX_POINTS:
        count = int(await db.scalar(select(func.count()).select_from(Visit).where(*where)) or 0)
        cx, cy, _, _ = _cell(Visit.lat, Visit.lon, bbox)
        rows = await db.execute(
            select(func.avg(Visit.lon), func.avg(Visit.lat), func.count()).where(*where).group_by(cx, cy)
        )
        features = [_point(round(lon, 6), round(lat, 6), {"layer": "cell", "count": int(n)}) for lon, lat, n in rows]
        return _collection(features, aggregated=True, count=count)
    count = len(points)
    for v in points:
        features.append(
            _point(
                v.lon,
                v.lat,
                {
                    "layer": "visit",
                    "id": v.id,
                    "user_id": v.user_id,
                    "who": v.display_name,
                    "target": display_name(v),  # type: ignore[arg-type]  # reads kind, name and head_name
                    "at": fmt_local(v.visited_at),
                    "type": VISIT_TYPE_LABELS.get(v.visit_type, v.visit_type),  # type: ignore[call-overload]
                },
            )
        )
    checkins = await db.execute(
        select(*CHECKIN_POINT, Target.name, User.display_name)
        .join(Target, Target.id == CheckIn.target_id)
        .join(User, User.id == CheckIn.user_id)
        .where(*c_where)
        .order_by(CheckIn.device_time)
        .limit(MAX_POINTS)
    )
    for c in checkins.all():
        features.append(
            _point(
                c.lon,
                c.lat,
                {
                    "layer": "checkin",
                    "id": c.id,
                    "user_id": c.user_id,
                    "who": c.display_name,
                    "target": c.name,
                    "at": fmt_local(c.device_time),
                    "off_site": c.off_site,
                },
            )
        )
    return _collection(features, aggregated=False, count=count)


async def map_route(db: AsyncSession, viewer: Viewer, user_id: int, day: date) -> dict[str, Any]:
    """One person's check-ins and visits of a local day in time order (``seq`` 1, 2, …) and the line
    joining them. The person must be in the viewer's subtree (else 404)."""
    from server.coverage.service import check_day, person_in_scope

    check_day(day)
    user, _ = await person_in_scope(db, viewer, user_id)
    start, end = period_bounds_utc(day, day)
    stops: list[tuple[Any, float, float, dict[str, Any]]] = []
    visits = await db.execute(
        select(Visit, Target)
        .join(Target, Target.id == Visit.target_id)
        .where(Visit.user_id == user_id, Visit.visited_at >= start, Visit.visited_at < end)
    )
    for v, target in visits.all():
        lat, lon = (v.lat, v.lon) if v.lat is not None else (target.lat, target.lon)
        if lat is None or lon is None:
            continue
        props = {
            "layer": "visit",
            "id": v.id,
            "target": display_name(target),
            "gps": v.lat is not None,
            "type": VISIT_TYPE_LABELS.get(v.visit_type, v.visit_type),
        }  # type: ignore[call-overload]
        stops.append((v.visited_at, lat, lon, props))
    checkins = await db.execute(
        select(CheckIn, Target.name)
        .join(Target, Target.id == CheckIn.target_id)
        .where(CheckIn.user_id == user_id, CheckIn.device_time >= start, CheckIn.device_time < end)
    )
    for c, name in checkins.all():
        stops.append(
            (c.device_time, c.lat, c.lon, {"layer": "checkin", "id": c.id, "target": name, "off_site": c.off_site})
        )
    stops.sort(key=lambda s: s[0])
    features = []
    for seq, (at, lat, lon, props) in enumerate(stops, start=1):
        features.append(_point(lon, lat, {**props, "seq": seq, "at": fmt_local(at, "%H:%M")}))
    if len(stops) > 1:
        line = {"type": "LineString", "coordinates": [[lon, lat] for _, lat, lon, _ in stops]}
        features.append({"type": "Feature", "geometry": line, "properties": {"layer": "route"}})
    return _collection(features, user={"id": user.id, "name": user.display_name}, day=day.isoformat(), count=len(stops))
