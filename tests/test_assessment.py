"""考核 on a constructed August 2026 (21 working days, no holidays) with hand-computed answers, the
weights per unit, the Excel export, roles and scoping.

cadre_a (王干部, 甲镇, 包保 house_1..3 and the village) in August 2026:
- diary: visits on 08-03 (two) and 08-10, a check-in on 08-12, a written note on Saturday 08-15, an
  empty note on 08-20 (does not count), a visit at 09-01 00:10 local (31 August in UTC: not August)
  → 4 days / 21 working days = 19.05 %
- quota (coverage's rule: each household monthly): house_1 and house_2 of 3 → 66.67 %
- integrity: 3 visits; flags confirmed (counts), open and dismissed (do not); one spot check 不属实
  → 1 − 0.2 × 2 = 60 %
- concerns and ratings: none → 暂无数据, weights re-normalised:
  (19.05 %×20 + 66.67 %×30 + 60 %×15) ÷ 65 = 50.48 → 50.5
"""

from __future__ import annotations

import io
import uuid
from datetime import date

import pytest
from litestar.testing import TestClient
from openpyxl import load_workbook
from sqlalchemy import update

from server.accounts.models import OrgUnit
from server.assessment.models import AssessmentConfig
from server.assessment.service import assess, config_for
from server.config import Settings
from server.diary.models import DiaryNote
from server.integrity.models import IntegrityFlag, SpotCheck, SpotCheckRun
from server.ledger import models as ledger
from server.places.models import Assignment
from server.visits.models import CheckIn, Visit
from tests.conftest import csrf, login
from tests.factories import VILLAGE_A, World, local, viewer_for, with_db

AUG = {"start": "2026-08-01", "end": "2026-08-31"}
HX = {"HX-Request": "true"}


def _visit(user: int, target: int, at: str) -> Visit:
    return Visit(
        uuid=str(uuid.uuid4()),
        user_id=user,
        target_id=target,
        visited_at=local(at),
        lat=VILLAGE_A[0],
        lon=VILLAGE_A[1],
        notes="走访",
    )


@pytest.fixture
def august(settings: Settings, world: World) -> dict[str, int]:
    u, t = world.users["cadre_a"], world.targets

    async def work(db):  # type: ignore[no-untyped-def]
        await db.execute(update(Assignment).values(start_date=date(2026, 1, 1)))
        v1, v2, v3 = (
            _visit(u, t["house_1"], "2026-08-03 10:00"),
            _visit(u, t["house_2"], "2026-08-03 14:00"),
            _visit(u, t["house_1"], "2026-08-10 10:00"),
        )
        db.add_all([v1, v2, v3, _visit(u, t["house_3"], "2026-09-01 00:10")])
        db.add(
            CheckIn(
                uuid=str(uuid.uuid4()),
                user_id=u,
                target_id=t["village_a"],
                lat=VILLAGE_A[0],
                lon=VILLAGE_A[1],
                device_time=local("2026-08-12 09:00"),
            )
        )
        db.add_all(
            [DiaryNote(user_id=u, day=date(2026, 8, 15), note="补记"), DiaryNote(user_id=u, day=date(2026, 8, 20))]
        )
        await db.flush()
        unit = world.units["vil_a"]
        for visit, status in ((v1, "confirmed"), (v2, "open"), (v3, "dismissed")):
            db.add(
                IntegrityFlag(
                    visit_id=visit.id,
                    user_id=u,
                    org_unit_id=unit,
                    occurred_at=visit.visited_at,
                    code="far_from_target",
                    message="…",
                    status=status,
                )
            )
        run = SpotCheckRun(
            org_unit_id=world.units["town_a"],
            first_day=date(2026, 8, 1),
            last_day=date(2026, 8, 31),
            percent=50,
            seed=1,
            created_by_id=world.users["super"],
        )
        db.add(run)
        await db.flush()
        db.add_all(
            [
                SpotCheck(run_id=run.id, visit_id=v2.id, user_id=u, result="false", note="未入户"),
                SpotCheck(run_id=run.id, visit_id=v3.id, user_id=u, result="true"),
            ]
        )
        await db.commit()
        return {"v1": v1.id, "v2": v2.id, "v3": v3.id}

    return with_db(settings, work)


