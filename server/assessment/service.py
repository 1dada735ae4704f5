"""考核: one score per cadre per period, built from five parts, each explained with its numbers.

part (0–1)            how
日志完整率 diary        days with a diary entry (check-in, visit or note) / working days, capped at 1
任务完成 quota          coverage's cadre_quota: done / required, capped at 1 (nothing required → 暂无数据)
按时办结 concerns       concerns with a deadline in the period closed by that day / all due in the period
群众满意 satisfaction   ratings 满意 or 基本满意 / all ratings in the period
诚信 integrity          1 − penalty × (confirmed flags + 不属实 spot checks), floored at 0 (no visits → 暂无数据)

score = 100 × Σ(weight × part) / Σ(weight of the parts that have data): a part without data
(暂无数据) drops out and the other weights are re-normalised. Weights are set per org unit
(nearest ancestor's row, else the defaults of ``AssessmentConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, literal, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import ROLE_LABELS, OrgUnit, User
from server.accounts.service import Viewer, unit_in_scope
from server.assessment import sources
from server.assessment.models import AssessmentConfig
from server.clock import local_today, period_bounds_utc, utcnow
from server.errors import AppError
from server.integrity.service import cadres_in_unit
from server.integrity.spotcheck import check_period

NO_DATA = "暂无数据"
PARTS = (
    ("diary", "日志完整率"),
    ("quota", "任务完成"),
    ("concerns", "按时办结"),
    ("satisfaction", "群众满意"),
    ("integrity", "诚信"),
)
WEIGHT_FIELDS = {key: f"w_{key}" for key, _ in PARTS}


@dataclass
class Part:
    key: str
    label: str
    weight: float
    value: float | None  # 0..1, None = 暂无数据
    detail: str

    @property
    def shown(self) -> str:
        return NO_DATA if self.value is None else f"{self.value * 100:.1f}%"


@dataclass
class CadreScore:
    user: User
    unit: OrgUnit
    parts: list[Part] = field(default_factory=list)

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.user.role, self.user.role)  # type: ignore[call-overload]

    @property
    def counted(self) -> list[Part]:
        return [p for p in self.parts if p.value is not None and p.weight > 0]

    @property
    def score(self) -> float | None:
        total = sum(p.weight for p in self.counted)
        if not total:
            return None
        return round(100 * sum(p.weight * p.value for p in self.counted) / total, 1)  # type: ignore[operator]

    @property
    def explanation(self) -> str:
        if self.score is None:
            return "各项均暂无数据，无法计分。"
        terms = " + ".join(f"{p.label} {p.value * 100:.1f}%×{p.weight:g}" for p in self.counted)  # type: ignore[operator]
        text = f"（{terms}）÷ {sum(p.weight for p in self.counted):g} = {self.score:.1f} 分"
        missing = [p.label for p in self.parts if p.value is None and p.weight > 0]
        return text + (f"；{'、'.join(missing)}暂无数据，不计入权重" if missing else "")


@dataclass
class AssessmentTable:
    unit: OrgUnit
    first: date
    last: date
    config: AssessmentConfig
    working_days: int
    rows: list[CadreScore]


async def config_for(db: AsyncSession, unit: OrgUnit) -> AssessmentConfig:
    """The weights of the unit's own row, else of its nearest ancestor, else the defaults."""
    row = await db.scalar(
        select(AssessmentConfig)
        .join(OrgUnit, OrgUnit.id == AssessmentConfig.org_unit_id)
        .where(literal(unit.path).startswith(OrgUnit.path))
        .order_by(func.length(OrgUnit.path).desc())
        .limit(1)
    )
    return row or AssessmentConfig(org_unit_id=unit.id)  # type: ignore[arg-type]


def _ratio(num: float, den: float) -> float:
    return min(1.0, num / den)


async def assess(db: AsyncSession, viewer: Viewer, unit_id: int | None, first: date, last: date) -> AssessmentTable:
    """The assessment of every cadre and leader under the unit for local days first..last."""
    check_period(first, last)
    unit = await unit_in_scope(db, viewer, unit_id)
    config = await config_for(db, unit)
    people = await cadres_in_unit(db, unit.path)
    ids = [u.id for u, _ in people]
    # days after today have not happened yet: they count neither as working days nor as missing entries
    work_last = min(last, local_today())
    workdays = await sources.working_days(db, first, work_last) if first <= work_last else 0
    start, end = period_bounds_utc(first, last)
    days = await sources.diary_days(db, ids, start, end)  # type: ignore[arg-type]
    on_time = await sources.concerns_on_time(db, ids, first, last)  # type: ignore[arg-type]
    rated = await sources.satisfaction(db, ids, start, end)  # type: ignore[arg-type]
    honesty = await sources.integrity(db, ids, start, end)  # type: ignore[arg-type]
    rows = []
    for user, user_unit in people:
        uid: int = user.id  # type: ignore[assignment]
        weight = {key: float(getattr(config, name)) for key, name in WEIGHT_FIELDS.items()}
        parts = [
            _diary(len(days.get(uid, ())), workdays, weight["diary"]),
            _quota(await sources.quota(db, viewer, uid, first, last), weight["quota"]),
            _concerns(on_time, uid, weight["concerns"]),
            _satisfaction(rated, uid, weight["satisfaction"]),
            _integrity(honesty.get(uid) or sources.IntegrityCounts(), config.flag_penalty, weight["integrity"]),
        ]
        rows.append(CadreScore(user, user_unit, parts))
    return AssessmentTable(unit, first, last, config, workdays, rows)


