"""Demo photos (server/demo/photos.py) on the seeded 崇阳县 demo, through the real pipeline and scan.

Slow: seeding the whole demo (~2–3 s) and drawing ~400 pictures (~5 s), so everything is checked in one
test on one database (a SQLite file, or PostgreSQL with MINQING_TEST_DB=postgres). ``scan_demo`` over its
full 70 days would add ~11 s, so the test narrows its window to the photos' three weeks plus one more
(DEMO_DAYS = 28): the same code, over every photographed visit and a week of older ones."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.clock import local_day, local_today, period_bounds_utc
from server.config import Settings
from server.db import migrate
from server.demo.photos import RECENT_DAYS, add_demo_photos, draw_scene, photo_uuid_for
from server.demo.seed import seed_demo
from server.integrity import scan as scan_module
from server.integrity.checks import FIELD_TYPES
from server.integrity.models import IntegrityFlag
from server.integrity.scan import scan_demo
from server.media import photo_path
from server.visits.models import Photo, Visit, VisitPhoto
from tests import pg
from tests.factories import with_db


@pytest.fixture
def empty(settings: Settings) -> Iterator[Settings]:
    """``settings`` on a fresh migrated database without the test world (the demo has its own admin)."""
    if pg.wanted():
        name = pg.unique_name("demo")
        url = pg.create_database(name)
        migrate(url)
        yield replace(settings, database_url=url)
        pg.drop_database(name)
        return
    url = f"sqlite+aiosqlite:///{settings.data_dir / 'demo.db'}"
    migrate(url)
    yield replace(settings, database_url=url)


def test_scene_is_deterministic_per_seed() -> None:
    assert draw_scene("a") == draw_scene("a") != draw_scene("b")
    assert photo_uuid_for("x") == photo_uuid_for("x") != photo_uuid_for("y")


def test_demo_photos_are_stored_linked_idempotent_and_scanned(empty: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = empty
    monkeypatch.setattr(scan_module, "DEMO_DAYS", RECENT_DAYS + 7)
    today = local_today()  # scan_demo scans the days before the real today

    async def seed(db: AsyncSession) -> int:
        assert (await seed_demo(db, today=today)).created
        added = await add_demo_photos(db, settings.media_dir, today)
        await db.commit()
        return added

    added = with_db(settings, seed)
    assert added > 100

    async def load(db: AsyncSession) -> tuple[list[Photo], list[tuple[Visit, str]]]:
        photos = list(await db.scalars(select(Photo)))
        rows = await db.execute(select(Visit, VisitPhoto.photo_uuid).join(VisitPhoto, VisitPhoto.visit_id == Visit.id))
        return photos, [(v, u) for v, u in rows.all()]

    photos, links = with_db(settings, load)
    assert len(photos) == len(links) == added
    for photo in photos:
        assert photo_path(settings.media_dir, photo.uuid, "full").stat().st_size > 0
        assert photo_path(settings.media_dir, photo.uuid, "thumb").stat().st_size > 0
        assert (photo.width, photo.height) == (800, 600) and photo.dhash and photo.exif_time is None
    start, end = period_bounds_utc(today - timedelta(days=RECENT_DAYS), today - timedelta(days=1))
    by_uuid = {p.uuid: p for p in photos}
    for visit, photo_uuid in links:
        assert visit.visit_type in FIELD_TYPES and start <= visit.visited_at < end
        assert photo_uuid == photo_uuid_for(visit.uuid) and by_uuid[photo_uuid].user_id == visit.user_id

    async def again(db: AsyncSession) -> int:
        return await add_demo_photos(db, settings.media_dir, today)

    assert with_db(settings, again) == 0

    # exactly one planted pair: the same picture for one cadre on two different days
    same: dict[str, list[Visit]] = defaultdict(list)
    for visit, photo_uuid in links:
        same[by_uuid[photo_uuid].sha256].append(visit)
    pairs = [sorted(vs, key=lambda v: v.id or 0) for vs in same.values() if len(vs) > 1]
    assert len(pairs) == 1 and len(pairs[0]) == 2
    first, second = pairs[0]
    assert first.user_id == second.user_id and local_day(first.visited_at) < local_day(second.visited_at)

    async def scan(db: AsyncSession) -> list[IntegrityFlag]:
        await scan_demo(db, settings)
        return list(await db.scalars(select(IntegrityFlag)))

    flags = with_db(settings, scan)
    reused = [f for f in flags if f.code == "photo_reused"]
    assert [f.visit_id for f in reused] == [second.id]
    assert f"走访 #{first.id}" in reused[0].message and "完全相同" in reused[0].message
    with_photo = {visit.id for visit, _ in links}
    assert not [f for f in flags if f.code == "no_photo" and f.visit_id in with_photo]
    assert [f for f in flags if f.code == "no_photo"]  # older visits keep theirs: the demo still shows some
