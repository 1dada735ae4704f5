"""Power cut in the middle of a sync: SIGKILL the server while a phone streams batches, start it again on
the same database, let the phone retry, and find every acknowledged item stored exactly once."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from server import media
from server.config import Settings
from server.db import create_engine
from tests.factories import World, jpeg_bytes, run
from tests.test_sync import STEP, checkin_item, now_iso, visit_item

BATCHES = 12
BATCH_SIZE = 20


class Phone(threading.Thread):
    """Sends its outbox batch by batch, retrying each batch (and its photo) until the server answers."""

    def __init__(self, url: str, token: str, batches: list[list[dict[str, Any]]], photos: dict[str, bytes]) -> None:
        super().__init__(daemon=True)
        self.url, self.batches, self.photos = url, batches, photos
        self.headers = {"Authorization": f"Bearer {token}"}
        self.acknowledged: dict[str, int] = {}  # uuid → server id, from 200 answers only
        self.photos_acknowledged: set[str] = set()
        self.batches_done = 0
        self.failures = 0
        self.error: BaseException | None = None

    def _until_answered(self, send: Any) -> httpx.Response:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = send()
                if response.status_code < 500:
                    return response
            except httpx.HTTPError:
                pass
            self.failures += 1
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not come back")
            time.sleep(0.2)

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=20) as client:
                for batch in self.batches:
                    response = self._until_answered(lambda b=batch: client.post("/api/v1/sync", json={"items": b}))
                    assert response.status_code == 200, response.text
                    for item, result in zip(batch, response.json()["results"], strict=True):
                        assert result["uuid"] == item["uuid"] and result["status"] in ("created", "duplicate"), result
                        self.acknowledged[item["uuid"]] = result["id"]
                    for photo_uuid in batch[0]["photo_uuids"]:
                        body = self.photos[photo_uuid]
                        put = self._until_answered(
                            lambda u=photo_uuid, b=body: client.put(
                                f"/api/v1/photos/{u}", content=b, headers={"Content-Type": "image/jpeg"}
                            )
                        )
                        assert put.status_code in (200, 201), put.text
                        self.photos_acknowledged.add(photo_uuid)
                    self.batches_done += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def outbox(world: World) -> tuple[list[list[dict[str, Any]]], dict[str, bytes]]:
    batches, photos, n = [], {}, 0
    for b in range(BATCHES):
        batch = []
        for i in range(BATCH_SIZE):
            n += 1
            if i == 0:
                photo_uuid = str(uuid.uuid4())
                photos[photo_uuid] = jpeg_bytes(640, 480, color=(b * 10 % 255, 90, 40))
                batch.append(visit_item(world, "house_2", photo_uuids=[photo_uuid], created_at=now_iso(-n * STEP)))
            elif i % 4 == 0:
                batch.append(checkin_item(world, created_at=now_iso(-n * STEP)))
            else:
                batch.append(visit_item(world, ["house_1", "house_3"][i % 2], created_at=now_iso(-n * STEP)))
        batches.append(batch)
    return batches, photos


def test_sigkill_while_syncing_loses_and_doubles_nothing(live_server, world: World, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    login = {"username": "cadre_a", "password": "secret-pass-1"}
    token = httpx.post(f"{live_server.url}/api/v1/auth/token", json=login).json()["token"]
    batches, photos = outbox(world)
    phone = Phone(live_server.url, token, batches, photos)
    phone.start()
    deadline = time.monotonic() + 60
    while phone.batches_done < 3 and time.monotonic() < deadline and phone.error is None:
        time.sleep(0.02)
    assert phone.error is None and phone.batches_done >= 3
    time.sleep(0.15)  # land in the middle of a request
    live_server.kill()
    killed_after = phone.batches_done
    time.sleep(0.5)  # the phone keeps trying against a dead server
    live_server.start()
    phone.join(120)
    assert not phone.is_alive()
    assert phone.error is None, repr(phone.error)
    assert killed_after < BATCHES, "the kill came after the phone had finished: nothing was tested"
    assert phone.failures > 0, "no request failed: the kill did not interrupt the stream"

    all_items = [item for batch in batches for item in batch]
    integrity, stored_rows, concerns, photo_uuids = run(database_state(settings))
    assert integrity == "ok"
    stored: dict[str, int] = {}
    for row_uuid, row_id in stored_rows:
        assert row_uuid not in stored, f"{row_uuid} stored twice"
        stored[row_uuid] = row_id
    assert len(phone.acknowledged) == len(all_items)
    for item_uuid, row_id in phone.acknowledged.items():
        assert stored.get(item_uuid) == row_id  # every acknowledged item, exactly once, as acknowledged
    assert len(stored) == len(all_items)
    assert concerns == sum(1 for i in all_items if i["kind"] == "visit")  # one concern per visit
    assert set(photo_uuids) == set(photos) == phone.photos_acknowledged
    for photo_uuid in photos:
        assert media.photo_path(settings.media_dir, photo_uuid, "full").is_file()


async def database_state(settings: Settings) -> tuple[str, list[tuple[str, int]], int, list[str]]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            integrity = "ok"
            if settings.database_url.startswith("sqlite"):
                integrity = (await conn.exec_driver_sql("PRAGMA integrity_check")).scalar_one()
            rows = [
                (u, i)
                for table in ("visit", "checkin")
                for u, i in await conn.execute(text(f"SELECT uuid, id FROM {table}"))
            ]
            concerns = (await conn.execute(text("SELECT count(*) FROM concern"))).scalar_one()
            photo_uuids = list((await conn.execute(text("SELECT uuid FROM photo"))).scalars())
    finally:
        await engine.dispose()
    return integrity, rows, int(concerns), photo_uuids
