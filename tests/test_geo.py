"""server.geo: the cached-ellipsoid geodesic is geopy's, bit for bit; the quick estimate stays within its bound."""

from __future__ import annotations

import random

import pytest
from geopy.distance import geodesic

from server.errors import AppError
from server.geo import APPROX_ERROR, approx_distance_m, check_coords, distance_m


def pairs(n: int, spread: float) -> list[tuple[float, float, float, float]]:
    rng = random.Random(20261126)
    out = []
    for _ in range(n):
        lat, lon = rng.uniform(-80, 80), rng.uniform(-179, 179)
        dlat, dlon = rng.uniform(-spread, spread), rng.uniform(-spread, spread)
        out.append((lat, lon, max(-89.9, min(89.9, lat + dlat)), max(-180, min(180, lon + dlon))))
    return out


def test_distance_is_geopys_geodesic_to_the_last_bit() -> None:
    cases = pairs(300, 0.01) + pairs(300, 2) + pairs(100, 60) + [(29.5, 114.0, 29.5, 114.0), (0, 0, 0.5, 179.7)]
    for lat1, lon1, lat2, lon2 in cases:
        assert distance_m(lat1, lon1, lat2, lon2) == geodesic((lat1, lon1), (lat2, lon2)).meters


@pytest.mark.parametrize("spread", [0.0001, 0.01, 1.0, 20.0])
def test_approx_distance_is_within_its_bound(spread: float) -> None:
    for lat1, lon1, lat2, lon2 in pairs(500, spread):
        exact = distance_m(lat1, lon1, lat2, lon2)
        assert abs(approx_distance_m(lat1, lon1, lat2, lon2) - exact) <= APPROX_ERROR * exact + 1e-9


def test_check_coords_refuses_impossible_fixes_in_chinese() -> None:
    with pytest.raises(AppError, match="超出范围"):
        check_coords(91, 114)
    with pytest.raises(AppError, match="缺少定位"):
        check_coords(None, 114)
    assert check_coords(None, None, required=False) is None