def table_for(settings: Settings, viewer_id: int, unit_id: int, first: date, last: date):  # type: ignore[no-untyped-def]
    async def work(db):  # type: ignore[no-untyped-def]
        return await assess(db, await viewer_for(db, viewer_id), unit_id, first, last)

    return with_db(settings, work)


def by_name(table) -> dict:  # type: ignore[no-untyped-def]
    return {row.user.display_name: row for row in table.rows}


def test_hand_computed_scores(settings: Settings, world: World, august: dict[str, int]) -> None:
    table = table_for(settings, world.users["super"], world.units["town_a"], date(2026, 8, 1), date(2026, 8, 31))
    assert table.working_days == 21
    rows = by_name(table)
    wang = {p.key: p for p in rows["王干部"].parts}
    assert (wang["diary"].detail, round(wang["diary"].value, 4)) == ("有记录 4 天 / 工作日 21 天", round(4 / 21, 4))
    assert wang["quota"].value == pytest.approx(2 / 3) and wang["quota"].detail == "完成 2 / 应完成 3，未达标"
    assert wang["integrity"].value == pytest.approx(0.6)
    assert "确认异常 1 条 + 抽查不属实 1 条" in wang["integrity"].detail
    assert wang["concerns"].value is None and wang["satisfaction"].value is None
    assert rows["王干部"].score == 50.5
    assert "÷ 65 = 50.5 分" in rows["王干部"].explanation and "暂无数据，不计入权重" in rows["王干部"].explanation
    # 李干部: nothing recorded; 包保 house_3 in August → quota 0 / 1; no visits → integrity 暂无数据
    li = {p.key: p for p in rows["李干部"].parts}
    assert (li["diary"].value, li["quota"].value, li["integrity"].value) == (0.0, 0.0, None)
    assert rows["李干部"].score == 0.0
    assert "张干部" not in rows  # 乙镇 is not under 甲镇


@pytest.mark.skipif(not hasattr(ledger, "Rating") or not hasattr(ledger.Concern, "deadline"), reason="no ledger")
def test_concerns_on_time_and_satisfaction(settings: Settings, world: World, august: dict[str, int]) -> None:
    """Concerns due 08-20 closed 08-19 (on time), due 08-25 closed 08-27 (late), due 08-28 open, due 09-05
    (not in August) → 1/3; ratings 满意, 基本满意, 部分解决, 不满意 (+ one in September) → 2/4.
    (19.05×20 + 66.67×30 + 33.33×20 + 50×15 + 60×15) ÷ 100 = 46.98 → 47.0"""
    u, t = world.users["cadre_a"], world.targets

    async def work(db):  # type: ignore[no-untyped-def]
        def concern(deadline: date, closed: str | None) -> object:
            return ledger.Concern(
                uuid=str(uuid.uuid4()),
                target_id=t["house_1"],
                org_unit_id=world.units["vil_a"],
                raised_by_id=u,
                owner_id=u,
                text="路灯",
                deadline=deadline,
                state="closed" if closed else "in_progress",
                closed_at=local(closed) if closed else None,
            )

        db.add_all(
            [
                concern(date(2026, 8, 20), "2026-08-19 16:00"),
                concern(date(2026, 8, 25), "2026-08-27 09:00"),
                concern(date(2026, 8, 28), None),
                concern(date(2026, 9, 5), "2026-08-30 09:00"),
            ]
        )
        for score, at in (
            ("satisfied", "2026-08-05 10:00"),
            ("basic", "2026-08-06 10:00"),
            ("partial", "2026-08-07 10:00"),
            ("unsatisfied", "2026-08-31 23:00"),
            ("satisfied", "2026-09-02 10:00"),
        ):
            db.add(ledger.Rating(cadre_id=u, org_unit_id=world.units["vil_a"], score=score, at=local(at)))
        await db.commit()

    with_db(settings, work)
    table = table_for(settings, world.users["super"], world.units["town_a"], date(2026, 8, 1), date(2026, 8, 31))
    wang = by_name(table)["王干部"]
    parts = {p.key: p for p in wang.parts}
    assert parts["concerns"].detail == "按时销号 1 件 / 到期 3 件"
    assert parts["satisfaction"].detail == "满意或基本满意 2 条 / 评价 4 条"
    assert wang.score == 47.0


