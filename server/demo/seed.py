"""Demo data: 崇阳县 with three towns, twelve villages, ~600 households, enterprises, drivers, projects,
17 users and two months of visit history. Deterministic for a given ``today`` and idempotent.

All rows are made in one transaction; everything random comes from one ``random.Random(SEED)``.
"""

from __future__ import annotations

import calendar
import json
import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import ROLE_LABELS, OrgUnit, Role, UnitKind, User
from server.accounts.service import create_unit, hash_password
from server.clock import local_today
from server.demo import geography as geo
from server.demo.history import build_history, pk
from server.ledger.models import Concern
from server.places.models import HOUSEHOLD_TAGS, Assignment, AssignmentKind, Target, TargetKind
from server.visits.models import CheckIn, Visit

SEED = 20240915
DEMO_PASSWORD = "minqing-demo"


@dataclass
class SeedSummary:
    """What the demo holds; ``logins`` = (username, role label, unit name, display name)."""

    created: bool
    towns: int = 0
    villages: int = 0
    households: int = 0
    enterprises: int = 0
    drivers: int = 0
    projects: int = 0
    users: int = 0
    assignments: int = 0
    checkins: int = 0
    visits: int = 0
    concerns: int = 0
    logins: list[tuple[str, str, str, str]] = field(default_factory=list)

    def describe(self) -> str:
        head = "演示数据已创建" if self.created else "演示数据已存在，未重复创建"
        lines = [
            f"{head}：{self.towns} 个镇、{self.villages} 个村、{self.households} 户农户、"
            f"{self.enterprises} 家企业、{self.drivers} 名货车司机、{self.projects} 个重点项目；"
            f"{self.visits} 条走访、{self.checkins} 次签到、{self.concerns} 条诉求。",
            f"登录密码均为 {DEMO_PASSWORD}：",
        ]
        lines += [f"  {u:<13} {role}  {unit}  {name}" for u, role, unit, name in self.logins]
        return "\n".join(lines)


