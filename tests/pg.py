"""PostgreSQL for the test suite: `MINQING_TEST_DB=postgres` runs every test on its own database.

The world is migrated and built once into a template database; each test then gets
`CREATE DATABASE … TEMPLATE …` (a file-level copy, like the SQLite template copy) and drops it after.
`MINQING_TEST_PG_URL` names the server and the maintenance database the suite connects to in order to
create and drop databases (default: the machine's PostgreSQL, database `test`, trust auth).
"""

from __future__ import annotations

import itertools
import os

import pytest
from sqlalchemy.engine import make_url

from tests.factories import run

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
_counter = itertools.count()


def wanted() -> bool:
    """True when this pytest run should use PostgreSQL instead of SQLite files."""
    return os.environ.get("MINQING_TEST_DB", "sqlite").strip().lower() in {"postgres", "postgresql", "pg"}


def maintenance_url() -> str:
    url = make_url(os.environ.get("MINQING_TEST_PG_URL") or DEFAULT_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def app_url(database: str) -> str:
    """The URL the app uses for one database on the same server (asyncpg driver)."""
    url = make_url(maintenance_url()).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


async def _execute(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(maintenance_url(), timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def reachable() -> str | None:
    """None if the maintenance database answers, else why not (shown to the person running the suite)."""
    try:
        run(_execute("SELECT 1"))
    except Exception as exc:  # any failure (refused, auth, timeout) means: no usable PostgreSQL
        return f"{type(exc).__name__}: {exc}"
    return None


def unique_name(prefix: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"minqing_{prefix}_{os.getpid()}_{worker}_{next(_counter)}"


def create_database(name: str, template: str | None = None) -> str:
    """Create a database (optionally as a copy of `template`); return the app's URL for it."""
    clause = f' TEMPLATE "{template}"' if template else ""
    run(_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"{clause}'))
    return app_url(name)


def drop_database(name: str) -> None:
    run(_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def session_check(config: pytest.Config) -> None:
    """Stop the run with a clear message when PostgreSQL was asked for but cannot be reached."""
    if not wanted():
        return
    problem = reachable()
    if problem:
        pytest.exit(
            f"MINQING_TEST_DB=postgres but PostgreSQL at {maintenance_url()} is unreachable ({problem}). "
            "Start it (pg_ctlcluster … main start) or run without MINQING_TEST_DB.",
            returncode=3,
        )


if __name__ == "__main__":  # `python -m tests.pg`: exit 0 if the PostgreSQL pass can run, else say why
    import sys

    problem = reachable()
    if problem:
        print(f"PostgreSQL at {maintenance_url()} is unreachable: {problem}")
        sys.exit(1)