def test_weights_per_unit_with_nearest_ancestor(
    client: TestClient, settings: Settings, world: World, august: dict[str, int]
) -> None:
    login(client, "super")
    form = {
        "_csrf": csrf(client),
        "unit_id": str(world.units["town_a"]),
        "w_diary": "50",
        "w_quota": "50",
        "w_concerns": "0",
        "w_satisfaction": "0",
        "w_integrity": "0",
        "flag_penalty": "10",
        **AUG,
    }
    saved = client.post("/assessment/config", data=form, follow_redirects=False)
    assert saved.status_code == 303 and f"unit_id={world.units['town_a']}" in saved.headers["location"]
    table = table_for(settings, world.users["super"], world.units["town_a"], date(2026, 8, 1), date(2026, 8, 31))
    assert by_name(table)["王干部"].score == round(100 * (4 / 21 * 50 + 2 / 3 * 50) / 100, 1) == 42.9
    assert client.post("/assessment/config", data={**form, "w_diary": "0", "w_quota": "0"}).status_code == 400
    assert client.post("/assessment/config", data={**form, "w_diary": "abc"}).status_code == 400
    assert client.post("/assessment/config", data={**form, "w_diary": "101"}).status_code == 400

    async def configs(db):  # type: ignore[no-untyped-def]
        db.add(
            AssessmentConfig(
                org_unit_id=world.units["county"], w_diary=100, w_quota=0, w_concerns=0, w_satisfaction=0, w_integrity=0
            )
        )
        await db.commit()
        out = {}
        for key in ("vil_a", "town_a", "town_b"):
            out[key] = (await config_for(db, await db.get(OrgUnit, world.units[key]))).w_diary
        return out

    assert with_db(settings, configs) == {"vil_a": 50, "town_a": 50, "town_b": 100}


def test_page_and_excel_export(client: TestClient, world: World, august: dict[str, int]) -> None:
    login(client, "leader_a")
    page = client.get("/assessment", params={"unit_id": world.units["town_a"], **AUG})
    assert page.status_code == 200 and "50.5" in page.text and "暂无数据" in page.text
    assert "保存“" not in page.text  # leaders read; they do not set weights
    fragment = client.get("/assessment", params={"unit_id": world.units["town_a"], **AUG}, headers=HX)
    assert 'id="assessment"' in fragment.text and "<html" not in fragment.text
    export = client.get("/assessment/export.xlsx", params={"unit_id": world.units["town_a"], **AUG})
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "filename*=UTF-8''" in export.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(export.content))["考核"]
    headers = [c.value for c in sheet[2]]
    assert headers[:5] == ["姓名", "职务", "单位", "总分", "计分说明"] and "日志完整率说明" in headers
    rows = {r[0]: r for r in sheet.iter_rows(min_row=3, values_only=True)}
    wang = rows["王干部"]
    assert wang[3] == 50.5 and wang[headers.index("任务完成")] == 66.7
    assert wang[headers.index("任务完成说明")] == "完成 2 / 应完成 3，未达标"
    assert wang[headers.index("群众满意")] is None and wang[headers.index("群众满意说明")] in (
        "暂无数据",
        "本期没有群众评价",
    )


def test_roles_and_scope(client: TestClient, world: World) -> None:
    assert client.get("/assessment", headers=HX).status_code == 401
    login(client, "cadre_a")
    assert client.get("/assessment").status_code == 403
    assert client.get("/assessment/export.xlsx").status_code == 403
    login(client, "leader_a")
    assert client.get("/assessment", params={"unit_id": world.units["town_b"]}).status_code == 404
    assert client.post("/assessment/config", data={"_csrf": csrf(client), "w_diary": "10"}).status_code == 403
    assert client.get("/assessment", params={"start": "2026-13-01"}).status_code == 400
    assert client.get("/assessment", params={"start": "2026-09-01", "end": "2026-08-01"}).status_code == 400
    assert client.get("/assessment", params={"start": "2024-01-01", "end": "2026-08-01"}).status_code == 400
    login(client, "admin")
    assert client.get("/assessment").status_code == 200
