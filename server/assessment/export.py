"""The assessment table as an Excel workbook (openpyxl): Chinese headers, each part with its explanation."""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from server.assessment.service import PARTS, WEIGHT_FIELDS, AssessmentTable


def workbook_bytes(table: AssessmentTable) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "考核"
    ws.append([f"{table.unit.name} 干部考核（{table.first} 至 {table.last}，工作日 {table.working_days} 天）"])
    headers = ["姓名", "职务", "单位", "总分", "计分说明"]
    for _, label in PARTS:
        headers += [label, f"{label}说明"]
    ws.append(headers)
    for row in table.rows:
        line: list[object] = [row.user.display_name, row.role_label, row.unit.name, row.score, row.explanation]
        for part in row.parts:
            line += [None if part.value is None else round(part.value * 100, 1), part.detail]
        ws.append(line)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "B3"
    widths = [10, 8, 14, 8, 48] + [10, 36] * len(PARTS)
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(row=2, column=index).column_letter].width = width
    for cells in ws.iter_rows(min_row=3):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")

    weights = wb.create_sheet("权重")
    weights.append(["考核项", "权重"])
    for key, label in PARTS:
        weights.append([label, getattr(table.config, WEIGHT_FIELDS[key])])
    weights.append(["每条确认异常或抽查不属实扣诚信分（%）", table.config.flag_penalty * 100])
    weights.append(["说明", "总分 = Σ(权重×得分率) ÷ 有数据各项的权重之和 × 100；暂无数据的项不计入权重。"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
