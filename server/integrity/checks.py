"""The anti-formalism checks (防形式主义). Each returns findings explained in Chinese with the numbers behind them.

Checks look only backwards in time or at rows recorded earlier, so the flags a visit gets when it is
recorded are the same it gets from a later re-scan (``python -m server integrity-scan``):
- speed: the leg from the cadre's previous visit (by visit time) into this one;
- burst: visits of the cadre in the window ending at this one;
- photo reuse: photos of visits recorded earlier (smaller id) than this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, literal_column, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import User
from server.clock import fmt_local, to_utc
from server.config import Settings
from server.geo import APPROX_ERROR, approx_distance_m, distance_m
from server.integrity.models import FlagCode, Severity
from server.media import hamming
from server.places.models import TARGET_KIND_LABELS, Target
from server.visits.models import CheckIn, Photo, Visit, VisitPhoto
from server.web import fmt_distance

REUSE_MAX_BITS = 3  # hamming distance of 64-bit dHashes that still counts as "the same picture"
DHASH_CHUNKS = 4  # pigeonhole: distance ≤ 3 ⇒ one of 4 × 16-bit chunks is equal (indexes in the migration)
FEATURELESS_BITS = 2  # dHash with ≤ 2 or ≥ 62 bits set: a blank picture, not matched (it would match them all)
EXIF_TIME_TOLERANCE = timedelta(hours=2)
EXIF_GPS_TOLERANCE_M = 500.0
MAX_SPEED_KMH = 120.0
MIN_LEG_M = 1000.0  # shorter legs are within GPS noise and walking distance
BURST_WINDOW = timedelta(minutes=30)
BURST_COUNT = 4  # this many field visits within the window
PERFECT_ACCURACY_M = 1.0
FIELD_TYPES = ("home", "meeting", "onsite")  # 电话回访 needs no presence


@dataclass(frozen=True)
class Finding:
    code: FlagCode
    severity: Severity
    message: str


def _hm(value: datetime) -> str:
    return fmt_local(value, "%m-%d %H:%M")


def _minutes(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} 分钟"
    return f"{minutes / 60:.1f}".removesuffix(".0") + " 小时"


def far_finding(distance: float | None, radius: float, kind: str, what: str) -> Finding | None:
    """Farther than the allowed radius for the target's kind (a radius of 0 means: not checked)."""
    if distance is None or radius <= 0 or distance <= radius:
        return None
    label = TARGET_KIND_LABELS.get(kind, kind)  # type: ignore[call-overload]
    severity = Severity.high if distance > 5 * radius else Severity.medium
    return Finding(
        FlagCode.far_from_target,
        severity,
        f"{what}定位距{label}位置 {fmt_distance(distance)}，超出允许范围 {fmt_distance(radius)}。",
    )


def accuracy_reasons(accuracy: float | None) -> list[str]:
    if accuracy is None:
        return []
    if accuracy == 0:
        return ["定位精度为 0 米：真实卫星定位总有误差，疑似使用了模拟定位软件"]
    if accuracy < PERFECT_ACCURACY_M:
        return [f"定位精度 {accuracy:.2f} 米，小于 {PERFECT_ACCURACY_M:.0f} 米，精度过于完美"]
    return []


def mock_finding(reasons: list[str]) -> Finding | None:
    if not reasons:
        return None
    return Finding(FlagCode.mock_location, Severity.high, "；".join(reasons) + "。")


async def checkin_findings(checkin: CheckIn, target: Target) -> list[Finding]:
    found = [
        far_finding(checkin.distance_m, checkin.radius_m or 0.0, target.kind, "签到"),
        mock_finding(accuracy_reasons(checkin.accuracy)),
    ]
    return [f for f in found if f is not None]


@dataclass
class Evidence:
    """What the checks compare a visit with, loaded once: its arrived photos in order and how many it links,
    the cadre's other field visits the checks may look at (``earlier``; each check picks its own rows, so
    extra rows change nothing), and (dHash, visit, author) rows of photos that may look alike."""

    photos: list[Photo]
    links: int
    earlier: list[Visit] = field(default_factory=list)
    look_alikes: list[tuple[str, Visit, str]] = field(default_factory=list)


async def visit_findings(db: AsyncSession, visit: Visit, target: Target, settings: Settings) -> list[Finding]:
    """Every check that applies to this visit (field checks only for visits that claim presence)."""
    return findings_from(visit, target, settings, await load_evidence(db, visit))


