"""server.db: read transactions on SQLite neither take nor wait for the write lock; write transactions
do; ``new_row`` fills in the defaults the ORM would."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import User
from server.config import Settings
from server.db import create_engine, new_row, read_phase, read_session_maker, session_maker, share_out
from server.integrity.models import FlagStatus, IntegrityFlag
from server.sync.service import batch_session
from server.visits.models import Visit
from tests.conftest import login
from tests.factories import run

WAIT = 3.0  # seconds: far below the 30 s busy timeout, far above a read of a small file (even on a loaded machine)


def hold_write_lock(settings: Settings) -> sqlite3.Connection:
    """Another connection in the middle of a write transaction (it has taken SQLite's write lock)."""
    if not settings.is_sqlite:
        pytest.skip("SQLite's write lock; PostgreSQL readers never wait for writers")
    path = Path(make_url(settings.database_url).database or "")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE user_account SET display_name = display_name WHERE id = 1")
    return other


@pytest.fixture
def writer(settings: Settings) -> Iterator[sqlite3.Connection]:
    """``hold_write_lock``; a test ends it with ``release`` before it disposes an engine whose query still
    waits for the lock."""
    other = hold_write_lock(settings)
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


def test_a_read_session_refuses_to_write(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("PRAGMA query_only is SQLite's")

    async def go() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with read_session_maker(engine)() as db:
                with pytest.raises(OperationalError, match="readonly"):
                    await db.execute(update(User).where(User.id == 1).values(display_name="x"))
            async with session_maker(engine)() as db:  # the same pooled connection writes again afterwards
                await db.execute(update(User).where(User.id == 1).values(display_name=User.display_name))
                await db.commit()
        finally:
            await engine.dispose()

    run(go())


def test_pages_are_served_while_phones_hold_the_write_lock(client: TestClient, settings: Settings) -> None:
    """GET requests read in read transactions: a supervisor's dashboard does not queue behind syncs."""
    login(client, "super")
    other = hold_write_lock(settings)
    try:
        started = time.monotonic()
        for path in ("/coverage", "/integrity", "/today"):
            assert client.get(path).status_code == 200, path
        assert time.monotonic() - started < 10  # the busy timeout is 30 s: a queued read would take that
    finally:
        release(other)
        other.close()


def test_new_row_is_what_the_orm_would_insert() -> None:
    row = new_row(IntegrityFlag, user_id=3, org_unit_id=4, occurred_at=None, code="no_photo", message="无照片")
    orm = IntegrityFlag(user_id=3, org_unit_id=4, occurred_at=None, code="no_photo", message="无照片")
    assert "id" not in row
    assert row["status"] == FlagStatus.open and row["note"] == "" and row["visit_id"] is None
    assert row["created_at"] is not None and row["created_at"].tzinfo is not None
    same = {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}
    assert same == {k: getattr(orm, k) for k in same}


def test_share_out_gives_each_free_session_the_next_job() -> None:
    """Results come back in the jobs' order; a session given as an awaitable joins once it is free;
    a failing job cancels the job running beside it and its error is raised."""
    first, late = AsyncSession(), AsyncSession()
    ran: list[tuple[int, AsyncSession]] = []

    def job(i: int, seconds: float) -> Callable[[AsyncSession], Coroutine[Any, Any, int]]:
        async def work(session: AsyncSession) -> int:
            ran.append((i, session))
            await asyncio.sleep(seconds)
            return i * 10

        return work

    async def free_later() -> AsyncSession:
        await asyncio.sleep(0.05)
        return late

    async def shared() -> list[Any]:
        return await share_out([first, free_later()], [job(i, 0.02) for i in range(8)])

    assert run(shared()) == [i * 10 for i in range(8)]
    assert ran[0] == (0, first) and ran[1] == (1, first)  # the late one was still busy
    assert {s for _, s in ran} == {first, late} and sorted(i for i, _ in ran) == list(range(8))

    cancelled: list[bool] = []

    async def slow(session: AsyncSession) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def fails(session: AsyncSession) -> None:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    async def failing() -> list[Any]:
        return await share_out([first, late], [slow, fails, job(2, 0)])

    with pytest.raises(ValueError, match="boom"):
        run(failing())
    assert cancelled == [True]
