"""``python -m server integrity-scan``: flags for rows written without the recording hook (imports, demo)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from server.__main__ import main as cli_main
from server.config import Settings, reset_settings
from server.visits.models import Visit
from tests.factories import VILLAGE_A, World, local, with_db
from tests.integrity_helpers import flags


def main(argv: list[str]) -> int:
    """The CLI in its own thread: it runs its own event loop (Playwright's may be running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(cli_main, argv).result()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MINQING_DATABASE_URL", settings.database_url)
    reset_settings()
    yield settings
    reset_settings()


def test_scan_flags_historic_rows_and_is_repeatable(
    cli_env: Settings, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    u, t = world.users["cadre_a"], world.targets

    async def seed(db):  # type: ignore[no-untyped-def]
        rows = [
            # 2.3 km from house_1 (radius 200 m), no photo, accuracy exactly 0
            Visit(
                uuid=str(uuid.uuid4()),
                user_id=u,
                target_id=t["house_1"],
                visited_at=local("2026-10-31 23:30"),
                lat=VILLAGE_A[0] + 0.022,
                lon=VILLAGE_A[1],
                accuracy=0.0,
                distance_m=2331.0,
                notes="导入",
            ),
            # outside the period (local 1 November, though 31 October in UTC)
            Visit(
                uuid=str(uuid.uuid4()),
                user_id=u,
                target_id=t["house_2"],
                visited_at=local("2026-11-01 00:10"),
                lat=None,
                lon=None,
                notes="导入",
            ),
        ]
        db.add_all(rows)
        await db.commit()
        return [r.id for r in rows]

    inside, outside = with_db(cli_env, seed)
    assert main(["integrity-scan", "--from", "2026-10-01", "--to", "2026-10-31"]) == 0
    out = capsys.readouterr().out
    assert "走访 1 条，签到 0 条" in out and "偏离对象位置：1 条待核查" in out and "疑似模拟定位：1 条待核查" in out
    assert set(flags(cli_env, visit_id=inside)) == {"far_from_target", "no_photo", "mock_location"}
    assert flags(cli_env, visit_id=outside) == {}
    assert main(["integrity-scan", "--from", "2026-10-01", "--to", "2026-10-31"]) == 0  # again: no duplicates
    assert len(flags(cli_env, visit_id=inside)) == 3
    assert main(["integrity-scan", "--from", "2026-11-01", "--to", "2026-11-01"]) == 0
    assert set(flags(cli_env, visit_id=outside)) == {"no_gps", "no_photo"}


def test_scan_refuses_bad_dates(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["integrity-scan", "--from", "2026-10-32", "--to", "2026-10-31"]) == 2
    assert "日期格式应为 YYYY-MM-DD" in capsys.readouterr().out
    assert main(["integrity-scan", "--from", "2026-11-01", "--to", "2026-10-31"]) == 2


def test_rescan_gives_the_flags_recording_gave(cli_env: Settings, world: World) -> None:
    """Checks look only backwards, so a re-scan reproduces exactly what the recording hook wrote."""
    from datetime import timedelta

    from sqlalchemy import select

    from server.clock import local_today
    from server.integrity.models import IntegrityFlag
    from tests.integrity_helpers import photo_bytes, record

    day = local_today() - timedelta(days=1)
    u, t = world.users["cadre_a"], world.targets
    spots = {"house_1": (VILLAGE_A[0] + 0.001, VILLAGE_A[1]), "house_3": (VILLAGE_A[0] + 0.03, VILLAGE_A[1] + 0.01)}
    plan = [
        ("house_1", "09:00", 1),
        ("house_3", "09:02", 2),
        ("house_1", "09:05", 1),
        ("house_3", "09:20", 3),
        ("house_1", "09:20", 4),
    ]
    for key, hhmm, seed in plan:
        lat, lon = spots[key]
        record(
            cli_env,
            u,
            t[key],
            at=local(f"{day} {hhmm}"),
            lat=lat,
            lon=lon,
            accuracy=0.0 if seed == 3 else 9.0,
            photos=[photo_bytes(seed, quality=80 + seed)],
        )

    async def snapshot(db):  # type: ignore[no-untyped-def]
        rows = await db.scalars(select(IntegrityFlag).order_by(IntegrityFlag.visit_id, IntegrityFlag.code))
        return [(f.visit_id, f.code, f.message) for f in rows]

    recorded = with_db(cli_env, snapshot)
    assert {code for _, code, _ in recorded} >= {"too_fast", "burst", "photo_reused", "mock_location"}
    assert main(["integrity-scan", "--from", str(day), "--to", str(day)]) == 0
    assert with_db(cli_env, snapshot) == recorded