def findings_from(visit: Visit, target: Target, settings: Settings, evidence: Evidence) -> list[Finding]:
    """The checks on loaded evidence (no database): the single-visit and the batch path both end here."""
    found: list[Finding | None] = []
    if visit.visit_type in FIELD_TYPES:
        radius = settings.checkin_radius_m.get(target.kind, 1000.0)
        found.append(far_finding(visit.distance_m, radius, target.kind, "走访"))
        if visit.lat is None or visit.lon is None:
            found.append(Finding(FlagCode.no_gps, Severity.medium, "实地走访没有定位信息，无法确认是否到达现场。"))
        if evidence.links == 0:
            found.append(Finding(FlagCode.no_photo, Severity.low, "实地走访没有上传任何照片，缺少现场佐证。"))
        found.append(mock_finding(accuracy_reasons(visit.accuracy) + same_coords_reasons(visit, evidence.earlier)))
        found.append(speed_finding(visit, evidence.earlier))
        found.append(burst_finding(visit, evidence.earlier))
    found.append(_exif_time(visit, evidence.photos))
    found.append(_exif_gps(visit, target, evidence.photos))
    found.append(reuse_finding(visit, evidence.photos, evidence.look_alikes))
    return [f for f in found if f is not None]


async def load_evidence(db: AsyncSession, visit: Visit) -> Evidence:
    """One visit's evidence: a few narrow queries (the batch path loads the same for many visits at once)."""
    photos, links = await _photos(db, visit.id)  # type: ignore[arg-type]
    evidence = Evidence(photos, links)
    if visit.visit_type in FIELD_TYPES:
        rows = [await _same_coords_twin(db, visit), await _previous(db, visit), *await _burst_rows(db, visit)]
        evidence.earlier = list({r.id: r for r in rows if r is not None}.values())
    for photo in photos:
        if usable_dhash(photo.dhash):
            rows = await db.execute(near_duplicates(photo.dhash, visit.id))  # type: ignore[arg-type]
            evidence.look_alikes.extend(tuple(r) for r in rows.all())  # type: ignore[misc]
    return evidence


async def _photos(db: AsyncSession, visit_id: int) -> tuple[list[Photo], int]:
    """The visit's arrived photos in order, and how many photos it links (arrived or still uploading)."""
    links = (
        await db.scalars(select(VisitPhoto).where(VisitPhoto.visit_id == visit_id).order_by(VisitPhoto.position))
    ).all()
    uuids = [link.photo_uuid for link in links]
    if not uuids:
        return [], 0
    rows = {p.uuid: p for p in await db.scalars(select(Photo).where(Photo.uuid.in_(uuids)))}  # type: ignore[attr-defined]
    return [rows[u] for u in uuids if u in rows], len(uuids)


def _field_visits_of(visit: Visit):  # type: ignore[no-untyped-def]
    return select(Visit).where(
        Visit.user_id == visit.user_id,
        Visit.id != visit.id,
        Visit.visit_type.in_(FIELD_TYPES),  # type: ignore[attr-defined]
    )


def _before(visit: Visit):  # type: ignore[no-untyped-def]
    """Visits earlier than this one by visit time (ties: recorded earlier), as record time sees them."""
    return or_(
        Visit.visited_at < visit.visited_at,
        and_(Visit.visited_at == visit.visited_at, Visit.id < visit.id),  # type: ignore[operator]
    )


def is_before(other: Visit, visit: Visit) -> bool:
    """``_before`` in Python."""
    mine, theirs = to_utc(visit.visited_at), to_utc(other.visited_at)
    return theirs < mine or (theirs == mine and other.id < visit.id)  # type: ignore[operator]


def _field_others(visit: Visit, rows: list[Visit]) -> list[Visit]:
    """``_field_visits_of`` in Python."""
    return [r for r in rows if r.user_id == visit.user_id and r.id != visit.id and r.visit_type in FIELD_TYPES]


async def _same_coords_twin(db: AsyncSession, visit: Visit) -> Visit | None:
    if visit.lat is None or visit.lon is None:
        return None
    return await db.scalar(
        _field_visits_of(visit)
        .where(Visit.id < visit.id, Visit.lat == visit.lat, Visit.lon == visit.lon, Visit.target_id != visit.target_id)
        .order_by(Visit.id.desc())  # type: ignore[union-attr]
        .limit(1)
    )


