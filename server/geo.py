"""Geodesic distances, coordinate validation, polygons and bounding boxes (geopy, no network)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from geographiclib.geodesic import Geodesic
from geopy import units
from geopy.distance import ELLIPSOIDS

from server.errors import AppError

# geopy's ``geodesic`` builds this ellipsoid (in km) anew for every distance and parses both points
# (≈ 70 µs a call); built once, the same computation gives the same bits in ≈ 40 µs (tests/test_geo.py).
_MAJOR_KM, _MINOR_KM, _FLATTENING = ELLIPSOIDS["WGS-84"]
_WGS84_KM = Geodesic(_MAJOR_KM, _FLATTENING)
_MAJOR_M = _MAJOR_KM * 1000
_E2 = _FLATTENING * (2 - _FLATTENING)  # first eccentricity squared
SHORT_LEG_M = 1000.0  # below this the local-radii formula is within SHORT_LEG_ERROR_M of the geodesic
SHORT_LEG_ERROR_M = 0.0001  # 0.1 mm (tests/test_geo.py measures it over the globe)
_MEAN_RADIUS_M = 6_371_008.8
APPROX_ERROR = 0.01  # approx_distance_m is within 1 % of distance_m (sphere vs ellipsoid: ≤ 0.56 %)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance in metres on the WGS-84 ellipsoid: ``geopy.distance.geodesic(…).meters`` to the last
    bit for legs of ``SHORT_LEG_M`` and more; shorter legs (a cadre at the household: most calls) from the
    ellipsoid's radii of curvature at the mid-latitude, within 0.1 mm of it in ≈ 1 µs instead of ≈ 40."""
    short = _local_distance_m(lat1, lon1, lat2, lon2)
    if short < SHORT_LEG_M:
        return short
    s12 = _WGS84_KM.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"]
    return float(units.meters(kilometers=s12))


def _local_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Plane distance with the meridional (M) and prime-vertical (N) radii of WGS-84 at the mid-latitude."""
    mid = math.radians((lat1 + lat2) / 2)
    sin_mid = math.sin(mid)
    w2 = 1 - _E2 * sin_mid * sin_mid
    n = _MAJOR_M / math.sqrt(w2)
    m = n * (1 - _E2) / w2
    dlon = (lon2 - lon1 + 180) % 360 - 180
    return math.hypot(m * math.radians(lat2 - lat1), n * math.cos(mid) * math.radians(dlon))


def approx_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance on the mean sphere, within ``APPROX_ERROR`` of ``distance_m``: for
    checks that only need to know a leg is clearly short or clearly slow (a few µs instead of ≈ 40)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * _MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def check_coords(lat: float | None, lon: float | None, *, required: bool = True) -> tuple[float, float] | None:
    """Validate a GPS fix; raise a Chinese 400 when it is missing or impossible."""
    if lat is None or lon is None:
        if required:
            raise AppError("缺少定位信息，请打开手机定位（GPS）后重试。", 400)
        return None
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError):
        raise AppError("定位坐标格式不正确，请重新定位。", 400) from None
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)) or not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180):
        raise AppError("定位坐标超出范围（纬度 -90～90，经度 -180～180），请重新定位。", 400)
    return lat_f, lon_f


def check_accuracy(accuracy: float | None) -> float | None:
    if accuracy is None:
        return None
    try:
        value = float(accuracy)
    except (TypeError, ValueError):
        raise AppError("定位精度格式不正确。", 400) from None
    if not math.isfinite(value) or value < 0 or value > 100_000:
        raise AppError("定位精度超出范围（0～100000 米）。", 400)
    return value


def point_in_ring(lat: float, lon: float, ring: Sequence[Sequence[float]]) -> bool:
    """Ray casting on a GeoJSON ring of [lon, lat] pairs."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / ((yj - yi) or 1e-12) + xi:
            inside = not inside
        j = i
    return inside


def point_in_geojson(lat: float, lon: float, geometry_text: str | None) -> bool | None:
    """Whether a point lies in a GeoJSON Polygon/MultiPolygon geometry; None when there is none."""
    if not geometry_text:
        return None
    geometry = json.loads(geometry_text)
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return any(point_in_ring(lat, lon, poly[0]) for poly in polygons)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` → a validated tuple."""
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in text.split(","))
    except ValueError:
        raise AppError("bbox 格式应为“最小经度,最小纬度,最大经度,最大纬度”。", 400) from None
    check_coords(min_lat, min_lon)
    check_coords(max_lat, max_lon)
    if min_lon > max_lon or min_lat > max_lat:
        raise AppError("bbox 的最小值不能大于最大值。", 400)
    return min_lon, min_lat, max_lon, max_lat
