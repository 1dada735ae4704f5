"""Excel exports (openpyxl): the ledger and its three lists, the monthly review and the work diary.
Each sheet has a title row, Chinese headers, a frozen header and sensible column widths; names can be
redacted (张**) for sharing outside the unit."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.service import Viewer
from server.clock import fmt_local, local_today
from server.ledger.deadlines import DEADLINE_STATUS_LABELS
from server.ledger.lists import LIST_LABELS, ConcernRow, Filters, MonthlyReview, list_concerns, month_bounds
from server.ledger.models import (
    CLOSE_REASON_LABELS,
    CONCERN_CATEGORY_LABELS,
    CONCERN_STATE_LABELS,
    DOMAIN_LABELS,
    RATING_LABELS,
)
from server.ledger.public import mask_name, public_who, scrub

EXPORT_LIMIT = 20000
LEDGER_COLUMNS: list[tuple[str, int]] = [
    ("序号", 6),
    ("编号", 8),
    ("村/单位", 16),
    ("反映人", 12),
    ("问题内容", 48),
    ("类别", 8),
    ("领域", 10),
    ("状态", 10),
    ("责任人", 10),
    ("时限", 12),
    ("进展", 30),
    ("办结情况", 30),
    ("群众评价", 10),
    ("登记时间", 17),
]
DIARY_COLUMNS: list[tuple[str, int]] = [
    ("序号", 6),
    ("日期", 12),
    ("时间", 8),
    ("地点", 20),
    ("内容", 60),
    ("标记", 16),
]


def sheet(
    wb: Workbook, title: str, columns: Sequence[tuple[str, int]], rows: Iterable[Sequence[Any]], *, first: bool = True
) -> None:
    """Title row (merged), header row (bold, frozen below it), the rows, column widths."""
    ws = wb.active if first else wb.create_sheet()
    assert ws is not None
    ws.title = title[:31].replace("/", "-")
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center")
    ws.append([name for name, _ in columns])
    fill = PatternFill("solid", fgColor="F2DCDB")
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for row in rows:
        ws.append(list(row))
    for index, (_, width) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(vertical="top", wrap_text=True)
    ws.freeze_panes = "A3"


def to_bytes(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def outcome(row: ConcernRow) -> str:
    c = row.concern
    if not c.close_reason:
        return ""
    text = CLOSE_REASON_LABELS.get(c.close_reason, c.close_reason)
    return text + (f"：{c.close_detail}" if c.close_detail else "") + (f"；已反馈：{c.feedback}" if c.feedback else "")


def ledger_row(index: int, row: ConcernRow, redact: bool) -> list[Any]:
    c = row.concern
    who = public_who(row.target) if redact else row.who
    names = [row.target.head_name] if redact and row.target.head_name else []
    text = scrub(c.text, names) if redact else c.text
    return [
        index,
        c.id,
        row.village or row.unit.name,
        who,
        text,
        CONCERN_CATEGORY_LABELS.get(c.category, c.category),  # type: ignore[call-overload]
        DOMAIN_LABELS.get(c.domain or "", ""),
        CONCERN_STATE_LABELS.get(c.state, c.state)
        + (f"（{DEADLINE_STATUS_LABELS[row.status]}）" if row.status else ""),  # type: ignore[call-overload]
        mask_name(row.owner) if redact else row.owner,
        c.deadline.isoformat() if c.deadline else "",
        (scrub(c.progress, names) if redact else c.progress) or "",
        outcome(row),
        RATING_LABELS.get(c.rating or "", ""),
        fmt_local(c.created_at),
    ]


async def export_list(db: AsyncSession, viewer: Viewer, list_name: str, filters: Filters, redact: bool) -> bytes:
    """民情台账 (``list_name`` = problem, every concern) or the task / result list as a workbook."""
    result = await list_concerns(db, viewer, list_name, filters, limit=EXPORT_LIMIT)
    title = "民情台账" if list_name == "problem" else LIST_LABELS[list_name]
    title = f"{viewer.unit_name}{title}（导出于 {local_today().isoformat()}）"
    wb = Workbook()
    sheet(wb, title, LEDGER_COLUMNS, (ledger_row(i, r, redact) for i, r in enumerate(result.rows, start=1)))
    return to_bytes(wb)


def export_review(review: MonthlyReview, redact: bool) -> bytes:
    wb = Workbook()
    month = review.month.strftime("%Y年%m月")
    summary = [
        ("新增诉求", review.new),
        ("销号", review.closed),
        ("超期未办结", review.overdue),
        ("回炉重办", review.reopened),
        ("群众评价", review.rated),
        ("满意率", review.satisfaction_rate),
    ]
    summary += [(f"其中{CONCERN_CATEGORY_LABELS.get(k, k)}", v) for k, v in review.by_category.items()]  # type: ignore[call-overload]
    sheet(wb, f"{review.unit.name}{month}民情专题研究", [("项目", 20), ("数量", 12)], summary)
    items = (ledger_row(i, r, redact) for i, r in enumerate(review.to_discuss, start=1))
    sheet(wb, "需研究事项", LEDGER_COLUMNS, items, first=False)
    return to_bytes(wb)


async def export_diary(db: AsyncSession, viewer: Viewer, user_id: int | None, month: date) -> tuple[bytes, str]:
    """The work diary (工作日志) of one cadre for a month, one row per check-in or visit."""
    from server.diary.service import compile_day, diary_user

    user = await diary_user(db, viewer, user_id)
    first, last = month_bounds(month)
    last = min(last, local_today())
    rows: list[list[Any]] = []
    day = first
    while day <= last:
        compiled = await compile_day(db, viewer, user, day)
        for entry in compiled.entries:
            rows.append(
                [len(rows) + 1, day.isoformat(), fmt_local(entry.at, "%H:%M"), entry.place, entry.content, entry.flag]
            )
        if compiled.note:
            rows.append([len(rows) + 1, day.isoformat(), "", "备注", compiled.note, ""])
        day += timedelta(days=1)
    wb = Workbook()
    sheet(wb, f"{user.display_name} {first.strftime('%Y年%m月')}工作日志", DIARY_COLUMNS, rows)
    return to_bytes(wb), user.display_name
