"""CSRF on every unsafe route (from the route table), cookie flags, security headers, the login rate limit
(kept in the database, so it holds across server processes) and no default passwords outside demo mode."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.config import ROOT, Settings
from server.security import CSRF_EXEMPT_PATHS
from tests.conftest import csrf, login
from tests.security.routes import SCOPED, Route, is_public, routes

CSRF_MESSAGE = "CSRF 校验失败"


def unsafe_routes(app: Litestar) -> list[Route]:
    return sorted(
        (r for r in routes(app) if r.method not in ("GET", "HEAD") and r.path not in CSRF_EXEMPT_PATHS),
        key=lambda r: (r.path == "/logout", r.path, r.method),
    )


def post_without_token(client: TestClient, route: Route, token: str | None) -> int:
    url = route.url({p: "1" for p in SCOPED})  # the check runs before the handler looks anything up
    headers = {"X-CSRF-Token": token} if token else {}
    if route.api:
        response = client.request(route.method, url, json={}, headers=headers, follow_redirects=False)
    else:
        data = {"_csrf": token} if token else {"note": "x"}
        response = client.request(route.method, url, data=data, follow_redirects=False)
    return response.status_code if CSRF_MESSAGE in response.text else -response.status_code


@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing", "forged"])
def test_every_unsafe_route_refuses_a_cookie_request_without_the_csrf_token(
    app: Litestar, client: TestClient, token: str | None
) -> None:
    """The admin passes every role guard, so the CSRF check is what must say no (403 with its message)."""
    anonymous = TestClient(app=app)
    login(client, "admin")
    problems = []
    with anonymous:
        csrf(anonymous)
        for route in unsafe_routes(app):
            who = anonymous if is_public(route) else client
            status = post_without_token(who, route, token)
            if status != 403:
                shown = "shown" if status > 0 else "absent"
                problems.append(f"{route.method} {route.path}: {abs(status)} (CSRF message {shown})")
    assert not problems, "unsafe routes that do not refuse a request without the CSRF token:\n" + "\n".join(problems)


def test_bearer_requests_need_no_csrf_token(client: TestClient) -> None:
    token = client.post("/api/v1/auth/token", json={"username": "cadre_a", "password": "secret-pass-1"}).json()["token"]
    fresh = TestClient(app=client.app)
    with fresh:
        response = fresh.post("/api/v1/sync", json={"items": []}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


def cookie_header(response, name: str) -> str:  # type: ignore[no-untyped-def]
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_cookie_flags_and_security_headers(settings: Settings, world: object, secure: bool) -> None:
    app = create_app(replace(settings, cookie_secure=secure))
    with TestClient(app=app, base_url="https://testserver.local" if secure else "http://testserver.local") as client:
        page = client.get("/login")
        csrf_cookie = cookie_header(page, "minqing_csrf")
        response = client.post(
            "/login",
            data={"username": "cadre_a", "password": "secret-pass-1", "_csrf": client.cookies.get("minqing_csrf")},
            follow_redirects=False,
        )
        assert response.status_code == 303
        session = cookie_header(response, "minqing_session")
    for cookie in (session, csrf_cookie):
        flags = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
        assert "httponly" in flags and flags["path"].lower() == "path=/"
        assert flags["samesite"].lower() == "samesite=lax"
        assert ("secure" in flags) is secure
    assert "max-age" in {part.strip().split("=")[0].lower() for part in session.split(";")}
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "same-origin"


def test_login_rate_limit_is_shared_by_server_processes(settings: Settings, world: object) -> None:
    """Two app instances on one database (two worker processes): failures on one count on the other."""
    settings = replace(settings, login_failures_per_minute=2)  # fewer (slow, argon2) failures to make
    first, second = TestClient(app=create_app(settings)), TestClient(app=create_app(settings))
    with first, second:
        for _ in range(settings.login_failures_per_minute):
            wrong = first.post("/api/v1/auth/token", json={"username": "leader_a", "password": "wrong-password"})
            assert wrong.status_code == 401
        response = second.post("/api/v1/auth/token", json={"username": "leader_a", "password": "secret-pass-1"})
        assert response.status_code == 429
        assert response.json()["error"] == "登录失败次数过多，请 1 分钟后再试。"
        page = second.post("/login", data={"username": "leader_a", "password": "secret-pass-1",
                                           "_csrf": csrf(second)})
        assert page.status_code == 429 and "1 分钟后再试" in page.text
        other = second.post("/api/v1/auth/token", json={"username": "cadre_b", "password": "secret-pass-1"})
        assert other.status_code == 200  # per account: others still log in


def test_login_rate_limit_per_ip_across_usernames(settings: Settings, world: object) -> None:
    settings = replace(settings, login_failures_per_minute=2)  # per IP: 4× the per-account limit
    with TestClient(app=create_app(settings)) as client:
        for n in range(settings.login_failures_per_minute * 4):
            response = client.post("/api/v1/auth/token", json={"username": f"guess{n}", "password": "wrong-pass"})
            assert response.status_code == 401
        response = client.post("/api/v1/auth/token", json={"username": "cadre_b", "password": "secret-pass-1"})
    assert response.status_code == 429
    assert "1 分钟后再试" in response.json()["error"]


@pytest.mark.parametrize("demo", [True, False], ids=["demo", "production"])
def test_demo_login_hint_only_in_demo_mode(settings: Settings, world: object, demo: bool) -> None:
    with TestClient(app=create_app(replace(settings, demo_mode=demo))) as client:
        page = client.get("/login").text
    assert ("minqing-demo" in page) is demo


def test_seed_demo_refused_outside_demo_mode(tmp_path: Path, settings: Settings) -> None:
    env = {**os.environ, "MINQING_DATA_DIR": str(tmp_path / "prod"), "MINQING_DEMO_MODE": "false",
           "MINQING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'prod' / 'minqing.db'}"}
    for args in (["seed-demo"], ["serve", "--seed-demo", "--port", "9"]):
        result = subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "MINQING_DEMO_MODE=true" in result.stdout
    assert not (tmp_path / "prod" / "minqing.db").exists()  # nothing was created, let alone demo users
