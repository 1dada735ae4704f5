"""The sync API (batch, photos, versioned diary notes), the service worker, the manifest and the pages
for the phone's outbox. Thin: the work is in ``service`` and the browser's ``static/js/outbox*.js``."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.guards import requires_field, requires_login
from server.clock import parse_day, utcnow
from server.config import Settings
from server.diary import service as diary
from server.errors import AppError
from server.sync import service, shell
from server.sync.schemas import ErrorOut, NoteConflict, NoteIn, NoteOut, PhotoOut, SyncRequest, SyncResponse
from server.visits import photos
from server.web import render

log = logging.getLogger("minqing.sync")
UNSUPPORTED_TYPE = "请以图片格式上传照片（Content-Type: image/jpeg、image/png、image/webp 或 image/heic）。"


def _day(raw: str) -> date:
    day = parse_day(raw)
    if day is None:
        raise AppError("缺少日期，格式应为 YYYY-MM-DD。", 400)
    return day


def _documented_body(data: SyncRequest) -> SyncRequest:
    """Never called: it tells the OpenAPI generator the body's type. The handler decodes items one by
    one itself, so that one malformed item is rejected alone instead of failing the whole batch."""
    return data


class SyncApiController(Controller):
    path = "/api/v1"
    guards = [requires_field]
    tags = ["sync"]

    @post(
        "/sync",
        status_code=200,
        summary="Upload outbox items (≤500): each answered created / duplicate / rejected, in order",
        dependencies={"sync_request": Provide(_documented_body, sync_to_thread=False)},
        responses={413: ResponseSpec(ErrorOut, description="More than 500 items")},
    )
    async def sync(self, request: Request, settings: Settings) -> SyncResponse:
        """Replaying a request any number of times creates nothing twice (items are keyed by ``uuid``).
        A visit may arrive before its photos: it is linked when ``PUT /api/v1/photos/{uuid}`` arrives."""
        body = await request.body()
        async with service.batch_session(request.app.state.engine) as db:
            results = await service.sync_batch(db, request.user, settings, body)
        log.info("sync user_id=%s %s", request.user.id, service.result_counts(results))
        return SyncResponse(results=results, received_at=utcnow())

    @put(
        "/photos/{photo_uuid:str}",
        status_code=201,
        summary="Upload a photo under its client uuid (body: the image, Content-Type: image/*)",
        responses={
            200: ResponseSpec(PhotoOut, description="The same photo was uploaded before; nothing stored twice"),
            409: ResponseSpec(ErrorOut, description="Another photo already uses this uuid"),
            415: ResponseSpec(ErrorOut, description="The body is not an image"),
        },
    )
    async def put_photo(
        self, request: Request, db: AsyncSession, settings: Settings, photo_uuid: str
    ) -> Response[PhotoOut]:
        if not request.headers.get("content-type", "").startswith("image/"):
            raise AppError(UNSUPPORTED_TYPE, 415)
        body = await request.body()
        if not body:
            raise AppError("照片内容为空，请重新选择照片后上传。", 400)
        photo, created = await photos.put_photo(db, request.user, settings, photo_uuid, body)
        out = PhotoOut(
            uuid=photo.uuid,
            width=photo.width,
            height=photo.height,
            exif_time=photo.exif_time,
            exif_lat=photo.exif_lat,
            exif_lon=photo.exif_lon,
            size_bytes=photo.size_bytes,
        )
        return Response(out, status_code=201 if created else 200)

    @get("/diary/notes/{day:str}", summary="My diary note for a day, with its version")
    async def get_note(self, request: Request, db: AsyncSession, day: str) -> NoteOut:
        the_day = _day(day)
        note = await service.current_note(db, request.user, the_day)
        return NoteOut(day=the_day, note=note.note if note else "", version=note.version if note else 0)

    @put(
        "/diary/notes/{day:str}",
        status_code=200,
        summary="Save my diary note (versioned): a stale base_version → 409 with the current version",
        responses={409: ResponseSpec(NoteConflict, description="Changed elsewhere: both versions returned")},
    )
    async def put_note(self, request: Request, db: AsyncSession, day: str, data: NoteIn) -> NoteOut:
        the_day = _day(day)
        note = await diary.save_note(db, request.user, the_day, data.note, data.base_version)
        return NoteOut(day=the_day, note=note.note, version=note.version)


class ShellController(Controller):
    """The installable app: service worker, manifest and the offline page (no login needed)."""

    include_in_schema = False

    @get("/sw.js", sync_to_thread=False)
    def service_worker(self) -> Response[bytes]:
        return Response(
            shell.service_worker_source(),
            media_type="text/javascript; charset=utf-8",
            headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
        )

    @get("/manifest.webmanifest", sync_to_thread=False)
    def manifest(self) -> Response[dict[str, Any]]:
        return Response(shell.MANIFEST, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"})

    @get("/offline")
    async def offline(self, request: Request) -> Template:
        return render(request, "sync/offline.html")


class SyncPageController(Controller):
    guards = [requires_login]
    include_in_schema = False

    @get("/sync")
    async def sync_page(self, request: Request) -> Template:
        return render(request, "sync/index.html")


ROUTES = [SyncApiController, ShellController, SyncPageController]
