"""Fixtures: a real, migrated SQLite file per test (copied from a template migrated once), the app,
a Litestar test client, and a small world of org units, people and targets made through our services.
With MINQING_TEST_DB=postgres each test gets its own PostgreSQL database instead (see tests/pg.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.config import Settings, load_settings
from server.db import migrate
from tests import pg
from tests.factories import World, build_world, run

pytest_plugins = ["tests.live"]


def pytest_sessionstart(session: pytest.Session) -> None:
    pg.session_check(session.config)


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: PostgreSQL ({pg.maintenance_url()})" if pg.wanted() else "database: SQLite files"


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path | str, World]]:
    """Migrate once and build the test world once; each test gets a copy of this SQLite file (a Path)
    or, with MINQING_TEST_DB=postgres, of this PostgreSQL template database (its name, a str)."""
    if pg.wanted():
        name = pg.unique_name("tpl")
        url = pg.create_database(name)
        migrate(url)
        world = run(build_world(url))
        yield name, world
        pg.drop_database(name)
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate(url)
    yield path, run(build_world(url))


@pytest.fixture
def settings(
    tmp_path: Path, template: tuple[Path | str, World], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("MINQING_SECRET_KEY", "test-secret")
    monkeypatch.setenv("MINQING_DATA_DIR", str(tmp_path))
    if isinstance(template[0], str):  # PostgreSQL: a fresh database copied from the template
        name = pg.unique_name("t")
        url = pg.create_database(name, template=template[0])
    else:
        db_path = tmp_path / "minqing.db"
        shutil.copyfile(template[0], db_path)
        url = f"sqlite+aiosqlite:///{db_path}"
    # No connection pool on PostgreSQL: asyncpg connections belong to one event loop, and a test may
    # drive one app from several TestClients (each has its own loop).
    yield replace(
        load_settings(), database_url=url, media_dir=tmp_path / "media", data_dir=tmp_path, db_pool_size=0
    )
    if isinstance(template[0], str):
        pg.drop_database(name)


@pytest.fixture
def world(settings: Settings, template: tuple[Path | str, World]) -> World:
    return template[1]


@pytest.fixture
def app(settings: Settings, world: World) -> Litestar:
    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient]:
    with TestClient(app=app) as c:
        yield c


def csrf(client: TestClient) -> str:
    """Fetch a page so the CSRF cookie is set; return its value for forms and the X-CSRF-Token header."""
    if not client.cookies.get("minqing_csrf"):
        client.get("/login")
    return client.cookies.get("minqing_csrf") or ""


def login(client: TestClient, username: str, password: str = "secret-pass-1") -> TestClient:
    token = csrf(client)
    response = client.post(
        "/login", data={"username": username, "password": password, "_csrf": token}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return client


def bearer(client: TestClient, username: str, password: str = "secret-pass-1") -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
