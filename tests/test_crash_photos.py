"""Crash safety with everything in flight: two phones stream sync batches while their photos upload on
separate connections; the server is SIGKILLed twice mid-stream and restarted; the phones retry until
answered. Afterwards every acknowledged item and photo is stored exactly once, every acknowledged
photo's files are whole JPEGs, and (SQLite) the file passes integrity and foreign-key checks. Also:
``python -m server backup`` while the server is writing gives a consistent copy. Runs on both
databases (the database checks go through SQL, not through the file)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.engine import make_url

from server import media
from server.config import ROOT, Settings
from server.db import create_engine
from tests.factories import VILLAGE_A, VILLAGE_B, World, jpeg_bytes, run
from tests.live import LiveServer

BATCHES, BATCH_SIZE = 6, 4
PHONES = {"cadre_a": ("house_1", VILLAGE_A), "cadre_b": ("house_b", VILLAGE_B)}


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    """Rows of one SQL query on the test database, through the app's own driver (SQLite or PostgreSQL)."""

    async def fetch() -> list[tuple[Any, ...]]:
        engine = create_engine(settings.database_url, pool_size=0)
        try:
            async with engine.connect() as conn:
                return [tuple(row) for row in (await conn.execute(text(sql))).all()]
        finally:
            await engine.dispose()

    return run(fetch())


def until_answered(send: Callable[[], httpx.Response], on_failure: Callable[[], None]) -> httpx.Response:
    """What the outbox does: retry (connection refused, reset, 5xx) until the server answers."""
    deadline = time.monotonic() + 90
    while True:
        try:
            response = send()
            if response.status_code < 500:
                return response
        except httpx.HTTPError:
            pass
        on_failure()
        if time.monotonic() > deadline:
            raise TimeoutError("the server did not come back")
        time.sleep(0.1)


class Phone:
    """One cadre's outbox: a sync thread (batches of visits, each naming a photo) and a photo thread."""

    def __init__(
        self, url: str, token: str, target_id: int, where: tuple[float, float], tag: int, batches: int = BATCHES
    ) -> None:
        self.url, self.headers = url, {"Authorization": f"Bearer {token}"}
        self.stop = threading.Event()
        self.items: list[dict[str, Any]] = []
        self.photos: dict[str, bytes] = {}
        # All in the past, however many batches: the server refuses times more than a day ahead.
        spacing = timedelta(minutes=45)
        start = datetime.now(UTC) - spacing * (batches * BATCH_SIZE) - timedelta(hours=1)
        for n in range(batches * BATCH_SIZE):
            photo_uuid = str(uuid.uuid4())
            self.photos[photo_uuid] = jpeg_bytes(320, 240, color=(tag * 70 % 255, n * 5 % 255, 60))
            at = (start + spacing * n).isoformat()
            self.items.append({
                "uuid": str(uuid.uuid4()), "kind": "visit", "created_at": at, "visited_at": at,
                "target_id": target_id, "lat": where[0] + 0.001, "lon": where[1], "accuracy": 10,
                "visit_type": "home", "notes": f"第{n}次走访", "topics": ["家庭收入"], "photo_uuids": [photo_uuid],
                "concerns": [{"uuid": str(uuid.uuid4()), "text": "路灯坏了", "category": "problem"}],
            })
        self.acknowledged: dict[str, int] = {}
        self.photos_acknowledged: set[str] = set()
        self.failures = 0
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._guard, args=(work,), daemon=True) for work in (self._sync, self._upload)
        ]

    def _failed(self) -> None:
        self.failures += 1

    def _guard(self, work: Callable[[httpx.Client], None]) -> None:
        try:
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=20) as client:
                work(client)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def _sync(self, client: httpx.Client) -> None:
        for k in range(0, len(self.items), BATCH_SIZE):
            if self.stop.is_set():
                return
            batch = self.items[k : k + BATCH_SIZE]
            response = until_answered(lambda b=batch: client.post("/api/v1/sync", json={"items": b}), self._failed)
            assert response.status_code == 200, response.text
            for item, result in zip(batch, response.json()["results"], strict=True):
                assert result["status"] in ("created", "duplicate"), result
                self.acknowledged[item["uuid"]] = result["id"]

    def _upload(self, client: httpx.Client) -> None:
        for photo_uuid, body in self.photos.items():
            if self.stop.is_set():
                return
            response = until_answered(
                lambda u=photo_uuid, b=body: client.put(
                    f"/api/v1/photos/{u}", content=b, headers={"Content-Type": "image/jpeg"}
                ),
                self._failed,
            )
            assert response.status_code in (200, 201), response.text
            self.photos_acknowledged.add(photo_uuid)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(120)

    @property
    def progress(self) -> int:
        return len(self.acknowledged) + len(self.photos_acknowledged)


