"""Helpers for the integrity and assessment tests: photo-like JPEGs (optionally with EXIF time and GPS)
whose dHash is real, and visits/check-ins recorded through the real services (put_photo, record_visit)."""

from __future__ import annotations

import io
import random
import uuid
from datetime import datetime
from typing import Any, TypeVar

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.clock import to_local
from server.config import Settings
from server.integrity.models import IntegrityFlag
from server.visits.photos import put_photo
from server.visits.schemas import CheckInInput, VisitInput
from server.visits.service import record_checkin, record_visit
from tests.factories import viewer_for, with_db

T = TypeVar("T")




def _dms(value: float) -> tuple[float, float, float]:
    deg = int(value)
    minutes = int((value - deg) * 60)
    return (deg, minutes, round(((value - deg) * 60 - minutes) * 60, 4))


def photo_bytes(
    seed: int,
    *,
    size: tuple[int, int] = (640, 480),
    quality: int = 85,
    taken: datetime | None = None,
    gps: tuple[float, float] | None = None,
) -> bytes:
    """A photo-like JPEG (random shapes on a gradient): different seeds → different dHashes; the same
    seed at another size or quality → a near duplicate. ``taken``/``gps`` go into EXIF."""
    rng = random.Random(seed)
    w, h = 640, 480
    im = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = rng.randrange(w), rng.randrange(h)
        rw, rh = rng.randrange(w // 10, w // 3), rng.randrange(h // 10, h // 3)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - rw, y - rh, x + rw, y + rh), fill=colour)
    im = im.resize(size, Image.Resampling.LANCZOS)
    exif = Image.Exif()
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = to_local(taken).strftime("%Y:%m:%d %H:%M:%S")  # type: ignore[union-attr]
    if gps is not None:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2], ifd[3], ifd[4] = "N", _dms(gps[0]), "E", _dms(gps[1])
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()






def record(
    settings: Settings,
    user_id: int,
    target_id: int,
    *,
    at: datetime,
    lat: float | None,
    lon: float | None,
    accuracy: float | None = 8.0,
    photos: list[bytes] = (),  # type: ignore[assignment]
    pending_photos: int = 0,
    visit_type: str = "home",
    visit_uuid: str | None = None,
) -> int:
    """Upload photos (put_photo) and record a visit with them (record_visit), as the cadre. Returns the visit id."""

    async def work(db: AsyncSession) -> int:
        viewer = await viewer_for(db, user_id)
        photo_uuids = []
        for body in photos:
            photo, _ = await put_photo(db, viewer, settings, str(uuid.uuid4()), body)
            photo_uuids.append(photo.uuid)
        photo_uuids += [str(uuid.uuid4()) for _ in range(pending_photos)]
        data = VisitInput(
            uuid=visit_uuid or str(uuid.uuid4()),
            target_id=target_id,
            visit_type=visit_type,
            visited_at=at,
            lat=lat,
            lon=lon,
            accuracy=accuracy,
            notes="了解家庭情况",
            photo_uuids=photo_uuids,
        )
        return (await record_visit(db, viewer, settings, data)).id

    return with_db(settings, work)


def record_ci(
    settings: Settings, user_id: int, target_id: int, *, lat: float, lon: float, accuracy: float | None = 10.0
) -> int:
    async def work(db: AsyncSession) -> int:
        viewer = await viewer_for(db, user_id)
        data = CheckInInput(uuid=str(uuid.uuid4()), target_id=target_id, lat=lat, lon=lon, accuracy=accuracy)
        return (await record_checkin(db, viewer, settings, data)).id

    return with_db(settings, work)


def flags(settings: Settings, *, visit_id: int | None = None, checkin_id: int | None = None) -> dict[str, Any]:
    """code → flag row of one visit or check-in."""

    async def work(db: AsyncSession) -> dict[str, Any]:
        key = IntegrityFlag.visit_id == visit_id if visit_id else IntegrityFlag.checkin_id == checkin_id
        return {f.code: f for f in await db.scalars(select(IntegrityFlag).where(key))}

    return with_db(settings, work)
