"""server.db: read transactions on SQLite neither take nor wait for the write lock; write transactions
do; ``new_row`` fills in the defaults the ORM would."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from server.config import Settings
from server.db import create_engine, new_row, read_phase, read_session_maker, session_maker
from server.integrity.models import FlagStatus, IntegrityFlag
from server.sync.service import batch_session
from server.visits.models import Visit
from tests.factories import run

WAIT = 1.0  # seconds: far below the 30 s busy timeout, far above a read of a small file


@pytest.fixture
def writer(settings: Settings) -> Iterator[sqlite3.Connection]:
    """Another connection in the middle of a write transaction (it has taken SQLite's write lock); a test
    ends it with ``release`` before it disposes an engine whose query still waits for the lock."""
    if not settings.is_sqlite:
        pytest.skip("SQLite's write lock; PostgreSQL readers never wait for writers")
    path = Path(make_url(settings.database_url).database or "")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE user_account SET display_name = display_name WHERE id = 1")
    yield other
    release(other)
    other.close()


def release(other: sqlite3.Connection) -> None:
    if other.in_transaction:
        other.execute("ROLLBACK")


COUNT = select(func.count()).select_from(Visit)


async def waits_for_writer(query: Coroutine[Any, Any, Any], other: sqlite3.Connection) -> bool:
    """Whether ``query`` is still waiting after WAIT seconds while ``other`` holds the write lock; the
    lock is released afterwards and the query allowed to finish either way."""
    task = asyncio.ensure_future(query)
    await asyncio.wait([task], timeout=WAIT)
    waited = not task.done()
    release(other)
    await task
    return waited


def test_a_read_session_does_not_wait_for_a_writer_but_a_write_session_does(
    settings: Settings, writer: sqlite3.Connection
) -> None:
    async def go(maker_of: Callable[[AsyncEngine], async_sessionmaker[AsyncSession]]) -> bool:
        engine = create_engine(settings.database_url)
        try:
            async with maker_of(engine)() as db:
                return await waits_for_writer(db.scalar(COUNT), writer)
        finally:
            await engine.dispose()

    assert run(go(read_session_maker)) is False
    writer.execute("BEGIN IMMEDIATE")
    assert run(go(session_maker)) is True


def test_read_phase_reads_without_the_lock_then_writes_take_it_again(
    settings: Settings, writer: sqlite3.Connection
) -> None:
    async def go() -> tuple[bool, bool]:
        engine = create_engine(settings.database_url)
        try:
            async with batch_session(engine) as db:
                async with read_phase(db):
                    reading = await waits_for_writer(db.scalar(COUNT), writer)
                writer.execute("BEGIN IMMEDIATE")
                return reading, await waits_for_writer(db.scalar(COUNT), writer)
        finally:
            await engine.dispose()

    assert run(go()) == (False, True)


def test_new_row_is_what_the_orm_would_insert() -> None:
    row = new_row(IntegrityFlag, user_id=3, org_unit_id=4, occurred_at=None, code="no_photo", message="无照片")
    orm = IntegrityFlag(user_id=3, org_unit_id=4, occurred_at=None, code="no_photo", message="无照片")
    assert "id" not in row
    assert row["status"] == FlagStatus.open and row["note"] == "" and row["visit_id"] is None
    assert row["created_at"] is not None and row["created_at"].tzinfo is not None
    same = {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}
    assert same == {k: getattr(orm, k) for k in same}
