"""Two months of demo field work up to yesterday: morning check-ins, visits and the concerns they raised.

Each cadre goes out on some working days, checks in at their village, then makes 2–6 visits in time
order between 08:30 and 17:30 local time, working through their households in turn. About half the
cadres are diligent (out on 80–95 % of days, every household in turn: they meet the monthly quota);
the others go out on 45–75 % of days and leave a few households never visited. Each leader goes down
about once a week to a household or two of their contact villages. Five visits are placed 2–5 km from
their household and two report an accuracy of exactly 0, so coverage and integrity checks have
something to find.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from geopy.distance import geodesic

from server.clock import LOCAL, to_utc
from server.demo import geography as geo
from server.ledger.models import Concern, ConcernCategory, ConcernState
from server.places.models import Target
from server.visits.models import TOPICS, CheckIn, Visit, VisitType

if TYPE_CHECKING:
    from server.demo.seed import DemoBuilder, VillagePlan

FIRST_VISIT = 8 * 60 + 30
LAST_VISIT = 17 * 60 + 30
CHECKIN_RADIUS_M = 1000.0
MIN_GAP = 20  # minutes between two visits
CONCERN_RATE = 1 / 8  # share of household visits that raise a concern
HOUSEHOLD_TOPICS = tuple(t for t in TOPICS if t != "企业经营")
CONCERN_WEIGHTS = {
    ConcernCategory.problem: 35,
    ConcernCategory.request: 40,
    ConcernCategory.petition: 8,
    ConcernCategory.suggestion: 17,
}


def pk(row: Any) -> int:
    """The primary key of a flushed row."""
    assert row.id is not None
    return int(row.id)


def local_dt(day: date, minutes: int, seconds: int = 0) -> datetime:
    """Aware UTC datetime of a local (Asia/Shanghai) day plus minutes after midnight."""
    return to_utc(datetime.combine(day, time(minutes // 60, minutes % 60, seconds), tzinfo=LOCAL))


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return round(geodesic((lat1, lon1), (lat2, lon2)).meters, 1)


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def build_history(b: DemoBuilder) -> tuple[list[CheckIn], list[Visit], list[tuple[Concern, Visit]]]:
    """Check-ins, visits and (concern, visit) pairs for every cadre; nothing is added to the session."""
    rng = b.rng
    checkins: list[CheckIn] = []
    visits: list[Visit] = []
    home_visits: list[tuple[Visit, Target]] = []
    concerns: list[tuple[Concern, Visit]] = []
    workdays = [
        day for n in range((b.today - b.start).days) if (day := b.start + timedelta(days=n)).weekday() < 5
    ]

    last_evening = local_dt(b.today - timedelta(days=1), 18 * 60)  # nothing is dated after this

    def near(lat: float, lon: float, km: float) -> tuple[float, float]:
        bearing = rng.uniform(0, 2 * math.pi)
        plat, plon = geo.offset(lat, lon, km * math.cos(bearing), km * math.sin(bearing))
        return round(plat, 6), round(plon, 6)

    def visit_at(plan: VillagePlan, target: Target, at_minutes: int, day_index: int, by: Any = None) -> Visit:
        at = local_dt(workdays[day_index], at_minutes, rng.randrange(60))
        assert plan.cadre is not None and target.lat is not None and target.lon is not None
        return Visit(
            uuid=random_uuid(rng),
            user_id=pk(by or plan.cadre),
            target_id=pk(target),
            visited_at=at,
            received_at=at + timedelta(minutes=rng.randint(1, 12), seconds=rng.randrange(60)),
        )

    def place(visit: Visit, target: Target, km: float) -> None:
        assert target.lat is not None and target.lon is not None
        visit.lat, visit.lon = near(target.lat, target.lon, km)
        visit.accuracy = round(rng.uniform(4, 30), 1)
        visit.distance_m = distance_m(visit.lat, visit.lon, target.lat, target.lon)

    def household_notes(head: str, topics: list[str], visit_type: str, raises: bool) -> str:
        opening = f"电话回访{head}，" if visit_type == VisitType.phone else rng.choice(geo.NOTE_OPENINGS)
        body = "；".join(rng.choice(geo.TOPIC_PHRASES[t]) for t in topics)
        closing = geo.CONCERN_CLOSING if raises else rng.choice(geo.NOTE_CLOSINGS)
        return f"{opening.format(name=head)}{body}。{closing}"

    def concern_for(plan: VillagePlan, household: Target, visit: Visit, day_index: int) -> Concern:
        category = rng.choices(list(CONCERN_WEIGHTS), list(CONCERN_WEIGHTS.values()))[0]
        age = (b.today - workdays[day_index]).days
        if age < 7:
            state = rng.choices((ConcernState.registered, ConcernState.accepted), (6, 4))[0]
        else:
            state = rng.choices(
                (ConcernState.registered, ConcernState.accepted, ConcernState.closed), (3, 3, 4)
            )[0]
        later = {
            ConcernState.registered: 0,
            ConcernState.accepted: rng.randint(1, min(3, age)),
            ConcernState.closed: rng.randint(3, max(3, min(20, age - 1))),
        }[state]
        assert plan.cadre is not None
        return Concern(
            uuid=random_uuid(rng),
            target_id=pk(household),
            org_unit_id=pk(plan.unit),
            raised_by_id=pk(plan.cadre),
            text=rng.choice(geo.CONCERN_TEXTS[category]).format(group=household.group_name or ""),
            category=category,
            state=state,
            created_at=visit.visited_at,
            updated_at=min(
                visit.visited_at + timedelta(days=later, hours=rng.randint(0, 6) if later else 0),
                last_evening,
            ),
        )

    for plan in b.villages:
        assert plan.cadre is not None and plan.target.lat is not None and plan.target.lon is not None
        diligent = rng.random() < 0.5
        rate = rng.uniform(0.8, 0.95) if diligent else rng.uniform(0.45, 0.75)
        never = set() if diligent else set(rng.sample(range(len(plan.households)), max(2, len(plan.households) // 14)))
        pool = [h for i, h in enumerate(plan.households) if i not in never]
        queue: list[Target] = []
        enterprises = b.cadre_enterprises.get(plan.cadre.username, [])
        for day_index, day in enumerate(workdays):
            if rng.random() >= rate:
                continue
            checkin_minutes = 8 * 60 + rng.randint(0, 35)
            lat, lon = near(
                plan.target.lat,
                plan.target.lon,
                rng.uniform(1.5, 4.0) if rng.random() < 0.06 else rng.uniform(0.03, 0.35),
            )
            device_time = local_dt(day, checkin_minutes, rng.randrange(60))
            dist = distance_m(lat, lon, plan.target.lat, plan.target.lon)
            checkins.append(
                CheckIn(
                    uuid=random_uuid(rng),
                    user_id=pk(plan.cadre),
                    target_id=pk(plan.target),
                    lat=lat,
                    lon=lon,
                    accuracy=round(rng.uniform(5, 25), 1),
                    device_time=device_time,
                    received_at=device_time + timedelta(minutes=rng.randint(1, 5)),
                    distance_m=dist,
                    radius_m=CHECKIN_RADIUS_M,
                    off_site=dist > CHECKIN_RADIUS_M,
                )
            )
            n = rng.randint(2, 6)
            first = max(FIRST_VISIT, checkin_minutes + 10)
            offsets = sorted(rng.sample(range(LAST_VISIT - first - (n - 1) * MIN_GAP), n))
            enterprise_slot = rng.randrange(n) if enterprises and rng.random() < 0.15 else None
            for i, offset in enumerate(offsets):
                minutes = first + offset + i * MIN_GAP
                if i == enterprise_slot:
                    enterprise = rng.choice(enterprises)
                    visit = visit_at(plan, enterprise, minutes, day_index)
                    visit.visit_type = rng.choice((VisitType.onsite, VisitType.meeting))
                    place(visit, enterprise, rng.uniform(0.005, 0.06))
                    visit.topics = "企业经营|安全生产"
                    visit.notes = rng.choice(geo.ENTERPRISE_NOTES)
                    visits.append(visit)
                    continue
                if not queue:
                    queue = pool[:]
                    rng.shuffle(queue)
                household = queue.pop()
                visit = visit_at(plan, household, minutes, day_index)
                visit.visit_type = rng.choices(list(VisitType), (85, 5, 4, 6))[0]
                if visit.visit_type != VisitType.phone:
                    place(visit, household, min(abs(rng.gauss(0, 0.015)), 0.045))
                topics = rng.sample(HOUSEHOLD_TOPICS, rng.choices((1, 2, 3), (3, 5, 2))[0])
                visit.topics = "|".join(topics)
                raises = rng.random() < CONCERN_RATE
                visit.notes = household_notes(
                    household.head_name or household.name, topics, visit.visit_type, raises
                )
                visits.append(visit)
                if visit.visit_type == VisitType.home:
                    home_visits.append((visit, household))
                if raises:
                    concerns.append((concern_for(plan, household, visit, day_index), visit))

    for ti, leader in enumerate(b.leaders):  # 包村领导 go down too: one day in five, a household or two
        plans = [plan for plan in b.villages if plan.town == ti]
        for day_index in range(len(workdays)):
            if rng.random() >= 0.2:
                continue
            plan = rng.choice(plans)
            for k, household in enumerate(rng.sample(plan.households, rng.randint(1, 2))):
                visit = visit_at(plan, household, 14 * 60 + 60 * k + rng.randint(0, 40), day_index, by=leader)
                visit.visit_type = VisitType.home
                place(visit, household, min(abs(rng.gauss(0, 0.015)), 0.045))
                topics = rng.sample(HOUSEHOLD_TOPICS, 2)
                visit.topics = "|".join(topics)
                visit.notes = household_notes(household.head_name or household.name, topics, visit.visit_type, False)
                visits.append(visit)
    odd = rng.sample(home_visits, 7)
    for visit, household in odd[:5]:  # far from the household they claim
        place(visit, household, rng.uniform(2.0, 5.0))
    for visit, _ in odd[5:]:  # a position with an impossible accuracy
        visit.accuracy = 0.0
    return checkins, visits, concerns
