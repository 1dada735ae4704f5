"""Photo records: store an upload once per uuid (idempotent), link photos to visits, check access."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from server import media
from server.accounts.models import OrgUnit
from server.accounts.service import Viewer
from server.config import Settings
from server.errors import AppError, Conflict, NotFound
from server.integrity.service import check_photo_arrival
from server.places.models import Target
from server.visits.models import Photo, Visit, VisitPhoto

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def check_uuid(value: str | None, what: str = "记录编号") -> str:
    if not value or not UUID_RE.match(value):
        raise AppError(f"{what}（uuid）格式不正确，应为 36 位 UUID。", 400)
    return value.lower()


def photo_row(viewer: Viewer, photo_uuid: str, processed: media.ProcessedPhoto) -> Photo:
    return Photo(
        uuid=photo_uuid,
        user_id=viewer.id,
        sha256=processed.sha256,
        width=processed.width,
        height=processed.height,
        size_bytes=processed.size_bytes,
        exif_time=processed.exif_time,
        exif_lat=processed.exif_lat,
        exif_lon=processed.exif_lon,
        dhash=processed.dhash,
    )


async def process_upload(settings: Settings, data: bytes) -> media.ProcessedPhoto:
    """Validate and shrink an upload off the event loop (Pillow releases the GIL while decoding)."""
    return await asyncio.to_thread(
        media.process_photo, data, max_bytes=settings.max_photo_bytes, max_pixels=settings.max_photo_pixels
    )


async def put_photo(
    db: AsyncSession, viewer: Viewer, settings: Settings, photo_uuid: str, data: bytes
) -> tuple[Photo, bool]:
    """Store a photo under a client uuid. Same bytes again → (existing, False); other bytes → 409."""
    photo_uuid = check_uuid(photo_uuid, "照片编号")
    existing = await db.scalar(select(Photo).where(Photo.uuid == photo_uuid))
    processed = await process_upload(settings, data)
    if existing is not None:
        return _same_or_conflict(existing, processed), False
    await asyncio.to_thread(media.store_photo, settings.media_dir, photo_uuid, processed)
    photo = photo_row(viewer, photo_uuid, processed)
    db.add(photo)
    try:
        await check_photo_arrival(db, photo_uuid, settings)  # re-check visits waiting for it (docs/integrity.md)
        await db.commit()
    except IntegrityError:  # a concurrent upload of the same uuid won the race
        await db.rollback()
        existing = await db.scalar(select(Photo).where(Photo.uuid == photo_uuid))
        if existing is None:
            raise
        return _same_or_conflict(existing, processed), False
    return photo, True


def _same_or_conflict(existing: Photo, processed: media.ProcessedPhoto) -> Photo:
    if existing.sha256 != processed.sha256:
        raise Conflict("该照片编号已被另一张照片使用，请重新拍摄后上传。", extra={"uuid": existing.uuid})
    return existing


async def photo_for_viewer(db: AsyncSession, viewer: Viewer, photo_uuid: str) -> Photo:
    """A photo the viewer may see: their own, or one attached to a visit in their scope."""
    photo_uuid = check_uuid(photo_uuid, "照片编号")
    photo = await db.scalar(select(Photo).where(Photo.uuid == photo_uuid))
    if photo is None:
        raise NotFound("找不到该照片。")
    if photo.user_id == viewer.id:
        return photo
    visible = await db.scalar(
        select(VisitPhoto.visit_id)
        .join(Visit, Visit.id == VisitPhoto.visit_id)
        .join(Target, Target.id == Visit.target_id)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(VisitPhoto.photo_uuid == photo_uuid, OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        .limit(1)
    )
    if visible is None:
        raise NotFound("找不到该照片。")
    return photo