def token(server: LiveServer, username: str) -> str:
    response = httpx.post(f"{server.url}/api/v1/auth/token", json={"username": username, "password": "secret-pass-1"})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.02)


def test_sigkill_twice_while_batches_and_photos_stream(
    live_server: LiveServer, world: World, settings: Settings
) -> None:
    phones = [
        Phone(live_server.url, token(live_server, name), world.targets[target], where, tag)
        for tag, (name, (target, where)) in enumerate(PHONES.items())
    ]
    total = sum(len(p.items) + len(p.photos) for p in phones)
    for phone in phones:
        phone.start()
    kills = []
    for fraction in (0.2, 0.55):
        wait_for(lambda f=fraction: sum(p.progress for p in phones) >= f * total or any(p.errors for p in phones))
        live_server.kill()
        kills.append(sum(p.progress for p in phones))
        time.sleep(0.3)  # the phones keep retrying against a dead server
        live_server.start()
    for phone in phones:
        phone.join()
    assert not [e for p in phones for e in p.errors], [repr(e) for p in phones for e in p.errors]
    assert all(k < total for k in kills), "a kill came after everything was acknowledged: nothing was tested"
    assert sum(p.failures for p in phones) > 0, "no request failed: the kills interrupted nothing"

    visits = dict(query(settings, "SELECT uuid, id FROM visit"))
    assert len(visits) == len(query(settings, "SELECT id FROM visit"))  # uuid is unique: exactly once
    photos = dict(query(settings, "SELECT uuid, count(*) FROM photo GROUP BY uuid"))
    links = query(settings, "SELECT v.uuid, vp.photo_uuid FROM visit_photo vp JOIN visit v ON v.id = vp.visit_id")
    concerns = dict(query(settings, "SELECT v.uuid, count(*) FROM concern c JOIN visit v ON v.id = c.visit_id "
                                    "GROUP BY v.uuid"))
    for phone in phones:
        assert len(phone.acknowledged) == len(phone.items) and phone.photos_acknowledged == set(phone.photos)
        for item in phone.items:
            assert visits.get(item["uuid"]) == phone.acknowledged[item["uuid"]]  # stored, as acknowledged
            assert concerns.get(item["uuid"]) == 1
        for photo_uuid in phone.photos:
            assert photos.get(photo_uuid) == 1
            for size in ("full", "thumb"):
                with Image.open(media.photo_path(settings.media_dir, photo_uuid, size)) as im:
                    im.load()  # a whole JPEG, not a torn write
    expected_links = {(i["uuid"], i["photo_uuids"][0]) for p in phones for i in p.items}
    assert sorted(links) == sorted(expected_links)  # each link once
    if settings.is_sqlite:
        path = make_url(settings.database_url).database
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_backup_while_the_server_writes(
    live_server: LiveServer, world: World, settings: Settings, tmp_path: Path
) -> None:
    if not settings.is_sqlite:
        pytest.skip("python -m server backup copies SQLite files; on PostgreSQL use pg_dump (docs/scaling.md)")
    phone = Phone(live_server.url, token(live_server, "cadre_a"), world.targets["house_1"], VILLAGE_A, 0, batches=200)
    phone.start()
    wait_for(lambda: len(phone.acknowledged) >= BATCH_SIZE or bool(phone.errors))
    target = tmp_path / "backup" / "minqing.db"
    before = len(phone.acknowledged)
    result = subprocess.run(
        [sys.executable, "-m", "server", "backup", str(target)],
        cwd=ROOT, env={**os.environ, **live_server.env()}, capture_output=True, text=True, timeout=60,
    )
    after = len(phone.acknowledged)
    phone.stop.set()
    phone.join()
    assert not phone.errors, phone.errors
    assert result.returncode == 0, result.stdout + result.stderr
    assert "完整性检查：ok" in result.stdout
    assert after > before, "nothing was written while the backup ran: nothing was tested"
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        backed_up = copy.execute("SELECT count(*) FROM visit").fetchone()[0]
        orphans = copy.execute("SELECT count(*) FROM concern c LEFT JOIN visit v ON v.id = c.visit_id "
                               "WHERE c.visit_id IS NOT NULL AND v.id IS NULL").fetchone()[0]
        whole = copy.execute("SELECT count(*) FROM visit v WHERE NOT EXISTS "
                             "(SELECT 1 FROM concern c WHERE c.visit_id = v.id)").fetchone()[0]
    assert before <= backed_up <= len(phone.acknowledged)  # a snapshot taken while the phone wrote
    assert orphans == 0 and whole == 0  # consistent: each visit with its concern, nothing half-written
