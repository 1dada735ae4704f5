"""Demo photos: a synthetic village scene for each recent demo field visit, so visit pages show pictures
and the review queue is not full of "无照片" flags.

Each picture is drawn with Pillow from a ``random.Random`` seeded by the visit uuid (sky, hills, ground,
one or two houses with a door and windows, trees), then goes through the app's real pipeline:
``media.process_photo`` → ``media.store_photo`` → ``visits.photos.photo_row``. Photo uuids are uuid5 of
the visit uuid, and visits that already link a photo are skipped, so running it again adds nothing.

One pair of visits by the same cadre on different days deliberately shares one picture (the later visit
is drawn from the earlier visit's seed), so the anti-formalism scan has a "照片疑似重复使用" to show.
"""

from __future__ import annotations

import io
import random
import uuid
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from server import media
from server.accounts.models import OrgUnit, User
from server.accounts.service import viewer_of
from server.clock import local_day, period_bounds_utc
from server.demo import geography as geo
from server.integrity.checks import FIELD_TYPES
from server.places.models import Target
from server.visits.models import Visit, VisitPhoto
from server.visits.photos import photo_row

RECENT_DAYS = 21  # field visits of the last three weeks before ``today`` get a picture
WIDTH, HEIGHT = 800, 600
PHOTO_NAMESPACE = uuid.UUID("6f1c0c2e-5d43-4a8e-9a3b-2f6d7e1c9b54")  # demo photo uuid = uuid5(this, visit uuid)

Colour = tuple[int, int, int]


def photo_uuid_for(visit_uuid: str) -> str:
    """The demo photo uuid of a visit (deterministic)."""
    return str(uuid.uuid5(PHOTO_NAMESPACE, visit_uuid))


def _jitter(rng: random.Random, base: Colour, spread: int) -> Colour:
    r, g, b = (max(0, min(255, c + rng.randint(-spread, spread))) for c in base)
    return r, g, b