def same_coords_reasons(visit: Visit, rows: list[Visit]) -> list[str]:
    """Exactly the same coordinates as an earlier visit of the same cadre to another target."""
    if visit.lat is None or visit.lon is None:
        return []
    twins = [
        r
        for r in _field_others(visit, rows)
        if r.id < visit.id and r.lat == visit.lat and r.lon == visit.lon and r.target_id != visit.target_id  # type: ignore[operator]
    ]
    if not twins:
        return []
    twin = max(twins, key=lambda r: r.id)  # type: ignore[arg-type, return-value]
    return [
        f"定位坐标（{visit.lat:.6f}, {visit.lon:.6f}）与走访 #{twin.id}（{_hm(twin.visited_at)}）完全相同，"
        "但走访对象不同，真实定位不会完全重合"
    ]


async def _previous(db: AsyncSession, visit: Visit) -> Visit | None:
    if visit.lat is None or visit.lon is None:
        return None
    return await db.scalar(
        _field_visits_of(visit)
        .where(
            Visit.lat.is_not(None),  # type: ignore[union-attr]
            _before(visit),
        )
        .order_by(Visit.visited_at.desc(), Visit.id.desc())  # type: ignore[attr-defined, union-attr]
        .limit(1)
    )


def speed_finding(visit: Visit, rows: list[Visit]) -> Finding | None:
    """The leg from the cadre's previous located field visit into this one, faster than MAX_SPEED_KMH."""
    if visit.lat is None or visit.lon is None:
        return None
    located = [r for r in _field_others(visit, rows) if r.lat is not None and r.lon is not None and is_before(r, visit)]
    if not located:
        return None
    prev = max(located, key=lambda r: (to_utc(r.visited_at), r.id))
    assert prev.lat is not None and prev.lon is not None
    gap = to_utc(visit.visited_at) - to_utc(prev.visited_at)
    hours = gap.total_seconds() / 3600
    at_most = approx_distance_m(prev.lat, prev.lon, visit.lat, visit.lon) * (1 + APPROX_ERROR)
    if at_most < MIN_LEG_M or (hours > 0 and at_most / 1000 / hours <= MAX_SPEED_KMH):
        return None  # clearly a short or slow leg: the exact distance could not change that
    meters = distance_m(prev.lat, prev.lon, visit.lat, visit.lon)
    if meters < MIN_LEG_M or (hours > 0 and meters / 1000 / hours <= MAX_SPEED_KMH):
        return None
    speed = "时间完全相同" if hours <= 0 else f"折合 {meters / 1000 / hours:.0f} 公里/小时"
    return Finding(
        FlagCode.too_fast,
        Severity.high,
        f"与上一条走访 #{prev.id}（{_hm(prev.visited_at)}）相距 {fmt_distance(meters)}，只隔 {_minutes(gap)}，"
        f"{speed}，超过合理速度 {MAX_SPEED_KMH:.0f} 公里/小时。",
    )


async def _burst_rows(db: AsyncSession, visit: Visit) -> list[Visit]:
    start = to_utc(visit.visited_at) - BURST_WINDOW
    return list(await db.scalars(_field_visits_of(visit).where(Visit.visited_at >= start, _before(visit))))


def burst_finding(visit: Visit, rows: list[Visit]) -> Finding | None:
    """Many field visits of the cadre within BURST_WINDOW ending at this one."""
    start = to_utc(visit.visited_at) - BURST_WINDOW
    window = [
        to_utc(r.visited_at)
        for r in _field_others(visit, rows)
        if to_utc(r.visited_at) >= start and is_before(r, visit)
    ]
    count = len(window) + 1
    if count < BURST_COUNT:
        return None
    first = min(window)
    span = to_utc(visit.visited_at) - first
    each = span / (count - 1)
    return Finding(
        FlagCode.burst,
        Severity.medium,
        f"{_minutes(BURST_WINDOW)}内登记了 {count} 次实地走访（{_hm(first)}–{fmt_local(visit.visited_at, '%H:%M')}），"
        f"平均每次间隔 {_minutes(each)}，少于实际入户所需时间。",
    )


def _exif_time(visit: Visit, photos: list[Photo]) -> Finding | None:
    timed = [(p, abs(to_utc(p.exif_time) - to_utc(visit.visited_at))) for p in photos if p.exif_time is not None]
    off = [(p, gap) for p, gap in timed if gap > EXIF_TIME_TOLERANCE]
    if not off:
        return None
    photo, gap = max(off, key=lambda item: item[1])
    assert photo.exif_time is not None
    return Finding(
        FlagCode.exif_time,
        Severity.medium,
        f"{len(photos)} 张照片中 {len(off)} 张的拍摄时间与走访时间不符：照片拍摄于 {fmt_local(photo.exif_time)}，"
        f"走访时间 {fmt_local(visit.visited_at)}，相差 {_minutes(gap)}（允许 {_minutes(EXIF_TIME_TOLERANCE)}）。",
    )