def _diary(days: int, workdays: int, weight: float) -> Part:
    if workdays == 0:
        return Part("diary", "日志完整率", weight, None, "期间内没有工作日")
    return Part("diary", "日志完整率", weight, _ratio(days, workdays), f"有记录 {days} 天 / 工作日 {workdays} 天")


def _quota(result: object, weight: float) -> Part:
    required, done = getattr(result, "required", 0), getattr(result, "done", 0)
    if result is None or not required:
        return Part("quota", "任务完成", weight, None, "本期没有应完成的走访任务" if result else NO_DATA)
    met = "已达标" if getattr(result, "met", done >= required) else "未达标"
    return Part("quota", "任务完成", weight, _ratio(done, required), f"完成 {done} / 应完成 {required}，{met}")


def _concerns(on_time: dict[int, sources.OnTime] | None, uid: int, weight: float) -> Part:
    item = on_time.get(uid) if on_time is not None else None
    if item is None or not item.due:
        return Part("concerns", "按时办结", weight, None, NO_DATA if on_time is None else "本期没有到期的诉求")
    return Part(
        "concerns", "按时办结", weight, item.on_time / item.due, f"按时销号 {item.on_time} 件 / 到期 {item.due} 件"
    )


def _satisfaction(rated: dict[int, tuple[int, int]] | None, uid: int, weight: float) -> Part:
    good, total = rated.get(uid, (0, 0)) if rated is not None else (0, 0)
    if not total:
        return Part("satisfaction", "群众满意", weight, None, NO_DATA if rated is None else "本期没有群众评价")
    return Part("satisfaction", "群众满意", weight, good / total, f"满意或基本满意 {good} 条 / 评价 {total} 条")


def _integrity(counts: sources.IntegrityCounts, penalty: float, weight: float) -> Part:
    if not counts.visits:
        return Part("integrity", "诚信", weight, None, "本期没有走访记录")
    n = counts.confirmed_flags + counts.untrue_checks
    value = max(0.0, 1 - penalty * n)
    detail = (
        f"确认异常 {counts.confirmed_flags} 条 + 抽查不属实 {counts.untrue_checks} 条，"
        f"每条扣 {penalty * 100:g}%（走访 {counts.visits} 条）"
    )
    return Part("integrity", "诚信", weight, value, detail)


async def save_config(
    db: AsyncSession, viewer: Viewer, unit_id: int | None, values: dict[str, str]
) -> AssessmentConfig:
    """Set the weights of a unit in the viewer's scope (one transaction); each 0–100, not all zero."""
    unit = await unit_in_scope(db, viewer, unit_id)
    weights: dict[str, float] = {}
    for key, label in PARTS:
        try:
            weights[WEIGHT_FIELDS[key]] = float(values.get(WEIGHT_FIELDS[key], "") or 0)
        except ValueError:
            raise AppError(f"“{label}”的权重应为数字。", 400) from None
        if not (0 <= weights[WEIGHT_FIELDS[key]] <= 100):
            raise AppError(f"“{label}”的权重应在 0～100 之间。", 400)
    if not any(weights.values()):
        raise AppError("权重不能全部为 0。", 400)
    try:
        penalty = float(values.get("flag_penalty", "") or 0) / 100
    except ValueError:
        raise AppError("每条异常扣分比例应为数字，例如 20。", 400) from None
    if not (0 <= penalty <= 1):
        raise AppError("每条异常扣分比例应在 0～100% 之间。", 400)
    row = await db.scalar(select(AssessmentConfig).where(AssessmentConfig.org_unit_id == unit.id))
    if row is None:
        row = AssessmentConfig(org_unit_id=unit.id)  # type: ignore[arg-type]
        db.add(row)
    for name, value in weights.items():
        setattr(row, name, value)
    row.flag_penalty = penalty
    row.updated_by_id = viewer.id
    row.updated_at = utcnow()
    await db.commit()
    return row