def _gradient(rng: random.Random, size: tuple[int, int], corners: list[Colour]) -> Image.Image:
    """A smooth four-corner gradient, tilted differently every time: a 2×2 image scaled to an eighth of
    ``size``, then blown up without filtering (5× cheaper than one bilinear pass; steps of ~2 levels)."""
    small = Image.new("RGB", (2, 2))
    small.putdata([_jitter(rng, c, 25) for c in corners])
    coarse = small.resize((max(2, size[0] // 8), max(2, size[1] // 8)), Image.Resampling.BILINEAR)
    return coarse.resize(size, Image.Resampling.NEAREST)


def draw_scene(seed: str) -> bytes:
    """An 800×600 JPEG of a village scene; the same seed always gives the same picture."""
    rng = random.Random(seed)
    horizon = rng.randint(HEIGHT * 2 // 5, HEIGHT * 3 // 5)
    sky_top, sky_low = (70, 130, 200), (190, 215, 235)
    bright_left = rng.random() < 0.5  # where the sun is: the sky rows of the dHash differ too
    sky = [sky_low, sky_top] if bright_left else [sky_top, sky_low]
    im = Image.new("RGB", (WIDTH, HEIGHT))
    im.paste(_gradient(rng, (WIDTH, horizon), [*sky, (200, 220, 235), (160, 190, 220)]))
    draw = ImageDraw.Draw(im)
    sun_x, sun_r = rng.randint(0, WIDTH // 3) + (0 if bright_left else WIDTH * 2 // 3), rng.randint(25, 45)
    sun_y = rng.randint(sun_r, horizon // 2)
    draw.ellipse((sun_x - sun_r, sun_y - sun_r, sun_x + sun_r, sun_y + sun_r), fill=(255, 246, 215))
    for _ in range(rng.randint(3, 6)):  # clouds
        x, y, w = rng.randint(-60, WIDTH), rng.randint(0, horizon - 60), rng.randint(80, 260)
        draw.ellipse((x, y, x + w, y + w // 3), fill=_jitter(rng, (240, 242, 246), 12))
    ridge = [(x, horizon - rng.randint(20, 140)) for x in range(0, WIDTH + 100, rng.randint(70, 160))]
    draw.polygon([(0, horizon), *ridge, (WIDTH, horizon)], fill=_jitter(rng, (80, 120, 90), 25))  # hills
    soil = [(110, 150, 70), (120, 140, 80), (90, 110, 60), (100, 90, 60)]
    rng.shuffle(soil)
    ground = _gradient(rng, (WIDTH, HEIGHT - horizon), soil)
    im.paste(ground, (0, horizon))
    for _ in range(rng.randint(2, 4)):  # fields: paddy, rapeseed, tea, bare soil
        x, y = rng.randint(-100, WIDTH - 100), rng.randint(horizon, HEIGHT - 60)
        w, h, lean = rng.randint(150, 400), rng.randint(40, 160), rng.randint(-80, 80)
        crop = rng.choice([(90, 160, 60), (220, 200, 60), (60, 110, 50), (150, 110, 70)])
        draw.polygon([(x, y), (x + w, y), (x + w + lean, y + h), (x + lean, y + h)], fill=_jitter(rng, crop, 20))
    for _ in range(rng.randint(3, 7)):  # bushes, haystacks, rocks
        x, y, size = rng.randint(0, WIDTH), rng.randint(horizon, HEIGHT), rng.randint(30, 110)
        thing = rng.choice([(40, 90, 40), (200, 170, 90), (130, 130, 125), (70, 60, 45)])
        draw.ellipse((x - size, y - size // 2, x + size, y + size // 2), fill=_jitter(rng, thing, 20))
    left, apex = rng.randint(-200, 550), rng.randint(150, 650)  # a path into the village: dirt, concrete, tar, mud
    path = rng.choice([(170, 150, 120), (190, 190, 185), (70, 70, 75), (110, 85, 60)])
    draw.polygon([(apex, horizon), (left, HEIGHT), (left + rng.randint(150, 450), HEIGHT)], fill=_jitter(rng, path, 20))
    for _ in range(rng.randint(1, 4)):  # trees
        x, h = rng.randint(0, WIDTH), rng.randint(80, 200)
        draw.rectangle((x - 6, horizon - h // 3, x + 6, horizon + 20), fill=(90, 60, 40))
        draw.ellipse((x - h // 3, horizon - h, x + h // 3, horizon - h // 4), fill=_jitter(rng, (50, 110, 50), 25))
    for k in range(rng.randint(1, 2)):
        _house(rng, draw, horizon, left=k == 0)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85)
    return out.getvalue()


def _house(rng: random.Random, draw: ImageDraw.ImageDraw, horizon: int, left: bool) -> None:
    """A house with a pitched roof, a door and one to three windows, on the left or right half."""
    w, h = rng.randint(160, 280), rng.randint(110, 180)
    x = rng.randint(10, WIDTH // 2 - w) if left else rng.randint(WIDTH // 2, WIDTH - w - 10)
    base = horizon + rng.randint(30, 120)
    wall = rng.choice([(235, 230, 215), (200, 170, 140), (220, 200, 180), (180, 185, 190), (240, 220, 190)])
    draw.rectangle((x, base - h, x + w, base), fill=_jitter(rng, wall, 15))
    roof = rng.choice([(140, 50, 40), (60, 60, 70), (90, 100, 120), (150, 90, 50)])
    eave = rng.randint(10, 30)
    peak = (x + w // 2 + rng.randint(-30, 30), base - h - rng.randint(50, 100))
    draw.polygon([(x - eave, base - h), peak, (x + w + eave, base - h)], fill=_jitter(rng, roof, 20))
    dw, dh = rng.randint(35, 55), rng.randint(60, min(100, h - 20))
    dx = x + rng.randint(15, w - dw - 15)
    draw.rectangle((dx, base - dh, dx + dw, base), fill=_jitter(rng, (110, 70, 40), 20))  # door
    for _ in range(rng.randint(1, 3)):
        wx, wy, side = x + rng.randint(10, w - 50), base - h + rng.randint(15, 40), rng.randint(28, 40)
        if wx + side > dx - 5 and wx < dx + dw + 5:
            continue  # would cover the door
        draw.rectangle((wx, wy, wx + side, wy + side), fill=_jitter(rng, (120, 170, 210), 20), outline=(60, 50, 40))


async def _recent_field_visits(db: AsyncSession, today: date) -> list[Visit]:
    """The demo county's home/meeting/onsite visits of the RECENT_DAYS days before ``today``, in id order."""
    county = await db.scalar(select(OrgUnit).where(OrgUnit.code == geo.COUNTY_CODE))
    if county is None:
        return []
    start, end = period_bounds_utc(today - timedelta(days=RECENT_DAYS), today - timedelta(days=1))
    rows = await db.scalars(
        select(Visit)
        .join(Target, Target.id == Visit.target_id)
        .join(OrgUnit, OrgUnit.id == Target.org_unit_id)
        .where(
            col(OrgUnit.path).startswith(county.path),
            col(Visit.visit_type).in_(FIELD_TYPES),
            Visit.visited_at >= start,
            Visit.visited_at < end,
        )
        .order_by(col(Visit.id))
    )
    return list(rows)


def reused_pair(visits: list[Visit]) -> tuple[Visit, Visit] | None:
    """The planted pair: the first cadre's earliest visit and their first visit two or more days later
    (else on any later day). The later one gets the earlier one's picture."""
    for first in visits:
        day = local_day(first.visited_at)
        later = [v for v in visits if v.user_id == first.user_id and local_day(v.visited_at) > day]
        if later:
            apart = [v for v in later if (local_day(v.visited_at) - day).days >= 2]
            return first, min(apart or later, key=lambda v: v.visited_at)
    return None


async def add_demo_photos(db: AsyncSession, media_dir: Path, today: date) -> int:
    """Draw, process, store and link a photo for each recent demo field visit without one; returns how many
    were added. Adds rows to the session without committing (the caller commits)."""
    visits = await _recent_field_visits(db, today)
    pair = reused_pair(visits)
    seeds = {v.id: v.uuid for v in visits}
    if pair is not None:
        seeds[pair[1].id] = pair[0].uuid  # same drawing seed: an identical picture on another day
    linked = set(
        await db.scalars(select(VisitPhoto.visit_id).where(col(VisitPhoto.visit_id).in_(list(seeds))))
    )
    todo = [v for v in visits if v.id not in linked]
    people = await db.execute(
        select(User, OrgUnit)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(col(User.id).in_({v.user_id for v in todo}))
    )
    viewers = {user.id: viewer_of(user, unit) for user, unit in people.all()}
    for visit in todo:
        processed = media.process_photo(draw_scene(seeds[visit.id]))
        photo_uuid = photo_uuid_for(visit.uuid)
        media.store_photo(media_dir, photo_uuid, processed)
        photo = photo_row(viewers[visit.user_id], photo_uuid, processed)
        photo.created_at = visit.received_at  # uploaded with the visit
        db.add(photo)
        db.add(VisitPhoto(visit_id=visit.id, photo_uuid=photo_uuid, position=0))
    await db.flush()
    return len(todo)
