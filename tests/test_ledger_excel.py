"""Excel out (re-read with openpyxl and compared with the database) and roster import in (preview,
row-level errors, all-or-nothing, re-import updates by code instead of duplicating)."""

from __future__ import annotations

import io
from datetime import date

from litestar.testing import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from server.ledger.public import mask_name
from server.places.models import Assignment, Target
from tests.conftest import csrf, login
from tests.factories import World, with_db
from tests.ledger_support import STATE_FIELDS, make_concern


def workbook(response) -> object:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    return load_workbook(io.BytesIO(response.content))


def test_ledger_export_matches_database(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    a = make_concern(settings, world, text="村口路灯坏了", category="problem")
    b = make_concern(
        settings,
        world,
        target="house_2",
        text="申请危房改造",
        category="request",
        state="in_progress",
        owner_id=world.users["cadre_a"],
        **STATE_FIELDS["in_progress"],
    )
    c = make_concern(
        settings,
        world,
        target="house_3",
        text="建议修建文化广场",
        category="suggestion",
        state="closed",
        rating="satisfied",
        close_detail=None,
        **STATE_FIELDS["closed"],
    )
    make_concern(settings, world, target="house_b", text="西河村的事", raised_by="cadre_b")  # out of 甲镇's scope
    login(client, "leader_a")
    ws = workbook(client.get("/ledger/export.xlsx")).active
    assert ws.freeze_panes == "A3"
    assert "民情台账" in ws["A1"].value
    headers = [cell.value for cell in ws[2]]
    assert headers[:5] == ["序号", "编号", "村/单位", "反映人", "问题内容"] and "群众评价" in headers
    assert ws.column_dimensions["E"].width >= 40
    rows = {row[1]: row for row in ws.iter_rows(min_row=3, values_only=True)}
    assert set(rows) == {a.id, b.id, c.id}
    col = {name: i for i, name in enumerate(headers)}
    assert rows[a.id][col["问题内容"]] == "村口路灯坏了" and rows[a.id][col["反映人"]] == "刘大山户"
    assert rows[a.id][col["村/单位"]] == "东风村" and rows[a.id][col["状态"]] == "登记"
    assert rows[b.id][col["责任人"]] == "王干部" and rows[b.id][col["时限"]] == "2099-01-01"
    assert rows[b.id][col["类别"]] == "诉求类" and rows[b.id][col["领域"]] == "基础设施"
    assert rows[c.id][col["群众评价"]] == "满意" and rows[c.id][col["办结情况"]] == "已解决"
    # The task and result lists; redacted names.
    task = workbook(client.get("/ledger/export.xlsx?list=task")).active
    assert [r[1] for r in task.iter_rows(min_row=3, values_only=True)] == [b.id]
    result = workbook(client.get("/ledger/export.xlsx?list=result&redact=1")).active
    (row,) = list(result.iter_rows(min_row=3, values_only=True))
    assert row[1] == c.id and row[3] == f"{mask_name('周国强')}户"
    filtered = workbook(client.get("/ledger/export.xlsx?category=request")).active
    assert [r[1] for r in filtered.iter_rows(min_row=3, values_only=True)] == [b.id]


def test_review_and_diary_exports(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    make_concern(settings, world)
    login(client, "leader_a")
    month = date.today().strftime("%Y-%m")
    wb = workbook(client.get(f"/ledger/review.xlsx?month={month}"))
    summary = {r[0]: r[1] for r in wb.worksheets[0].iter_rows(min_row=3, values_only=True)}
    assert summary["新增诉求"] == 1 and wb.worksheets[1].title == "需研究事项"
    page = client.get(f"/ledger/review?month={month}")
    assert page.status_code == 200 and "民情专题研究" in page.text
    assert client.get("/ledger/review?month=2025-13").status_code == 400
    login(client, "cadre_a")
    diary = workbook(client.get(f"/ledger/diary.xlsx?month={month}")).active
    assert "王干部" in diary["A1"].value and [c.value for c in diary[2]][:4] == ["序号", "日期", "时间", "地点"]


def roster(rows: list[list[object]], headers: list[str]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(["东风村农户花名册"])  # a title row above the headers, as towns keep them
    ws.append(headers)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


HOUSE_HEADERS = ["编码", "户主", "村", "组", "人口", "电话", "身份证号", "地址", "纬度", "经度", "标签"]


def counts(settings) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async def work(db):  # type: ignore[no-untyped-def]
        return (
            await db.scalar(select(func.count()).select_from(Target)),
            await db.scalar(select(func.count()).select_from(Assignment)),
        )

    return with_db(settings, work)


def upload(client: TestClient, kind: str, content: bytes, name: str = "roster.xlsx"):  # type: ignore[no-untyped-def]
    return client.post("/ledger/import", data={"_csrf": csrf(client), "kind": kind}, files={"file": (name, content)})


def apply(client: TestClient, kind: str, preview_html: str):  # type: ignore[no-untyped-def]
    from bs4 import BeautifulSoup

    upload_id = BeautifulSoup(preview_html, "html.parser").select_one("input[name=upload_id]")["value"]
    return client.post("/ledger/import/apply", data={"_csrf": csrf(client), "kind": kind, "upload_id": upload_id})


def test_import_with_errors_changes_nothing(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    before = counts(settings)
    content = roster(
        [
            ["h-new-1", "孙二娘", "东风村", "一组", 3, "13811112222", "", "", 29.62, 114.10, "低保"],
            ["h-new-2", "", "东风村", "一组", 3, "", "", "", 29.62, 114.10, ""],
            ["h-new-3", "鲁智深", "东风村", "二组", 2, "", "", "", "", "", ""],
            ["h-new-4", "林冲", "西河村", "二组", 2, "", "", "", 29.43, 114.0, ""],  # another town's village
            ["h-new-5", "武松", "东风村", "二组", 2, "12345", "", "", 29.62, 114.10, ""],
            ["h-new-6", "杨志", "东风村", "二组", 2, "", "", "", 114.10, 29.62, ""],
            ["house_b", "吴秀英", "东风村", "", 1, "", "", "", 29.62, 114.10, ""],  # code used outside scope
            ["h-new-1", "孙二娘", "东风村", "一组", 3, "", "", "", 29.62, 114.10, ""],
        ],
        HOUSE_HEADERS,
    )
    login(client, "leader_a")
    response = upload(client, "household", content)
    assert response.status_code == 400
    text = response.text
    for message in (
        "第 4 行：缺少户主姓名",
        "第 5 行：缺少经纬度",
        "第 6 行：找不到村“西河村”",
        "第 7 行：电话号码格式不正确",
        "第 8 行：经纬度不在中国境内",
        "第 9 行：编码“house_b”已被您管辖范围以外的对象使用",
        "第 10 行：与前面的行重复",
    ):
        assert message in text, message
    assert "确认导入" not in text
    # Applying anyway (a hand-made request) is refused and writes nothing.
    forged = client.post(
        "/ledger/import/apply",
        data={"_csrf": csrf(client), "kind": "household", "upload_id": "AAAAAAAAAAAAAAAAAAAAAAAA"},
    )
    assert forged.status_code == 400
    assert counts(settings) == before


def test_clean_import_applied_twice_updates(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    before_targets, before_assignments = counts(settings)
    rows = [
        [
            "h-new-1",
            "孙二娘",
            "东风村",
            "一组",
            3,
            "13811112222",
            "42122319800101123X",
            "东风村一组8号",
            29.621,
            114.101,
            "低保",
        ],
        ["h-new-2", "鲁智深", "vil-a-missing", "一组", 1, "", "", "", 29.622, 114.102, ""],
        ["house_2", "陈小梅", "东风村", "二组", 5, "13900002222", "", "", 29.63, 114.1, "独居老人"],  # existing: update
    ]
    rows[1][2] = "village_a"  # villages may be named by code too
    login(client, "leader_a")
    for round_ in (1, 2):
        preview = upload(client, "household", roster(rows, HOUSE_HEADERS))
        assert preview.status_code == 200, preview.text
        if round_ == 1:
            assert "新增 2，更新 1" in preview.text
        else:
            assert "新增 0，更新 3" in preview.text
        done = apply(client, "household", preview.text)
        assert done.status_code == 200 and "导入完成" in done.text
    assert counts(settings) == (before_targets + 2, before_assignments)

    async def read(db):  # type: ignore[no-untyped-def]
        return {t.code: t for t in await db.scalars(select(Target).where(Target.code.in_(["h-new-1", "house_2"])))}

    found = with_db(settings, read)
    assert found["h-new-1"].id_number == "42122319800101123X" and found["h-new-1"].tags == "低保"
    assert (
        found["h-new-1"].org_unit_id == world.units["vil_a"]
        and found["h-new-1"].village_id == world.targets["village_a"]
    )
    assert found["house_2"].members == 5 and found["house_2"].tags == "独居老人"
    # Assignments from CSV (GBK, as exported by older spreadsheet software), twice.
    csv_text = (
        "用户名,对象编码,类型,开始日期,结束日期\n"
        "cadre_a2,h-new-1,包保,2025-01-01,\n"
        "cadre_a2,h-new-2,联系,2025/01/01,2025-12-31\n"
    )
    for _ in range(2):
        preview = upload(client, "assignment", csv_text.encode("gbk"), "assign.csv")
        assert preview.status_code == 200, preview.text
        assert apply(client, "assignment", preview.text).status_code == 200
    assert counts(settings) == (before_targets + 2, before_assignments + 2)


def test_import_other_kinds_and_bad_files(client: TestClient, settings, world: World) -> None:  # type: ignore[no-untyped-def]
    login(client, "leader_a")
    enterprises = roster(
        [["e-new-1", "东风米厂", "东风村", "粮油", "是", "否", 29.61, 114.11]],
        ["编码", "名称", "村", "行业", "重点企业", "运输企业", "纬度", "经度"],
    )
    preview = upload(client, "enterprise", enterprises)
    assert preview.status_code == 200 and apply(client, "enterprise", preview.text).status_code == 200
    drivers = roster(
        [["d-new-1", "张大车", "鄂L12345", "13512345678", "东风村", "", ""]],
        ["编码", "姓名", "车牌", "电话", "村", "纬度", "经度"],
    )
    preview = upload(client, "driver", drivers)
    assert preview.status_code == 200 and apply(client, "driver", preview.text).status_code == 200
    missing_column = roster([["x", "y"]], ["编码", "户主"])
    response = upload(client, "household", missing_column)
    assert response.status_code == 400 and "表头缺少必填列" in response.text
    assert upload(client, "household", b"not a spreadsheet", "roster.xlsx").status_code == 400
    assert upload(client, "household", b"a,b", "roster.txt").status_code == 415
    template = client.get("/ledger/import/template/household")
    assert [c.value for c in workbook(template).active[2]][:3] == ["编码*", "户主*", "村*"]
    login(client, "cadre_a")
    assert upload(client, "household", enterprises).status_code == 403
