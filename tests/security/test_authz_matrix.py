"""Authorization matrix generated from the route table: every route × anonymous / each role / the viewer's
own unit and another unit → the expected allow or deny (see routes.py for the rules and the allow-list).

Reviewed matrix: tests/security/authz_matrix.txt lists every route with the roles its guards let in. A new
route, or a changed guard, fails `test_route_table_matches_the_reviewed_matrix` until someone looks at it
and regenerates the file (MINQING_UPDATE_AUTHZ=1 pytest tests/security/test_authz_matrix.py)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import text

from server.config import Settings
from server.db import create_engine
from tests.conftest import bearer, csrf, login
from tests.factories import VILLAGE_A, VILLAGE_B, World, jpeg_bytes, run
from tests.security.routes import (
    ACTORS,
    FIXED,
    HANDLER_CHECKED,
    MATRIX_FILE,
    PUBLIC,
    SCOPED,
    Route,
    is_public,
    routes,
)

SESSION_ENDING = {("POST", "/logout")}


def ordered(app: Litestar) -> list[Route]:
    """All routes, the ones that end the session last."""
    return sorted(routes(app), key=lambda r: (r.key in SESSION_ENDING, r.path, r.method))


def scalar(settings: Settings, sql: str, **params: Any) -> Any:
    async def fetch() -> Any:
        engine = create_engine(settings.database_url, pool_size=0)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(sql), params)).scalar()
        finally:
            await engine.dispose()

    return run(fetch())


def make_visit(client: TestClient, username: str, target_id: int, where: tuple[float, float], photo: bool) -> str:
    """A visit (with a concern, and a photo if asked) through the sync API; returns its uuid."""
    headers = bearer(client, username)
    photo_uuid = str(uuid.uuid4())
    at = (datetime.now(UTC) - timedelta(hours=3 if photo else 2)).isoformat()
    item = {
        "uuid": str(uuid.uuid4()), "kind": "visit", "created_at": at, "target_id": target_id,
        "lat": where[0] + 0.001, "lon": where[1], "accuracy": 10, "visit_type": "home", "notes": "安全测试",
        "photo_uuids": [photo_uuid] if photo else [],
        "concerns": [{"uuid": str(uuid.uuid4()), "text": "路灯坏了", "category": "problem"}],
    }
    result = client.post("/api/v1/sync", json={"items": [item]}, headers=headers).json()["results"][0]
    assert result["status"] == "created", result
    if photo:
        put = client.put(f"/api/v1/photos/{photo_uuid}", content=jpeg_bytes(320, 240),
                         headers={**headers, "Content-Type": "image/jpeg"})
        assert put.status_code == 201, put.text
    return photo_uuid if photo else item["uuid"]


@pytest.fixture
def objects(client: TestClient, world: World, settings: Settings) -> dict[str, dict[str, Any]]:
    """Path-parameter values in 甲镇 (own, for cadre_a / leader_a) and in 乙镇 (other)."""
    out: dict[str, dict[str, Any]] = {"own": {}, "other": {}}
    for side, user, house, unit, where in (
        ("own", "cadre_a", "house_1", "town_a", VILLAGE_A),
        ("other", "cadre_b", "house_b", "town_b", VILLAGE_B),
    ):
        photo_uuid = make_visit(client, user, world.targets[house], where, photo=True)
        make_visit(client, user, world.targets[house], where, photo=False)  # no photo → an integrity flag
        visit_id = scalar(settings, "SELECT visit_id FROM visit_photo WHERE photo_uuid = :u", u=photo_uuid)
        out[side] = {
            "target_id": world.targets[house],
            "unit_id": world.units[unit],
            "photo_uuid": photo_uuid,
            "visit_id": visit_id,
            "concern_id": scalar(settings, "SELECT id FROM concern WHERE visit_id = :v", v=visit_id),
            "flag_id": scalar(settings, "SELECT max(f.id) FROM integrity_flag f JOIN visit v ON v.id = f.visit_id "
                                        "JOIN user_account u ON u.id = v.user_id WHERE u.username = :n", n=user),
        }
    client.cookies.clear()
    return out


def send(client: TestClient, route: Route, values: dict[str, Any]) -> httpx.Response:
    url = route.url(values)
    if route.method in ("GET", "HEAD"):
        return client.request(route.method, url, follow_redirects=False)
    token = csrf(client)  # CSRF is tested on its own: here it must not be what says no
    headers = {"X-CSRF-Token": token}
    if route.api:
        return client.request(route.method, url, json={}, headers=headers, follow_redirects=False)
    return client.request(route.method, url, data={"_csrf": token}, headers=headers, follow_redirects=False)


def describe(route: Route, who: str, response: httpx.Response, expected: str) -> str:
    return f"{route.method} {route.path} as {who}: {response.status_code}, expected {expected}"


def test_route_table_matches_the_reviewed_matrix(app: Litestar) -> None:
    table = ordered(app)
    unguarded = [r.line() for r in table if r.roles is None and not is_public(r)]
    assert not unguarded, "routes with no guard that are not in PUBLIC (tests/security/routes.py):\n" + "\n".join(
        unguarded
    )
    unknown = sorted({p for r in table for p in r.params if p not in SCOPED and p not in FIXED})
    assert not unknown, f"path parameters the matrix cannot fill: {unknown}; add them to SCOPED or FIXED"
    stale = sorted(k for k in PUBLIC if k not in {r.key for r in table})
    assert not stale, f"PUBLIC lists routes that no longer exist: {stale}"
    current = "\n".join(sorted(r.line() for r in table)) + "\n"
    if os.environ.get("MINQING_UPDATE_AUTHZ") == "1":
        MATRIX_FILE.write_text(current, encoding="utf-8")
    reviewed = MATRIX_FILE.read_text(encoding="utf-8") if MATRIX_FILE.exists() else ""
    assert current == reviewed, (
        "the route table changed (a new route or different guards): review the difference, then regenerate "
        "tests/security/authz_matrix.txt with MINQING_UPDATE_AUTHZ=1"
    )


def test_anonymous_is_refused_everywhere_but_public_routes(
    app: Litestar, client: TestClient, objects: dict[str, dict[str, Any]]
) -> None:
    problems = []
    for route in ordered(app):
        response = send(client, route, objects["own"])
        if response.status_code >= 500:
            problems.append(describe(route, "anonymous", response, "no 5xx"))
        elif is_public(route):
            continue
        elif route.api and response.status_code != 401:
            problems.append(describe(route, "anonymous", response, "401"))
        elif not route.api and not (
            response.status_code == 401
            or (300 <= response.status_code < 400 and response.headers["location"].startswith("/login"))
        ):
            problems.append(describe(route, "anonymous", response, "redirect to /login"))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", list(ACTORS))
def test_each_role_own_unit_and_other_unit(
    app: Litestar, client: TestClient, objects: dict[str, dict[str, Any]], role: str
) -> None:
    username = ACTORS[role]
    login(client, username)
    problems = []
    # The supervisor and the admin work at the county: every unit is theirs. Cadre and leader sit in 甲镇.
    sides = ("own", "other") if role in ("cadre", "leader") else ("own",)
    for route in ordered(app):
        for side in sides if route.scoped else ("own",):
            response = send(client, route, objects[side])
            who = f"{username} ({side} unit)"
            status = response.status_code
            if status >= 500:
                problems.append(describe(route, who, response, "no 5xx"))
            elif is_public(route):
                continue  # for everyone; what it shows is checked by its capability (redaction) tests
            elif route.roles is not None and role not in route.roles:
                if status != 403:
                    problems.append(describe(route, who, response, "403 (role not allowed)"))
            elif status in (401, 403) and side == "own" and not (status == 403 and route.key in HANDLER_CHECKED):
                problems.append(describe(route, who, response, "allowed"))
            elif side == "other" and route.method == "GET" and status not in (403, 404):
                problems.append(describe(route, who, response, "403/404 (another unit's data)"))
            elif side == "other" and route.method != "GET" and status < 400:
                problems.append(describe(route, who, response, "4xx (another unit's data)"))
            elif side == "own" and route.scoped and route.method == "GET" and status >= 400:
                problems.append(describe(route, who, response, "< 400 (own unit's data)"))
    assert not problems, "\n".join(problems)
