"""Local reverse geocoding against our own gazetteer (village boundaries and centroids): no network.

``describe_position`` answers "大市村（村界内）" or "距大市村约 1.2 公里" for a GPS fix, using the
villages in the viewer's scope. An external geocoder (``MINQING_GEOCODER_URL``) is never required.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit
from server.accounts.service import Viewer
from server.geo import distance_m, point_in_geojson
from server.places.models import Target
from server.web import fmt_distance

SEARCH_DEGREES = 0.15  # ≈ 15 km: villages farther than this are not "near"


async def describe_position(db: AsyncSession, viewer: Viewer, lat: float, lon: float) -> str:
    """The village a point lies in, or the nearest one with its distance; empty when none is near."""
    rows = (
        await db.execute(
            select(Target.name, Target.lat, Target.lon, Target.boundary)
            .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
            .where(
                Target.kind == "village",
                Target.lat.between(lat - SEARCH_DEGREES, lat + SEARCH_DEGREES),  # type: ignore[union-attr]
                Target.lon.between(lon - SEARCH_DEGREES, lon + SEARCH_DEGREES),  # type: ignore[union-attr]
                OrgUnit.path.startswith(viewer.unit_path),  # type: ignore[attr-defined]
            )
        )
    ).all()
    nearest: tuple[float, str] | None = None
    for name, v_lat, v_lon, boundary in rows:
        if point_in_geojson(lat, lon, boundary):
            return f"{name}（村界内）"
        if v_lat is not None and v_lon is not None:
            d = distance_m(lat, lon, v_lat, v_lon)
            if nearest is None or d < nearest[0]:
                nearest = (d, name)
    if nearest is None:
        return ""
    return f"距{nearest[1]}约 {fmt_distance(nearest[0])}"