def months_before(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


@dataclass
class VillagePlan:
    """A village as built: its unit, target, ring, households and its bao cadre."""

    town: int
    index: int  # within the town
    spec: geo.VillageSpec
    unit: OrgUnit
    target: Target
    ring: list[tuple[float, float]]
    households: list[Target] = field(default_factory=list)
    cadre: User | None = None


class DemoBuilder:
    def __init__(self, db: AsyncSession, today: date) -> None:
        self.db = db
        self.today = today
        self.start = months_before(today, 2)
        self.rng = random.Random(SEED)
        self.phones: set[str] = set()
        self.id_numbers: set[str] = set()
        self.towns: list[OrgUnit] = []
        self.villages: list[VillagePlan] = []
        self.cadres: list[list[User]] = []
        self.leaders: list[User] = []
        self.assignments: list[Assignment] = []
        self.town_drivers: list[list[Target]] = []
        self.cadre_enterprises: dict[str, list[Target]] = {}

    # --- org tree and users ---
    async def org_tree(self) -> None:
        self.county = await create_unit(self.db, geo.COUNTY_NAME, UnitKind.county, None, geo.COUNTY_CODE)
        for town in geo.TOWNS:
            self.towns.append(await create_unit(self.db, town.name, UnitKind.town, self.county, town.slug))
        name, code = geo.TRANSPORT_BUREAU
        self.bureau = await create_unit(self.db, name, UnitKind.bureau, self.county, code)
        name, code = geo.SUPERVISION_BUREAU
        await create_unit(self.db, name, UnitKind.bureau, self.county, code)
        self.village_units = [
            [
                await create_unit(self.db, v.name, UnitKind.village, unit, f"{town.slug}-{v.slug}")
                for v in town.villages
            ]
            for town, unit in zip(geo.TOWNS, self.towns, strict=True)
        ]

    def users(self) -> None:
        pw = hash_password(DEMO_PASSWORD)  # argon2 is slow: one hash shared by every demo account

        def user(login: tuple[str, str], role: Role, unit: OrgUnit) -> User:
            u = User(
                username=login[0], display_name=login[1], role=role, org_unit_id=pk(unit), password_hash=pw
            )
            self.db.add(u)
            return u

        user(geo.ADMIN, Role.admin, self.county)
        user(geo.SUPERVISOR, Role.supervisor, self.county)  # county level: sees the whole county
        self.leaders = [
            user(login, Role.leader, town) for login, town in zip(geo.LEADERS, self.towns, strict=True)
        ]
        self.cadres = [
            [user(login, Role.cadre, town) for login in logins]
            for logins, town in zip(geo.CADRES, self.towns, strict=True)
        ]

    def assign(self, user: User, target: Target, kind: AssignmentKind = AssignmentKind.bao) -> None:
        self.assignments.append(
            Assignment(user_id=pk(user), target_id=pk(target), kind=kind, start_date=self.start)
        )

    # --- places ---
    async def villages_and_households(self) -> None:
        for ti, town in enumerate(geo.TOWNS):
            for vi, spec in enumerate(town.villages):
                lat, lon = (round(x, 6) for x in geo.offset(town.lat, town.lon, spec.east_km, spec.north_km))
                ring = geo.irregular_ring(self.rng, lat, lon, spec.radius_km)
                target = Target(
                    kind=TargetKind.village,
                    code=f"v-{town.slug}-{vi + 1:02d}",
                    name=spec.name,
                    org_unit_id=pk(self.village_units[ti][vi]),
                    lat=lat,
                    lon=lon,
                    boundary=json.dumps({"type": "Polygon", "coordinates": [[list(p) for p in ring]]}),
                    groups=",".join(f"{geo.CN_NUMERALS[g]}组" for g in range(spec.groups)),
                )
                self.villages.append(VillagePlan(ti, vi, spec, self.village_units[ti][vi], target, ring))
        self.db.add_all([v.target for v in self.villages])
        await self.db.flush()
        for plan in self.villages:
            self.households(plan)
        self.db.add_all([h for v in self.villages for h in v.households])
        await self.db.flush()

    def person_name(self, surnames: tuple[str, ...], male: bool) -> str:
        surname = self.rng.choice(surnames) if self.rng.random() < 0.55 else self.rng.choice(geo.SURNAMES)
        first, second = geo.MALE_CHARS if male else geo.FEMALE_CHARS
        if self.rng.random() < 0.12:
            return surname + self.rng.choice(second)
        return surname + self.rng.choice(first) + self.rng.choice(second)

    def phone(self) -> str:
        while True:
            number = self.rng.choice(geo.MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def id_number(self, birth: date, male: bool) -> str:
        while True:
            seq = self.rng.randrange(50) * 20 + self.rng.randrange(5) * 2 + (1 if male else 0)
            body = f"{geo.ID_AREA_CODE}{birth:%Y%m%d}{seq:03d}"
            number = body + geo.id_check_digit(body)
            if number not in self.id_numbers:
                self.id_numbers.add(number)
                return number

    def households(self, plan: VillagePlan) -> None:
        town, spec = geo.TOWNS[plan.town], plan.spec
        lat, lon = plan.target.lat or 0.0, plan.target.lon or 0.0
        dominant = tuple(self.rng.sample(geo.SURNAMES[:16], 2))
        centres = [geo.random_point_in(self.rng, plan.ring, lat, lon, 0.7) for _ in range(spec.groups)]
        weights = [self.rng.uniform(0.6, 1.4) for _ in range(spec.groups)]
        doors = [0] * spec.groups
        for n in range(spec.households):
            g = self.rng.choices(range(spec.groups), weights)[0]
            doors[g] += 1
            group = f"{geo.CN_NUMERALS[g]}组"
            tags = (
                self.rng.sample(HOUSEHOLD_TAGS, self.rng.choice((1, 1, 1, 2)))
                if self.rng.random() < 0.2
                else []
            )
            alone = "独居老人" in tags or "五保" in tags
            male = self.rng.random() < (0.6 if alone else 0.82)
            age = (
                self.rng.randint(62, 88)
                if alone
                else self.rng.choice((self.rng.randint(28, 60), self.rng.randint(45, 82)))
            )
            birth = self.today - timedelta(days=age * 365 + self.rng.randrange(365))
            members = 1 if alone else self.rng.choices(range(1, 8), (5, 20, 20, 23, 16, 10, 6))[0]
            head = self.person_name(dominant, male)
            hlat, hlon = geo.random_point_in(
                self.rng, plan.ring, lat, lon, 0.92, near=centres[g], sigma_km=0.18
            )
            plan.households.append(
                Target(
                    kind=TargetKind.household,
                    code=f"h-{town.slug}-{plan.target.code[-2:]}-{n + 1:03d}",
                    name=head,
                    org_unit_id=pk(plan.unit),
                    village_id=pk(plan.target),
                    lat=hlat,
                    lon=hlon,
                    head_name=head,
                    group_name=group,
                    members=members,
                    phone=self.phone(),
                    id_number=self.id_number(birth, male),
                    address=f"{town.name}{plan.target.name}{group}{doors[g]}号",
                    tags=",".join(t for t in HOUSEHOLD_TAGS if t in tags) or None,
                )
            )

    async def other_targets(self) -> None:
        """Enterprises, drivers and projects, and the assignments of everything."""
        extra: list[Target] = []
        enterprise_owner: list[tuple[Target, User | None]] = []
        for ti, town in enumerate(geo.TOWNS):
            plans = [v for v in self.villages if v.town == ti]
            for k, spec in enumerate(geo.ENTERPRISES[ti]):
                if spec.village is not None:
                    plan = plans[spec.village]
                    lat, lon = geo.random_point_in(
                        self.rng, plan.ring, plan.target.lat or 0, plan.target.lon or 0, 0.5
                    )
                    unit_id, village_id, owner = pk(plan.unit), pk(plan.target), plan.cadre
                else:
                    angle, dist = self.rng.uniform(0, 2 * math.pi), self.rng.uniform(0.4, 2.0)
                    lat, lon = geo.offset(town.lat, town.lon, dist * math.cos(angle), dist * math.sin(angle))
                    unit_id, village_id, owner = pk(self.towns[ti]), None, self.cadres[ti][k % 4]
                target = Target(
                    kind=TargetKind.enterprise,
                    code=f"e-{ti * 10 + k + 1:02d}",
                    name=spec.name,
                    org_unit_id=unit_id,
                    village_id=village_id,
                    lat=round(lat, 6),
                    lon=round(lon, 6),
                    industry=spec.industry,
                    is_key=spec.is_key,
                    is_transport=spec.is_transport,
                )
                extra.append(target)
                enterprise_owner.append((target, owner if spec.assigned else None))
            drivers = []
            for k, name in enumerate(geo.DRIVERS[ti]):
                angle, dist = self.rng.uniform(0, 2 * math.pi), self.rng.uniform(0.3, 2.5)
                lat, lon = geo.offset(town.lat, town.lon, dist * math.cos(angle), dist * math.sin(angle))
                letter = self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
                digits = f"{self.rng.randrange(10000):04d}"
                plate = letter + digits if self.rng.random() < 0.7 else digits[:2] + letter + digits[2:]
                drivers.append(
                    Target(
                        kind=TargetKind.driver,
                        code=f"d-{ti * 5 + k + 1:02d}",
                        name=name,
                        org_unit_id=pk(self.bureau),
                        lat=round(lat, 6),
                        lon=round(lon, 6),
                        plate=f"{geo.PLATE_PREFIX}·{plate}",
                        phone=self.phone(),
                    )
                )
            extra += drivers
            self.town_drivers.append(drivers)
        projects = []
        for k, (name, ti, east, north) in enumerate(geo.PROJECTS):
            lat, lon = geo.offset(geo.TOWNS[ti].lat, geo.TOWNS[ti].lon, east, north)
            projects.append(
                Target(
                    kind=TargetKind.project,
                    code=f"p-{k + 1:02d}",
                    name=name,
                    org_unit_id=pk(self.towns[ti]),
                    lat=round(lat, 6),
                    lon=round(lon, 6),
                )
            )
        self.db.add_all(extra + projects)
        await self.db.flush()
        for target, owner in enterprise_owner:
            if owner is not None:
                self.assign(owner, target)
                self.cadre_enterprises.setdefault(owner.username, []).append(target)
        for ti, leader in enumerate(self.leaders):
            drivers = self.town_drivers[ti]
            for d in drivers[:3]:
                self.assign(leader, d, AssignmentKind.lian)
            self.assign(self.cadres[ti][1], drivers[3], AssignmentKind.lian)
            self.assign(self.cadres[ti][3], drivers[4], AssignmentKind.lian)
            self.assign(leader, projects[ti], AssignmentKind.lian)

    def village_assignments(self) -> None:
        for plan in self.villages:  # village k of a town goes to that town's cadre k
            plan.cadre = self.cadres[plan.town][plan.index]
            self.assign(plan.cadre, plan.target)
            self.assign(self.leaders[plan.town], plan.target, AssignmentKind.lian)
            for household in plan.households:
                self.assign(plan.cadre, household)

    async def run(self) -> None:
        await self.org_tree()
        self.users()
        await self.db.flush()
        await self.villages_and_households()
        self.village_assignments()
        await self.other_targets()
        self.db.add_all(self.assignments)
        checkins, visits, concerns = build_history(self)
        self.db.add_all(checkins)
        self.db.add_all(visits)
        await self.db.flush()
        for concern, visit in concerns:
            concern.visit_id = visit.id
        self.db.add_all([c for c, _ in concerns])


async def seed_demo(db: AsyncSession, *, today: date | None = None) -> SeedSummary:
    """Create the demo county in one transaction, or report the one already there."""
    county = await db.scalar(select(OrgUnit).where(OrgUnit.code == geo.COUNTY_CODE))
    if county is not None:
        return await summarize(db, county, created=False)
    builder = DemoBuilder(db, today or local_today())
    await builder.run()
    from server.coverage.seed import add_default_campaign  # the coverage capability owns campaigns

    await add_default_campaign(db, builder.county, builder.start)
    await db.commit()
    return await summarize(db, builder.county, created=True)


async def summarize(db: AsyncSession, county: OrgUnit, *, created: bool) -> SeedSummary:
    in_county = col(OrgUnit.path).startswith(county.path)
    units = select(OrgUnit.id).where(in_county)
    unit_kinds = dict(
        (await db.execute(select(OrgUnit.kind, func.count()).where(in_county).group_by(OrgUnit.kind))).all()
    )
    target_kinds = dict(
        (
            await db.execute(
                select(Target.kind, func.count())
                .where(col(Target.org_unit_id).in_(units))
                .group_by(Target.kind)
            )
        ).all()
    )
    rows = (
        await db.execute(
            select(User, OrgUnit)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(in_county)
            .order_by(User.id)
        )
    ).all()
    user_ids = [u.id for u, _ in rows]

    async def count(model: type, column: object) -> int:
        return int(
            await db.scalar(select(func.count()).select_from(model).where(col(column).in_(user_ids))) or 0
        )

    return SeedSummary(
        created=created,
        towns=unit_kinds.get(UnitKind.town, 0),
        villages=target_kinds.get(TargetKind.village, 0),
        households=target_kinds.get(TargetKind.household, 0),
        enterprises=target_kinds.get(TargetKind.enterprise, 0),
        drivers=target_kinds.get(TargetKind.driver, 0),
        projects=target_kinds.get(TargetKind.project, 0),
        users=len(rows),
        assignments=await count(Assignment, Assignment.user_id),
        checkins=await count(CheckIn, CheckIn.user_id),
        visits=await count(Visit, Visit.user_id),
        concerns=await count(Concern, Concern.raised_by_id),
        logins=[(u.username, ROLE_LABELS[Role(u.role)], unit.name, u.display_name) for u, unit in rows],
    )
