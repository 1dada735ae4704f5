"""Database engine and sessions (SQLite in WAL mode by default, PostgreSQL through asyncpg).

Every write goes through one ``AsyncSession`` that the service commits once, so a request is one
transaction. On SQLite each transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers wait
for the lock (``busy_timeout``) instead of failing half-way with "database is locked". Work that only
reads (the login lookup of every request, a sync batch's lookups) runs in read transactions instead
(``read_session_maker``, ``read_phase``): a plain ``BEGIN`` that neither takes nor waits for the lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "minqing_read_only"  # execution option: this transaction only reads
Job = Callable[[AsyncSession], Awaitable[Any]]  # work for whichever session ``share_out`` gives it


def _prepare_sqlite(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, pool_size: int = 10, **kwargs: Any) -> AsyncEngine:
    """Create the async engine; on SQLite switch on WAL, foreign keys and immediate transactions.
    On PostgreSQL keep `pool_size` connections (0: open one per session, for PgBouncer or tests that
    drive one app from several event loops)."""
    if url.startswith("sqlite"):
        _prepare_sqlite(url)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            read_only = bool(conn.get_execution_options().get(READ_ONLY))
            if conn.info.get(READ_ONLY, False) != read_only:  # the connection's mode, switched when it changes
                conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")  # a write in a read session fails
                conn.info[READ_ONLY] = read_only
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    if pool_size <= 0:
        return create_async_engine(url, poolclass=NullPool, **kwargs)
    kwargs.setdefault("max_overflow", 2 * pool_size)
    return create_async_engine(url, pool_size=pool_size, **kwargs)


def session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def read_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that only read. On SQLite their transactions begin with a plain ``BEGIN``: in WAL mode they
    see the last commit and neither take nor wait for the write lock. Never write through them."""
    return session_maker(engine.execution_options(**{READ_ONLY: True}))


@asynccontextmanager
async def read_phase(db: AsyncSession) -> AsyncIterator[None]:
    """For a session bound to one connection (``AsyncSession(bind=connection)``): the block's statements
    run in a read transaction, ended when the block ends, so that looking things up and thinking about
    them does not hold SQLite's write lock. The next transaction on the connection writes as usual."""
    connection = db.bind
    assert isinstance(connection, AsyncConnection), "read_phase needs a session bound to a connection"
    await db.rollback()
    await connection.execution_options(**{READ_ONLY: True})
    try:
        yield
        await db.commit()  # ends the read transaction; unlike a rollback it keeps the loaded rows usable
    finally:
        await db.rollback()
        await connection.execution_options(**{READ_ONLY: False})


@asynccontextmanager
async def side_session(db: AsyncSession) -> AsyncIterator[AsyncSession | None]:
    """A second read session beside ``db``, on another connection, for a query that can run at the same
    time as ``db``'s (SQLite's connection thread releases the GIL while it steps; PostgreSQL runs it in
    another backend). None when ``db`` is not a read session of an engine: a second connection would not
    see its uncommitted writes. The two read transactions may start a commit apart."""
    bind = db.bind
    if not isinstance(bind, AsyncEngine) or not bind.get_execution_options().get(READ_ONLY):
        yield None
        return
    async with AsyncSession(bind, expire_on_commit=False) as side:
        yield side


async def share_out(sessions: Sequence[AsyncSession | Awaitable[AsyncSession]], jobs: Sequence[Job]) -> list[Any]:
    """Run ``jobs`` over ``sessions``, each session one job at a time, taking the next job of the list as
    soon as it is free (so they finish about together when the jobs are small); the results in the jobs'
    order. A session still busy elsewhere is given as an awaitable that returns it when it is free.
    On an error the other jobs are cancelled and awaited before it is raised."""
    results: list[Any] = [None] * len(jobs)
    todo = iter(enumerate(jobs))

    async def worker(session: AsyncSession | Awaitable[AsyncSession]) -> None:
        free = session if isinstance(session, AsyncSession) else await session
        for i, job in todo:
            results[i] = await job(free)

    workers = [asyncio.ensure_future(worker(s)) for s in sessions]
    try:
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return results


async def open_session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Litestar dependency body: one session per request; uncommitted work is rolled back."""
    async with maker() as session:
        yield session


_DEFAULTS: dict[type, list[tuple[str, Any, Callable[[], Any] | None]]] = {}


def new_row(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """The column values ``model(**values)`` would insert (defaults and default factories filled in, the
    autoincrement ``id`` left out), as a plain dict: building the ORM object costs ≈ 30 µs, this ≈ 2 µs,
    which counts when a sync batch writes hundreds of rows (``insert_rows``)."""
    fields = _DEFAULTS.get(model)
    if fields is None:
        columns = set(model.__table__.columns.keys())  # type: ignore[attr-defined]
        fields = _DEFAULTS[model] = [
            (name, info.default, info.default_factory)  # type: ignore[misc]
            for name, info in model.model_fields.items()
            if name in columns and name != "id"
        ]
    row = {}
    for name, default, factory in fields:
        if name in values:
            row[name] = values[name]
        elif factory is not None:
            row[name] = factory()
        else:
            row[name] = None if default is PydanticUndefined else default
    return row


async def insert_rows(db: AsyncSession, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """New rows of one table in one multi-row INSERT (executemany, no RETURNING: no statement per row)."""
    if rows:
        await db.execute(model.__table__.insert(), list(rows))  # type: ignore[attr-defined]


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(url: str, revision: str = "heads") -> None:
    """Bring the schema up to date (runs Alembic in its own thread and event loop)."""
    from alembic import command

    if url.startswith("sqlite"):
        _prepare_sqlite(url)
    error: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(_alembic_config(url), revision)
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if error:
        raise error[0]


def run_sync(coro: Any) -> Any:
    """Run a coroutine from synchronous code (CLI commands)."""
    return asyncio.run(coro)
