"""今日 (my targets, nearest first), a target's page, and the assignments API."""

from __future__ import annotations

from datetime import datetime

from litestar import Controller, Request, get
from litestar.params import Parameter
from litestar.response import Template
from msgspec import Struct
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_login
from server.clock import day_bounds_utc, local_today
from server.coverage.rules import visits_due
from server.errors import AppError
from server.geo import check_coords
from server.places import service
from server.places.models import CHECKIN_KINDS, TARGET_KIND_LABELS
from server.visits.service import list_checkins, list_visits
from server.web import render


def _position(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    if lat is None and lon is None:
        return None, None
    coords = check_coords(lat, lon)
    assert coords is not None
    return coords


class TodayController(Controller):
    guards = [requires_login]

    @get("/today", include_in_schema=False)
    async def today(
        self,
        request: Request,
        db: AsyncSession,
        q: str = "",
        kind: str = "",
        lat: float | None = None,
        lon: float | None = None,
    ) -> Template:
        if kind and kind not in TARGET_KIND_LABELS:
            raise AppError("未知的对象类型。", 400)
        lat, lon = _position(lat, lon)
        due = await visits_due(db, request.user.unit_path, local_today())
        items = await service.my_targets(db, request.user, lat=lat, lon=lon, query=q, kind=kind, due_since=due)
        start, end = day_bounds_utc(local_today())
        today_visits = await list_visits(db, request.user, user_id=request.user.id, start=start, end=end, limit=500)
        today_checkins = await list_checkins(db, request.user, user_id=request.user.id, start=start, end=end)
        context = {
            "today_visits": len(today_visits),
            "today_checkins": len(today_checkins),
            "items": items,
            "q": q,
            "kind": kind,
            "located": lat is not None,
            "due_count": sum(1 for i in items if i.due),
            "display_name": service.display_name,
        }
        return render(request, "places/today.html", context, fragment="places/_targets.html")

    @get("/targets/{target_id:int}", include_in_schema=False)
    async def target_page(self, request: Request, db: AsyncSession, target_id: int) -> Template:
        viewer = request.user
        target = await service.get_target(db, viewer, target_id)
        start, end = day_bounds_utc(local_today())
        my_checkins = [
            c
            for c, _ in await list_checkins(db, viewer, user_id=viewer.id, start=start, end=end)
            if c.target_id == target.id
        ]
        context = {
            "target": target,
            "name": service.display_name(target),
            "village": await service.village_name(db, target),
            "assigned": await service.is_assigned(db, viewer.id, target.id),  # type: ignore[arg-type]
            "can_check_in": target.kind in CHECKIN_KINDS,
            "checkins": my_checkins,
            "visits": await list_visits(db, viewer, target_id=target.id, limit=20),
        }
        return render(request, "places/target.html", context)


class AssignmentOut(Struct):
    target_id: int
    kind: str
    kind_label: str
    assignment_kind: str
    name: str
    lat: float | None
    lon: float | None
    last_visit: datetime | None
    due: bool
    distance_m: float | None


class PlacesApiController(Controller):
    path = "/api/v1"
    guards = [requires_login]
    tags = ["places"]

    @get("/assignments", summary="My targets (包保/联系对象), nearest first when lat/lon are given")
    async def assignments(
        self,
        request: Request,
        db: AsyncSession,
        lat: float | None = Parameter(default=None, ge=-90, le=90),
        lon: float | None = Parameter(default=None, ge=-180, le=180),
    ) -> list[AssignmentOut]:
        lat, lon = _position(lat, lon)
        due = await visits_due(db, request.user.unit_path, local_today())
        items = await service.my_targets(db, request.user, lat=lat, lon=lon, limit=5000, due_since=due)
        return [
            AssignmentOut(
                target_id=i.target.id,  # type: ignore[arg-type]
                kind=i.target.kind,
                kind_label=TARGET_KIND_LABELS.get(i.target.kind, i.target.kind),  # type: ignore[call-overload]
                assignment_kind=i.assignment_kind,
                name=service.display_name(i.target),
                lat=i.target.lat,
                lon=i.target.lon,
                last_visit=i.last_visit,
                due=i.due,
                distance_m=round(i.distance_m, 1) if i.distance_m is not None else None,
            )
            for i in items
        ]


ROUTES = [TodayController, PlacesApiController]
