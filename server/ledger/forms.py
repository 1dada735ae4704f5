"""Parsing form fields and JSON bodies into service inputs, with Chinese 400s for malformed values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from server.errors import AppError
from server.ledger.lifecycle import ActionInput
from server.ledger.lists import Filters


def opt_int(values: Mapping[str, Any], name: str, label: str) -> int | None:
    raw = values.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, bool):
        raise AppError(f"{label}格式不正确。", 400)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise AppError(f"{label}格式不正确。", 400) from None


def opt_date(values: Mapping[str, Any], name: str, label: str) -> date | None:
    raw = values.get(name)
    if raw in (None, ""):
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise AppError(f"{label}格式应为 2025-03-01。", 400) from None


def text(values: Mapping[str, Any], name: str) -> str:
    raw = values.get(name)
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise AppError("提交的数据格式不正确，请检查后重试。", 400)
    return raw


def action_input(values: Mapping[str, Any]) -> ActionInput:
    """The same fields from an HTML form or a JSON body (``POST /api/v1/concerns/{id}/transition``)."""
    version = opt_int(values, "version", "版本号")
    if version is None:
        raise AppError("缺少版本号（version），请刷新后重试。", 400)
    return ActionInput(
        action=text(values, "action"),
        version=version,
        note=text(values, "note"),
        category=text(values, "category") or None,
        domain=text(values, "domain") or None,
        level=text(values, "level") or None,
        urgency=text(values, "urgency") or None,
        owner_id=opt_int(values, "owner_id", "责任人"),
        deadline=opt_date(values, "deadline", "办理时限"),
        close_reason=text(values, "close_reason") or None,
        close_detail=text(values, "close_detail"),
        merged_into_id=opt_int(values, "merged_into_id", "重复诉求编号"),
        score=text(values, "score") or None,
    )


def filters_from(values: Mapping[str, Any]) -> Filters:
    return Filters(
        unit_id=opt_int(values, "unit_id", "单位"),
        village_id=opt_int(values, "village_id", "村"),
        start=opt_date(values, "start", "开始日期"),
        end=opt_date(values, "end", "结束日期"),
        category=text(values, "category"),
        state=text(values, "state"),
        owner_id=opt_int(values, "owner_id", "责任人"),
        status=text(values, "status"),
    )
