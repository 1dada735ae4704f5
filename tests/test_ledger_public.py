"""公示 pages on the 崇阳县 demo data: reachable without login, and no phone number, ID number or full
head name from the database appears on any of them (nor on a resident's rating page)."""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from litestar.testing import TestClient
from sqlalchemy import select

from server.accounts.models import OrgUnit
from server.app import create_app
from server.clock import utcnow
from server.db import migrate
from server.demo.seed import seed_demo
from server.ledger.models import Concern
from server.ledger.public import mask_name, scrub
from server.places.models import Target
from server.visits.models import VisitPhoto
from tests.conftest import csrf, login
from tests.factories import with_db


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ledger-demo") / "demo.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    from server.db import create_engine, session_maker
    from tests.factories import run

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        async with session_maker(engine)() as db:
            await seed_demo(db)
        await engine.dispose()

    run(seed())
    return path


@pytest.fixture
def demo(demo_template: Path, settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "demo.db"
    shutil.copyfile(demo_template, path)
    return replace(settings, database_url=f"sqlite+aiosqlite:///{path}")


def test_mask_and_scrub() -> None:
    assert mask_name("张三丰") == "张**" and mask_name("李四") == "李*" and mask_name("欧阳娜娜") == "欧阳**"
    text = "刘大山反映，电话13800001111，身份证42122319650101123X，座机0715-3312345"
    clean = scrub(text, ["刘大山"])
    assert "刘大山" not in clean and "刘**" in clean
    assert not re.search(r"\d{7,}", clean) and "123X" not in clean
    assert scrub("138 0000 1111", []) == "***"


def test_public_pages_leak_nothing(demo) -> None:  # type: ignore[no-untyped-def]
    async def prepare(db):  # type: ignore[no-untyped-def]
        heads = list(
            await db.scalars(select(Target).where(Target.kind == "household", Target.phone.is_not(None)).limit(3))
        )
        leaky = heads[0]
        # A cadre typed the resident's name, phone and ID number into the concern text.
        db.add(
            Concern(
                uuid=str(uuid.uuid4()),
                target_id=leaky.id,
                org_unit_id=leaky.org_unit_id,
                raised_by_id=1,
                text=f"{leaky.head_name}（{leaky.phone}，身份证{leaky.id_number}）反映{heads[1].head_name}家门前积水",
                category="problem",
                created_at=utcnow(),
            )
        )
        await db.commit()
        targets = list(await db.scalars(select(Target)))
        units = list(await db.scalars(select(OrgUnit)))
        return targets, units, leaky

    targets, units, leaky = with_db(demo, prepare)
    phones = {t.phone for t in targets if t.phone}
    ids = {t.id_number for t in targets if t.id_number}
    heads = {t.head_name for t in targets if t.head_name}
    addresses = {t.address for t in targets if t.address and len(t.address) > 6}
    drivers = {t.name for t in targets if t.kind == "driver"}
    assert len(phones) > 100 and len(ids) > 100 and len(heads) > 100  # the scan has something to find
    villages = [t for t in targets if t.kind == "village"]
    urls = ["/public"] + [f"/public/villages/{v.id}" for v in villages] + [f"/public/units/{u.id}" for u in units]
    with TestClient(app=create_app(demo)) as client:
        pages = {}
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            pages[url] = response.text
    leaky_village = f"/public/villages/{leaky.village_id}"
    assert "家门前积水" in pages[leaky_village] and mask_name(leaky.head_name) in pages[leaky_village]
    shown = sum(len(BeautifulSoup(p, "html.parser").select(".public-board li")) for p in pages.values())
    assert shown > 100
    for url, html in pages.items():
        for number in re.findall(r"(?<!\d)1\d{10}(?!\d)", html):
            assert number not in phones, (url, "phone")
        assert not re.search(r"(?<!\d)\d{17}[\dXx](?!\d)", html), (url, "id number")
        assert not any(p in html for p in phones), url
        assert not any(i in html for i in ids), url
        found = [h for h in heads if h in html]
        assert not found, (url, found[:3])
        assert not [a for a in addresses if a in html], url
        assert not [d for d in drivers if d in html], url


def test_public_photos_only_when_marked(demo) -> None:  # type: ignore[no-untyped-def]
    async def prepare(db):  # type: ignore[no-untyped-def]
        concern = await db.scalar(select(Concern).where(Concern.visit_id.is_not(None)).limit(1))
        target = await db.get(Target, concern.target_id)
        photo = str(uuid.uuid4())
        db.add(VisitPhoto(visit_id=concern.visit_id, photo_uuid=photo, position=0))
        await db.commit()
        return concern.id, target.village_id, photo

    concern_id, village_id, photo = with_db(demo, prepare)
    with TestClient(app=create_app(demo)) as client:
        assert photo not in client.get(f"/public/villages/{village_id}").text
        assert client.get(f"/public/photos/{photo}").status_code == 404

        async def mark(db):  # type: ignore[no-untyped-def]
            concern = await db.get(Concern, concern_id)
            concern.photos_public = True
            await db.commit()

        with_db(demo, mark)
        assert f"/public/photos/{photo}" in client.get(f"/public/villages/{village_id}").text
        assert client.get(f"/public/photos/{photo}").status_code == 404  # listed, but the file never arrived


def test_rating_page_of_demo_item_shows_only_masked_data(demo) -> None:  # type: ignore[no-untyped-def]
    async def prepare(db):  # type: ignore[no-untyped-def]
        concern = await db.scalar(select(Concern).where(Concern.state == "closed").limit(1))
        concern.feedback, concern.feedback_at, concern.close_reason = "已办结", utcnow(), "solved"
        target = await db.get(Target, concern.target_id)
        await db.commit()
        return concern.id, target

    concern_id, target = with_db(demo, prepare)
    with TestClient(app=create_app(demo)) as client:
        login(client, "admin", "minqing-demo")
        response = client.post(f"/ledger/{concern_id}/rating-link", data={"_csrf": csrf(client)})
        link = "/r/" + BeautifulSoup(response.text, "html.parser").select_one("#rating-url")["href"].rsplit("/r/", 1)[1]
    with TestClient(app=create_app(demo)) as resident:
        html = resident.get(link).text
    assert mask_name(target.head_name) in html
    for secret in (target.head_name, target.phone, target.id_number, target.address):
        if secret:
            assert secret not in html
