"""Row-level checks of roster imports: each validator turns one spreadsheet row into the values to
write, or raises ``RowError`` with the reason shown as "第 N 行：…"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import OrgUnit, User
from server.accounts.service import Viewer
from server.places.models import HOUSEHOLD_TAGS, Assignment, Target

YES = {"是", "y", "yes", "1", "true", "√"}


class RowError(Exception):
    pass


@dataclass
class RowContext:
    db: AsyncSession
    viewer: Viewer
    villages: dict[str, Target]  # by name and by code, in scope
    units: dict[int, OrgUnit]

    @classmethod
    async def load(cls, db: AsyncSession, viewer: Viewer) -> RowContext:
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


def _village(ctx: RowContext, values: dict[str, str], required: bool) -> Target | None:
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


async def _household(ctx: RowContext, v: dict[str, str]) -> dict[str, Any]:
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


async def _enterprise(ctx: RowContext, v: dict[str, str]) -> dict[str, Any]:
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


async def _driver(ctx: RowContext, v: dict[str, str]) -> dict[str, Any]:
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


async def _target_row(ctx: RowContext, kind: str, code: str, fields: dict[str, Any]) -> dict[str, Any]:
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


async def _assignment(ctx: RowContext, v: dict[str, str]) -> dict[str, Any]:
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


VALIDATORS = {"household": _household, "enterprise": _enterprise, "driver": _driver, "assignment": _assignment}