def _exif_gps(visit: Visit, target: Target, photos: list[Photo]) -> Finding | None:
    if visit.lat is not None and visit.lon is not None:
        ref, what = (visit.lat, visit.lon), "走访定位"
    elif target.lat is not None and target.lon is not None:
        ref, what = (target.lat, target.lon), "走访对象位置"
    else:
        return None
    placed = [
        (p, distance_m(p.exif_lat, p.exif_lon, *ref))
        for p in photos
        if p.exif_lat is not None and p.exif_lon is not None
    ]
    off = [(p, d) for p, d in placed if d > EXIF_GPS_TOLERANCE_M]
    if not off:
        return None
    worst = max(d for _, d in off)
    return Finding(
        FlagCode.exif_gps,
        Severity.high,
        f"{len(photos)} 张照片中 {len(off)} 张的拍摄地点距{what} {fmt_distance(worst)}"
        f"（允许 {fmt_distance(EXIF_GPS_TOLERANCE_M)}），照片可能不是在现场拍摄的。",
    )


def dhash_chunks(dhash: str) -> list[str]:
    size = len(dhash) // DHASH_CHUNKS
    return [dhash[k * size : (k + 1) * size] for k in range(DHASH_CHUNKS)]


def featureless(dhash: str) -> bool:
    bits = int(dhash, 16).bit_count()
    return bits <= FEATURELESS_BITS or bits >= 64 - FEATURELESS_BITS


def near_duplicates(dhash: str, before_visit_id: int) -> Select:  # type: ignore[type-arg]
    """Photos of visits recorded before this one that share at least one 16-bit chunk with ``dhash``.

    The positions are literal so SQLite and PostgreSQL use the expression indexes ``substr(dhash, 1+4k, 4)``.
    """
    same_chunk = or_(
        *(
            literal_column(f"substr(photo.dhash, {1 + 4 * k}, 4)") == chunk
            for k, chunk in enumerate(dhash_chunks(dhash))
        )
    )
    return look_alike_rows(same_chunk, before_visit_id)


def look_alike_rows(same_chunk: Any, before_visit_id: int) -> Select:  # type: ignore[type-arg]
    """(dHash, visit, author) of photos matching ``same_chunk`` on visits recorded before ``before_visit_id``."""
    return (
        select(Photo.dhash, Visit, User.display_name)
        .join(VisitPhoto, VisitPhoto.photo_uuid == Photo.uuid)
        .join(Visit, Visit.id == VisitPhoto.visit_id)
        .join(User, User.id == Visit.user_id)
        .where(same_chunk, Visit.id < before_visit_id)
    )


def usable_dhash(dhash: str | None) -> bool:
    return bool(dhash) and len(dhash) == 16 and not featureless(dhash)  # type: ignore[arg-type]


def reuse_finding(visit: Visit, photos: list[Photo], rows: list[tuple[str, Visit, str]]) -> Finding | None:
    """A photo of this visit (nearly) equal to a photo of a visit recorded earlier (``rows``: candidates)."""
    best: tuple[int, int, int, Visit, str] | None = None  # (bits, position, -visit id, visit, author)
    for position, photo in enumerate(photos, start=1):
        if not usable_dhash(photo.dhash):
            continue
        for other_hash, other, author in rows:
            if other.id >= visit.id:  # type: ignore[operator]
                continue
            bits = hamming(photo.dhash, other_hash)  # type: ignore[arg-type]
            if bits <= REUSE_MAX_BITS and (best is None or (bits, position, -other.id) < best[:3]):  # type: ignore[operator]
                best = (bits, position, -other.id, other, author)  # type: ignore[operator]
    if best is None:
        return None
    bits, position, _, other, author = best
    return Finding(
        FlagCode.photo_reused,
        Severity.high,
        f"第 {position} 张照片与走访 #{other.id}（{author}，{fmt_local(other.visited_at)}）的照片"
        f"{'完全相同' if bits == 0 else '几乎相同'}（64 位感知哈希相差 {bits} 位，阈值 {REUSE_MAX_BITS} 位），"
        "疑似重复使用旧照片。",
    )
