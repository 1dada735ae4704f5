"""Roster import (.xlsx / .csv) of households, enterprises, drivers and assignments, in the form towns
already keep them: a preview with row-level errors ("第 12 行：缺少经纬度"), then an all-or-nothing
apply. Targets are matched on ``Target.code`` and assignments on (用户名, 对象编码, 类型), so
importing the same file again updates instead of duplicating."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.errors import AppError
from server.places.models import HOUSEHOLD_TAGS, Assignment, Target

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
YES = {"是", "y", "yes", "1", "true", "√"}


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
    ctx = await _Context.load(db, viewer)
    seen: set[Any] = set()
    for offset, raw in enumerate(rows[header_index + 1 :], start=header_index + 2):
        values = {f: (raw[i] if i < len(raw) else "").strip() for f, i in fields.items()}
        if not any(values.values()):
            continue
        report.total += 1
        if report.total > MAX_ROWS:
            raise AppError(f"一次最多导入 {MAX_ROWS} 行，请分批导入。", 400)
        try:
            row = await _VALIDATORS[kind](ctx, values)
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


class RowError(Exception):
    pass


@dataclass
class _Context:
    db: AsyncSession
    viewer: Viewer
    villages: dict[str, Target]  # by name and by code, in scope
    units: dict[int, OrgUnit]

    @classmethod
    async def load(cls, db: AsyncSession, viewer: Viewer) -> _Context:
        units = {
            u.id: u
            for u in await db.scalars(select(OrgUnit).where(OrgUnit.path.startswith(viewer.unit_path)))  # type: ignore[attr-defined]
        }
        villages: dict[str, Target] = {}
        for v in await db.scalars(select(Target).where(Target.kind == "village", Target.org_unit_id.in_(units))):  # type: ignore[attr-defined]
            villages[v.name] = villages[v.code] = v
        return cls(db, viewer, villages, units)  # type: ignore[arg-type]

    async def existing(self, code: str, kind: str) -> Target | None:
        target = await self.db.scalar(select(Target).where(Target.code == code))
        if target is None:
            return None
        if target.org_unit_id not in self.units:
            raise RowError(f"编码“{code}”已被您管辖范围以外的对象使用")
        if target.kind != kind:
            raise RowError(f"编码“{code}”已被另一类对象使用")
        return target


def _required(values: dict[str, str], name: str, label: str) -> str:
    if not values.get(name):
        raise RowError(f"缺少{label}")
    return values[name]


def _coords(values: dict[str, str], required: bool) -> tuple[float | None, float | None]:
    if not values.get("lat") and not values.get("lon"):
        if required:
            raise RowError("缺少经纬度")
        return None, None
    try:
        lat, lon = float(values.get("lat", "")), float(values.get("lon", ""))
    except ValueError:
        raise RowError("经纬度应为数字（如 纬度 29.55，经度 114.05）") from None
    if not (3 <= lat <= 54 and 73 <= lon <= 136):
        raise RowError("经纬度不在中国境内，请检查是否填反")
    return lat, lon


def _village(ctx: _Context, values: dict[str, str], required: bool) -> Target | None:
    name = values.get("village", "")
    if not name:
        if required:
            raise RowError("缺少所属村")
        return None
    village = ctx.villages.get(name)
    if village is None:
        raise RowError(f"找不到村“{name}”，或它不在您的管辖范围内")
    return village


def _phone(values: dict[str, str]) -> str | None:
    phone = values.get("phone", "").replace(" ", "").replace("-", "")
    if phone and not (phone.isdigit() and len(phone) in (7, 8, 11, 12)):
        raise RowError("电话号码格式不正确（手机 11 位）")
    return phone or None


def _int(values: dict[str, str], name: str, label: str) -> int | None:
    raw = values.get(name, "")
    if not raw:
        return None
    try:
        number = int(float(raw))
    except ValueError:
        raise RowError(f"{label}应为整数") from None
    if not 0 <= number <= 100:
        raise RowError(f"{label}应在 0～100 之间")
    return number


async def _household(ctx: _Context, v: dict[str, str]) -> dict[str, Any]:
    code = _required(v, "code", "编码")
    head = _required(v, "head_name", "户主姓名")
    village = _village(ctx, v, True)
    assert village is not None
    lat, lon = _coords(v, True)
    id_number = v.get("id_number", "").upper()
    if id_number and not (len(id_number) == 18 and id_number[:17].isdigit()):
        raise RowError("身份证号应为 18 位")
    tags = [t for t in v.get("tags", "").replace("，", ",").replace("、", ",").split(",") if t.strip()]
    unknown = [t for t in tags if t.strip() not in HOUSEHOLD_TAGS]
    if unknown:
        raise RowError(f"未知的标签“{unknown[0]}”（可选：{'、'.join(HOUSEHOLD_TAGS)}）")
    fields = {
        "name": f"{village.name}{v.get('group_name', '')}{head}户"[:100],
        "head_name": head[:50],
        "group_name": v.get("group_name") or None,
        "members": _int(v, "members", "人口"),
        "phone": _phone(v),
        "id_number": id_number or None,
        "address": v.get("address") or None,
        "tags": ",".join(t.strip() for t in tags) or None,
        "lat": lat,
        "lon": lon,
        "village_id": village.id,
        "org_unit_id": village.org_unit_id,
    }
    return await _target_row(ctx, "household", code, fields)


async def _enterprise(ctx: _Context, v: dict[str, str]) -> dict[str, Any]:
    code = _required(v, "code", "编码")
    name = _required(v, "name", "企业名称")
    village = _village(ctx, v, False)
    lat, lon = _coords(v, True)
    fields = {
        "name": name[:100],
        "industry": v.get("industry") or None,
        "is_key": v.get("is_key", "").lower() in YES,
        "is_transport": v.get("is_transport", "").lower() in YES,
        "lat": lat,
        "lon": lon,
        "village_id": village.id if village else None,
        "org_unit_id": village.org_unit_id if village else ctx.viewer.unit_id,
    }
    return await _target_row(ctx, "enterprise", code, fields)


async def _driver(ctx: _Context, v: dict[str, str]) -> dict[str, Any]:
    code = _required(v, "code", "编码")
    name = _required(v, "name", "姓名")
    plate = _required(v, "plate", "车牌号")
    village = _village(ctx, v, False)
    lat, lon = _coords(v, False)
    fields = {
        "name": name[:100],
        "plate": plate[:20],
        "phone": _phone(v),
        "lat": lat,
        "lon": lon,
        "village_id": village.id if village else None,
        "org_unit_id": village.org_unit_id if village else ctx.viewer.unit_id,
    }
    return await _target_row(ctx, "driver", code, fields)


async def _target_row(ctx: _Context, kind: str, code: str, fields: dict[str, Any]) -> dict[str, Any]:
    if len(code) > 64:
        raise RowError("编码最长 64 个字符")
    existing = await ctx.existing(code, kind)
    return {
        "_key": code,
        "_label": f"编码 {code}",
        "_existing": existing is not None,
        "kind": kind,
        "code": code,
        **fields,
    }


def _date(values: dict[str, str], name: str, label: str, required: bool) -> date | None:
    raw = values.get(name, "")
    if not raw:
        if required:
            raise RowError(f"缺少{label}")
        return None
    try:
        return date.fromisoformat(raw[:10].replace("/", "-"))
    except ValueError:
        raise RowError(f"{label}格式应为 2025-03-01") from None


async def _assignment(ctx: _Context, v: dict[str, str]) -> dict[str, Any]:
    username = _required(v, "username", "干部用户名")
    code = _required(v, "target_code", "对象编码")
    kind = {"包保": "bao", "联系": "lian", "": "bao", "bao": "bao", "lian": "lian"}.get(v.get("kind", ""))
    if kind is None:
        raise RowError("类型应为“包保”或“联系”")
    start = _date(v, "start_date", "开始日期", True)
    end = _date(v, "end_date", "结束日期", False)
    if end and start and end < start:
        raise RowError("结束日期早于开始日期")
    user = await ctx.db.scalar(select(User).where(User.username == username))
    if user is None or user.org_unit_id not in ctx.units:
        raise RowError(f"找不到干部“{username}”，或不在您的管辖范围内")
    target = await ctx.db.scalar(select(Target).where(Target.code == code))
    if target is None or target.org_unit_id not in ctx.units:
        raise RowError(f"找不到编码为“{code}”的走访对象（请先导入对象）")
    existing = await ctx.db.scalar(
        select(Assignment.id).where(
            Assignment.user_id == user.id, Assignment.target_id == target.id, Assignment.kind == kind
        )
    )
    return {
        "_key": (user.id, target.id, kind),
        "_label": f"{username} / {code}",
        "_existing": existing is not None,
        "user_id": user.id,
        "target_id": target.id,
        "kind": kind,
        "start_date": start,
        "end_date": end,
    }


_VALIDATORS = {"household": _household, "enterprise": _enterprise, "driver": _driver, "assignment": _assignment}


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
