"""server.geo: distances are geopy's geodesic, bit for bit from 1 km, within 0.1 mm below; the quick estimate
stays within its bound."""

from __future__ import annotations

import random

import pytest
from geopy.distance import geodesic

from server.errors import AppError
from server.geo import (
    APPROX_ERROR,
    SHORT_LEG_ERROR_M,
    SHORT_LEG_M,
    approx_distance_m,
    check_coords,
    distance_m,
)


def pairs(n: int, spread: float) -> list[tuple[float, float, float, float]]:
    rng = random.Random(20261126)
    out = []
    for _ in range(n):
        lat, lon = rng.uniform(-80, 80), rng.uniform(-179, 179)
        dlat, dlon = rng.uniform(-spread, spread), rng.uniform(-spread, spread)
        out.append((lat, lon, max(-89.9, min(89.9, lat + dlat)), max(-180, min(180, lon + dlon))))
    return out


def test_distance_is_geopys_geodesic_to_the_last_bit_from_a_kilometre() -> None:
    cases = pairs(300, 0.05) + pairs(300, 2) + pairs(100, 60) + [(0, 0, 0.5, 179.7), (29.5, 114.0, 29.5, 114.0104)]
    long = [c for c in cases if geodesic(c[:2], c[2:]).meters >= SHORT_LEG_M]
    assert len(long) > 600
    for lat1, lon1, lat2, lon2 in long:
        assert distance_m(lat1, lon1, lat2, lon2) == geodesic((lat1, lon1), (lat2, lon2)).meters


def test_short_legs_are_within_a_tenth_of_a_millimetre_of_the_geodesic() -> None:
    """Legs under 1 km (a cadre at the household) take the fast formula, at every latitude, across the
    antimeridian, up to the cut-off."""
    cases = pairs(3000, 0.01) + pairs(500, 0.0001) + [(29.5, 114.0, 29.5, 114.0), (10.0, 179.999, 10.001, -179.999)]
    cases += [(lat, 114.0, lat + 0.0001, 114.0 + 0.0005) for lat in (-89.0, -60.0, 0.0, 45.0, 89.0)]
    cases += [(29.5, 114.0, 29.5, 114.0 + d) for d in (0.0102, 0.01032, 0.01034)]  # 986–1,002 m east
    short = 0
    for lat1, lon1, lat2, lon2 in cases:
        exact = geodesic((lat1, lon1), (lat2, lon2)).meters
        assert abs(distance_m(lat1, lon1, lat2, lon2) - exact) <= SHORT_LEG_ERROR_M
        short += exact < SHORT_LEG_M
    assert short > 2500


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
