"""Pages anyone may open without an account: 公示 boards and the residents' rating links.
No ``requires_login`` here; forms still carry the CSRF token (the cookie is set by ``csrf_token``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import File, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from server import media
from server.config import Settings
from server.errors import AppError, NotFound
from server.ledger import public, ratings
from server.ledger.forms import text
from server.ledger.models import CLOSE_REASON_LABELS, RATING_LABELS
from server.web import render

PUBLIC_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


class PublicController(Controller):
    @get("/public", include_in_schema=False)
    async def index(self, request: Request, db: AsyncSession) -> Template:
        units, villages = await public.public_index(db)
        return render(request, "ledger/public_index.html", {"units": units, "villages": villages})

    @get("/public/villages/{village_id:int}", include_in_schema=False)
    async def village(self, request: Request, db: AsyncSession, village_id: int) -> Template:
        return self._board(request, await public.village_board(db, village_id))

    @get("/public/units/{unit_id:int}", include_in_schema=False)
    async def unit(self, request: Request, db: AsyncSession, unit_id: int) -> Template:
        return self._board(request, await public.unit_board(db, unit_id))

    def _board(self, request: Request, board: public.PublicBoard) -> Template:
        context = {"b": board, "CLOSE_REASON_LABELS": CLOSE_REASON_LABELS, "RATING_LABELS": RATING_LABELS}
        return render(request, "ledger/public_board.html", context, headers=PUBLIC_HEADERS)

    @get("/public/photos/{photo_uuid:str}", include_in_schema=False)
    async def photo(self, db: AsyncSession, settings: Settings, photo_uuid: str) -> File:
        if not await public.public_photo_allowed(db, photo_uuid):
            raise NotFound("这张照片未公开。")
        path = media.photo_path(settings.media_dir, photo_uuid, "thumb")
        if not path.exists():
            raise NotFound("照片文件不存在。")
        return File(path, media_type="image/jpeg", content_disposition_type="inline")


class RatingController(Controller):
    """/r/{token}: a resident sees their own item and rates it once."""

    @get("/r/{token:str}", include_in_schema=False)
    async def page(self, request: Request, db: AsyncSession, token: str) -> Template:
        try:
            page = await ratings.rating_page(db, token)
        except AppError as exc:
            return self._gone(request, exc)
        return render(
            request,
            "ledger/rate.html",
            {"p": page, "token": token, "RATING_LABELS": RATING_LABELS},
            headers=PUBLIC_HEADERS,
        )

    @post("/r/{token:str}", include_in_schema=False)
    async def submit(self, request: Request, db: AsyncSession, token: str) -> Any:
        form = await request.form()
        try:
            label = await ratings.submit_rating(db, token, text(form, "score"), text(form, "comment"))
        except AppError as exc:
            if exc.status_code == 400:
                await db.rollback()
                page = await ratings.rating_page(db, token)
                context = {"p": page, "token": token, "RATING_LABELS": RATING_LABELS, "error": exc.message}
                return render(request, "ledger/rate.html", context, status_code=400, headers=PUBLIC_HEADERS)
            return self._gone(request, exc)
        return render(request, "ledger/rate_done.html", {"label": label}, headers=PUBLIC_HEADERS)

    def _gone(self, request: Request, exc: AppError) -> Template:
        return render(
            request,
            "ledger/rate_done.html",
            {"message": exc.message},
            status_code=exc.status_code,
            headers=PUBLIC_HEADERS,
        )


ROUTES = [PublicController, RatingController]
