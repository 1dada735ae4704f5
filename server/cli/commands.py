"""The CLI commands. Each returns a process exit code and prints Chinese messages for people."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from server.config import get_settings
from server.db import create_engine, run_sync, session_maker
from server.db import migrate as run_migrations
from server.errors import AppError


def migrate() -> int:
    settings = get_settings()
    run_migrations(settings.database_url)
    print("数据库结构已是最新。")
    return 0


async def _seed() -> object:
    from server.demo.seed import seed_demo

    engine = create_engine(get_settings().database_url)
    try:
        async with session_maker(engine)() as db:
            summary = await seed_demo(db)
            if getattr(summary, "created", False):  # 防形式主义 flags for the demo's two months of visits
                from server.clock import local_today
                from server.demo.photos import add_demo_photos
                from server.integrity.scan import scan_demo

                added = await add_demo_photos(db, get_settings().media_dir, local_today())
                await db.commit()  # before the scan, so it sees the photos
                print(f"演示照片：{added} 张")
                await scan_demo(db, get_settings())
            return summary
    finally:
        await engine.dispose()


def print_logins(summary: object) -> None:
    logins = getattr(summary, "logins", [])
    if not logins:
        return
    print("\n演示账号（密码均为 minqing-demo，仅限演示环境）：")
    for username, role, unit, name in logins:
        print(f"  {username:<14} {role:<6} {unit:<10} {name}")


DEMO_REFUSED = (
    "错误：演示数据带有公开的默认密码，只能在演示环境中加载。"
    "如确为演示环境，请设置 MINQING_DEMO_MODE=true 后重试；正式环境请用 create-user 创建账号。"
)


def seed_demo() -> int:
    settings = get_settings()
    if not settings.demo_mode:
        print(DEMO_REFUSED)
        return 2
    run_migrations(settings.database_url)
    summary = run_sync(_seed())
    print("演示数据已就绪。")
    print_logins(summary)
    return 0


def serve(host: str, port: int, workers: int, seed: bool) -> int:
    import uvicorn

    settings = get_settings()
    if seed and not settings.demo_mode:
        print(DEMO_REFUSED)
        return 2
    run_migrations(settings.database_url)
    if seed:
        print_logins(run_sync(_seed()))
    print(f"\n民情通已启动：http://{host}:{port}\n")
    uvicorn.run(
        "server.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    return 0


async def _create_user(username: str, role: str, unit: str, name: str | None, password: str) -> None:
    from server.accounts import service

    engine = create_engine(get_settings().database_url)
    try:
        async with session_maker(engine)() as db:
            org = await service.find_unit(db, unit)
            await service.create_user(db, username, password, role, org, name)
            await db.commit()
    finally:
        await engine.dispose()


def create_user(username: str, role: str, unit: str, name: str | None, password: str) -> int:
    settings = get_settings()
    run_migrations(settings.database_url)
    try:
        run_sync(_create_user(username, role, unit, name, password))
    except AppError as exc:
        print(f"错误：{exc.message}")
        return 1
    print(f"已创建用户 {username}。")
    return 0


def backup(path: str) -> int:
    """SQLite online backup: consistent even while the server writes."""
    settings = get_settings()
    if not settings.is_sqlite:
        print("错误：backup 只适用于 SQLite；PostgreSQL 请使用 pg_dump。")
        return 1
    source_path = make_url(settings.database_url).database
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(source_path, timeout=30)
    dest = sqlite3.connect(str(target))
    try:
        # One step: a read snapshot while the server keeps writing (WAL). A stepwise copy (pages=N) restarts
        # whenever another connection writes, so on a busy server it might never finish.
        source.backup(dest)
        ok = dest.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        dest.close()
        source.close()
    print(f"已备份到 {target}（完整性检查：{ok}）。")
    return 0 if ok == "ok" else 1


def build_static() -> int:
    from server.cli.static_build import build

    for line in build():
        print(line)
    return 0


def integrity_scan(first: str, last: str) -> int:
    from server.integrity.scan import run_scan

    return run_scan(get_settings(), first, last)
