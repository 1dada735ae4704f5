"""Pages for check-ins, visits and photos. Thin: parse the form, call the service, render or redirect."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.response import File, Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server import media
from server.accounts.guards import requires_field, requires_login
from server.clock import to_local, utcnow
from server.config import Settings
from server.errors import AppError
from server.places.gazetteer import describe_position
from server.places.service import display_name, get_target
from server.visits import photos as photo_service
from server.visits import service
from server.visits.models import TOPICS, Photo
from server.visits.schemas import CheckInInput, ConcernInput, VisitInput
from server.web import render, see_other


def _float(form: FormMultiDict, name: str) -> float | None:
    raw = (form.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise AppError("定位数据格式不正确，请重新定位。", 400) from None


def _int(form: FormMultiDict, name: str, label: str) -> int:
    try:
        return int(form.get(name) or "")
    except ValueError:
        raise AppError(f"缺少{label}，请从列表中选择。", 400) from None


def _datetime(raw: str | None) -> datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise AppError("走访时间格式不正确。", 400) from None


def visit_input_from_form(form: FormMultiDict) -> VisitInput:
    texts = form.getall("concern_text") if "concern_text" in form else []
    categories = form.getall("concern_category") if "concern_category" in form else []
    concerns = [
        ConcernInput(text=text, category=categories[i] if i < len(categories) else "problem")
        for i, text in enumerate(texts)
        if text.strip()
    ]
    return VisitInput(
        uuid=form.get("uuid") or "",
        target_id=_int(form, "target_id", "走访对象"),
        visit_type=form.get("visit_type") or "home",
        visited_at=_datetime(form.get("visited_at")),
        lat=_float(form, "lat"),
        lon=_float(form, "lon"),
        accuracy=_float(form, "accuracy"),
        notes=form.get("notes") or "",
        topics=form.getall("topics") if "topics" in form else [],
        concerns=concerns,
    )


async def photos_from_form(form: FormMultiDict, settings: Settings, viewer: Any) -> list[Photo]:
    """Validate and store every uploaded photo before the visit is written (bad photo → nothing saved)."""
    uploads = [f for f in (form.getall("photos") if "photos" in form else []) if isinstance(f, UploadFile)]
    uploads = [f for f in uploads if f.filename]
    if len(uploads) > service.MAX_PHOTOS:
        raise AppError(f"每次走访最多 {service.MAX_PHOTOS} 张照片。", 400)
    processed = []
    for upload in uploads:
        data = await upload.read()
        if not data:
            continue
        processed.append(await photo_service.process_upload(settings, data))
    rows = []
    for item in processed:
        photo_uuid = service.new_uuid()
        await asyncio.to_thread(media.store_photo, settings.media_dir, photo_uuid, item)
        rows.append(photo_service.photo_row(viewer, photo_uuid, item))
    return rows


class VisitController(Controller):
    guards = [requires_login]

    @get("/visits", include_in_schema=False)
    async def visits(self, request: Request, db: AsyncSession, page: int = 1) -> Template:
        viewer = request.user
        page = max(1, page)
        mine = viewer.role in ("cadre",)
        views = await service.list_visits(
            db, viewer, user_id=viewer.id if mine else None, limit=30, offset=(page - 1) * 30
        )
        return render(request, "visits/index.html", {"visits": views, "page": page, "mine": mine})

    @get("/visits/new", guards=[requires_field], include_in_schema=False)
    async def new_visit(self, request: Request, db: AsyncSession, target_id: int) -> Template:
        target = await get_target(db, request.user, target_id)
        return self._form(request, target, {}, None)

    def _form(
        self, request: Request, target: Any, values: dict[str, Any], error: str | None, status: int = 200
    ) -> Template:
        now = to_local(utcnow())
        context = {
            "target": target,
            "name": display_name(target),
            "topics": TOPICS,
            "values": values,
            "error": error,
            "now": now.strftime("%Y-%m-%dT%H:%M:%S") if now else "",
            "uuid": values.get("uuid") or service.new_uuid(),
        }
        return render(request, "visits/form.html", context, status_code=status)

    @post("/visits", guards=[requires_field], include_in_schema=False)
    async def create_visit(self, request: Request, db: AsyncSession, settings: Settings) -> Any:
        form = await request.form()
        data = visit_input_from_form(form)
        target = await get_target(db, request.user, data.target_id)
        try:
            photos = await photos_from_form(form, settings, request.user)
            data.photo_uuids = [p.uuid for p in photos]
            recorded = await service.record_visit(db, request.user, settings, data, photos)
        except AppError as exc:
            values = {k: form.get(k) for k in ("uuid", "visit_type", "visited_at", "notes")}
            values["topics"] = form.getall("topics") if "topics" in form else []
            return self._form(request, target, values, exc.message, exc.status_code)
        return see_other(f"/visits/{recorded.id}")

    @get("/visits/{visit_id:int}", include_in_schema=False)
    async def visit_page(self, request: Request, db: AsyncSession, visit_id: int) -> Template:
        view = await service.get_visit(db, request.user, visit_id)
        place = ""
        if view.visit.lat is not None and view.visit.lon is not None:
            place = await describe_position(db, request.user, view.visit.lat, view.visit.lon)
        return render(request, "visits/detail.html", {"v": view, "name": display_name(view.target), "place": place})

    @post("/checkins", guards=[requires_field], include_in_schema=False)
    async def create_checkin(self, request: Request, db: AsyncSession, settings: Settings) -> Response:
        form = await request.form()
        data = CheckInInput(
            uuid=form.get("uuid") or "",
            target_id=_int(form, "target_id", "签到地点"),
            lat=_float(form, "lat"),
            lon=_float(form, "lon"),
            accuracy=_float(form, "accuracy"),
        )
        await service.record_checkin(db, request.user, settings, data)
        return see_other(f"/targets/{data.target_id}#checkins")

    @get("/photos/{photo_uuid:str}", include_in_schema=False)
    async def photo(self, request: Request, db: AsyncSession, settings: Settings, photo_uuid: str) -> File:
        return await self._photo_file(request, db, settings, photo_uuid, "full")

    @get("/photos/{photo_uuid:str}/thumb", include_in_schema=False)
    async def thumb(self, request: Request, db: AsyncSession, settings: Settings, photo_uuid: str) -> File:
        return await self._photo_file(request, db, settings, photo_uuid, "thumb")

    async def _photo_file(
        self, request: Request, db: AsyncSession, settings: Settings, photo_uuid: str, size: str
    ) -> File:
        photo = await photo_service.photo_for_viewer(db, request.user, photo_uuid)
        path = media.photo_path(settings.media_dir, photo.uuid, size)
        if not path.exists():
            raise AppError("照片文件不存在，可能仍在上传中。", 404)
        return File(
            path,
            media_type="image/jpeg",
            content_disposition_type="inline",
            headers={"Cache-Control": "private, max-age=86400"},
        )


ROUTES = [VisitController]
