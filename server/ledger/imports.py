"""Roster import (.xlsx / .csv) of households, enterprises, drivers and assignments, in the form towns
already keep them: a preview with row-level errors ("第 12 行：缺少经纬度"), then an all-or-nothing
apply. Targets are matched on ``Target.code`` and assignments on (用户名, 对象编码, 类型), so
importing the same file again updates instead of duplicating."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.service import Viewer
from server.errors import AppError
from server.ledger.import_rows import VALIDATORS, RowContext, RowError
from server.places.models import Assignment, Target

MAX_ROWS = 5000
KIND_LABELS = {"household": "农户", "enterprise": "企业", "driver": "货车司机", "assignment": "包保/联系关系"}
# Chinese header → field, per kind; * marks required columns (in the template and the checks).
COLUMNS: dict[str, dict[str, str]] = {
    "household": {
        "编码*": "code",
        "户主*": "head_name",
        "村*": "village",
        "组": "group_name",
        "人口": "members",
        "电话": "phone",
        "身份证号": "id_number",
        "地址": "address",
        "纬度*": "lat",
        "经度*": "lon",
        "标签": "tags",
    },
    "enterprise": {
        "编码*": "code",
        "名称*": "name",
        "村": "village",
        "行业": "industry",
        "重点企业": "is_key",
        "运输企业": "is_transport",
        "纬度*": "lat",
        "经度*": "lon",
    },
    "driver": {
        "编码*": "code",
        "姓名*": "name",
        "车牌*": "plate",
        "电话": "phone",
        "村": "village",
        "纬度": "lat",
        "经度": "lon",
    },
    "assignment": {
        "用户名*": "username",
        "对象编码*": "target_code",
        "类型": "kind",
        "开始日期*": "start_date",
        "结束日期": "end_date",
    },
}


@dataclass
class ImportReport:
    kind: str
    total: int = 0
    creates: int = 0
    updates: int = 0
    errors: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # validated values, ready to apply

    @property
    def ok(self) -> bool:
        return not self.errors and self.total > 0


def read_table(filename: str, content: bytes) -> list[list[str]]:
    """All rows of the first sheet (.xlsx) or of a CSV (UTF-8 with or without BOM, or GBK) as text."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:  # openpyxl raises many types for a damaged file
            raise AppError("无法读取这个 Excel 文件，请另存为 .xlsx 后重试。", 400) from None
        ws = wb.worksheets[0]
        return [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
    if name.endswith(".csv"):
        for encoding in ("utf-8-sig", "gbk"):
            try:
                text = content.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise AppError("CSV 文件编码无法识别，请用 UTF-8 或 GBK 编码保存。", 400)
        return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text))]
    raise AppError("只支持 .xlsx 或 .csv 文件。", 415)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) > 1e6:
        return str(int(value))  # long numbers typed as numbers (phones)
    return str(value).strip()


def _header_map(kind: str, rows: list[list[str]]) -> tuple[int, dict[str, int]]:
    """Find the header row (a title row above it is allowed) and map fields to column indexes."""
    columns = COLUMNS[kind]
    wanted = {h.rstrip("*"): f for h, f in columns.items()}
    for index, row in enumerate(rows[:5]):
        found = {wanted[c.rstrip("*")]: i for i, c in enumerate(row) if c.rstrip("*") in wanted}
        if len(found) >= 2:
            missing = [h.rstrip("*") for h, f in columns.items() if h.endswith("*") and f not in found]
            if missing:
                raise AppError(f"表头缺少必填列：{'、'.join(missing)}。请按模板填写。", 400)
            return index, found
    raise AppError(f"找不到表头行，请使用“{KIND_LABELS[kind]}”导入模板（第一行或标题下一行为列名）。", 400)


async def preview(db: AsyncSession, viewer: Viewer, kind: str, filename: str, content: bytes) -> ImportReport:
    """Validate every row; nothing is written. Errors name the spreadsheet row number."""
    if kind not in COLUMNS:
        raise AppError("请选择导入类型：农户、企业、货车司机或包保/联系关系。", 400)
    rows = read_table(filename, content)
    header_index, fields = _header_map(kind, rows)
    report = ImportReport(kind)
    ctx = await RowContext.load(db, viewer)
    seen: set[Any] = set()
    for offset, raw in enumerate(rows[header_index + 1 :], start=header_index + 2):
        values = {f: (raw[i] if i < len(raw) else "").strip() for f, i in fields.items()}
        if not any(values.values()):
            continue
        report.total += 1
        if report.total > MAX_ROWS:
            raise AppError(f"一次最多导入 {MAX_ROWS} 行，请分批导入。", 400)
        try:
            row = await VALIDATORS[kind](ctx, values)
        except RowError as exc:
            report.errors.append(f"第 {offset} 行：{exc}")
            continue
        key = row["_key"]
        if key in seen:
            report.errors.append(f"第 {offset} 行：与前面的行重复（{row['_label']}）")
            continue
        seen.add(key)
        report.rows.append(row)
        report.creates += 0 if row["_existing"] else 1
        report.updates += 1 if row["_existing"] else 0
    if report.total == 0:
        report.errors.append("文件中没有数据行。")
    return report


async def apply(db: AsyncSession, viewer: Viewer, kind: str, filename: str, content: bytes) -> ImportReport:
    """Validate again and write every row in one transaction; any error → nothing is written (400)."""
    report = await preview(db, viewer, kind, filename, content)
    if not report.ok:
        await db.rollback()
        raise AppError("导入未执行：" + "；".join(report.errors[:5]) + ("……" if len(report.errors) > 5 else ""), 400)
    for row in report.rows:
        values = {k: v for k, v in row.items() if not k.startswith("_")}
        if kind == "assignment":
            found = await db.scalar(
                select(Assignment).where(
                    Assignment.user_id == values["user_id"],
                    Assignment.target_id == values["target_id"],
                    Assignment.kind == values["kind"],
                )
            )
            model: Any = found or Assignment(**values)
        else:
            model = await db.scalar(select(Target).where(Target.code == values["code"])) or Target(**values)
        for key, value in values.items():
            setattr(model, key, value)
        db.add(model)
    await db.commit()
    return report


def template_xlsx(kind: str) -> bytes:
    """An empty import template with the column headers (required ones marked *)."""
    from openpyxl import Workbook

    from server.ledger.excel import sheet, to_bytes

    wb = Workbook()
    sheet(wb, f"{KIND_LABELS[kind]}导入模板", [(h, 14) for h in COLUMNS[kind]], [])
    return to_bytes(wb)
