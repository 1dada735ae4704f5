"""Application factory: plumbing only. Capabilities contribute their routes through ``ROUTES``."""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.middleware import AuthMiddleware
from server.config import ROOT, Settings, get_settings
from server.db import create_engine, read_session_maker, session_maker
from server.errors import handle_exception
from server.security import SecurityHeadersMiddleware, check_csrf, check_path_ids
from server.web import fmt_distance, jinja_globals

# Each capability's routes module exports ROUTES (a list of controllers/handlers).
CAPABILITIES = ("accounts", "places", "visits", "diary", "sync", "integrity", "assessment", "ledger", "coverage")

MAX_BODY_BYTES = 160 * 1024 * 1024


READ_METHODS = frozenset({"GET", "HEAD"})


async def provide_db(state: State, request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session. GET and HEAD get a read session (on SQLite: no write lock, writes refused),
    unless the handler declares ``opt={"writes_on_get": True}`` (e.g. the ledger's overdue sweep)."""
    reads = request.method in READ_METHODS and not request.route_handler.opt.get("writes_on_get")
    async with (state.db_read_maker if reads else state.db_maker)() as session:
        yield session


def provide_settings(state: State) -> Settings:
    return state.settings


@get("/healthz", exclude_from_auth=True, include_in_schema=True, sync_to_thread=False, tags=["system"])
def healthz() -> dict[str, str]:
    """Liveness probe."""
    return {"status": "ok"}


async def before_request(request: Request) -> None:
    await check_path_ids(request)
    await check_csrf(request)


def _capability_routes() -> list[Any]:
    handlers: list[Any] = []
    for name in CAPABILITIES:
        handlers.extend(importlib.import_module(f"server.{name}.routes").ROUTES)
    return handlers


def _template_engine_callback(engine: JinjaTemplateEngine, settings: Settings) -> None:
    engine.engine.globals.update(jinja_globals(settings))
    engine.engine.filters["distance"] = fmt_distance


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    logging.getLogger("minqing").setLevel(logging.INFO)

    async def dispose_engine(app: Litestar) -> None:
        await app.state.engine.dispose()

    static_dir = ROOT / "static"
    Path(settings.media_dir).mkdir(parents=True, exist_ok=True)
    return Litestar(
        route_handlers=[
            healthz,
            create_static_files_router(path="/static", directories=[static_dir], name="static"),
            *_capability_routes(),
        ],
        state=State(
            {
                "settings": settings,
                "engine": engine,
                "db_maker": session_maker(engine),
                "db_read_maker": read_session_maker(engine),
            }
        ),
        dependencies={"db": Provide(provide_db), "settings": Provide(provide_settings, sync_to_thread=False)},
        middleware=[SecurityHeadersMiddleware(settings.cookie_secure), AuthMiddleware()],
        before_request=before_request,
        exception_handlers={Exception: handle_exception},
        template_config=TemplateConfig(
            directory=ROOT / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=lambda engine: _template_engine_callback(engine, settings),
        ),
        plugins=[HTMXPlugin()],
        openapi_config=OpenAPIConfig(title="民情通 Minqing API", version="1", path="/schema"),
        response_cache_config=ResponseCacheConfig(),
        request_max_body_size=MAX_BODY_BYTES,
        on_shutdown=[dispose_engine],
        debug=False,
    )
