"""Offline first in a real phone-sized Chromium: load once online, lose the network, keep working from the
service worker's caches, record a check-in and three visits with photos into the IndexedDB outbox, come
back online, sync exactly once (and again exactly once on replay); rejected items stay with their reason."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from server.clock import local_today
from server.config import Settings
from server.db import create_engine, session_maker
from server.ledger.models import Concern
from server.visits.models import Photo
from tests.factories import VILLAGE_A, World, jpeg_bytes, run
from tests.live import browser_login
from tests.test_sync import count

pytestmark = pytest.mark.browser

BADGE = "[data-outbox-count]"


def badge(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator(BADGE).first.inner_text()


def wait_badge(page, value: int) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(f"document.querySelector('{BADGE}').textContent === '{value}'", timeout=20000)


def cached(page, path: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until the service worker keeps ``path`` for offline use."""
    page.wait_for_function(
        """async (path) => {
             const cache = await caches.open('minqing-pages-v1');
             return !!(await cache.match(new URL(path, location.origin).href));
           }""",
        arg=path,
        timeout=20000,
    )


def server_counts(settings: Settings) -> tuple[int, int, int]:
    from server.visits.models import CheckIn, Photo, Visit

    return count(settings, CheckIn), count(settings, Visit), count(settings, Photo)


def test_offline_capture_then_sync_exactly_once(phone, live_server, world: World, settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg_bytes(3000, 2000))  # a phone camera photo: shrunk to 1600 px before storing
    small = tmp_path / "small.jpg"
    small.write_bytes(jpeg_bytes(900, 1200, color=(200, 40, 40)))
    households = [world.targets[k] for k in ("house_1", "house_2", "house_3")]
    village = world.targets["village_a"]

    # ---- once online: log in, open the home list, the village and three households (their forms are kept).
    page = phone.new_page()
    browser_login(page, "cadre_a")
    page.goto("/today")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=20000)
    for target_id in [village, *households]:
        page.goto(f"/targets/{target_id}")
        cached(page, f"/targets/{target_id}")
    for target_id in households:
        cached(page, f"/visits/new?target_id={target_id}")
    cached(page, f"/ledger/new?target_id={households[0]}")  # 登记诉求 on its own, linked from the target page
    cached(page, "/today")
    cached(page, "/sync")

    # ---- no network at all: the page is offline and so is the server.
    phone.set_offline(True)
    live_server.stop()
    page.goto("/today")
    page.wait_for_selector("text=离线副本")
    assert page.locator("#targets li").count() == 5
    assert "王干部" in page.locator(".topbar").inner_text()

    page.goto(f"/targets/{village}")
    page.wait_for_selector("#checkin-form >> text=已定位")
    page.click("#checkin-form button[type=submit]")
    page.wait_for_selector("#flash >> text=已保存在手机上")
    wait_badge(page, 1)

    for n, target_id in enumerate(households):
        page.goto(f"/visits/new?target_id={target_id}")
        page.wait_for_selector("#visit-form >> text=已定位")
        page.fill("textarea[name=notes]", f"离线走访第 {n + 1} 户：了解家庭收入和务工情况")
        page.check("input[value=就业务工]")
        page.set_input_files("input[name=photos]", [str(big), str(small)] if n == 0 else [str(small)])
        if n == 1:
            page.locator("textarea[name=concern_text]").first.fill("希望帮忙联系务工岗位")
        page.click("#visit-form button[type=submit]")
        page.wait_for_selector("#flash >> text=已保存在手机上")
        wait_badge(page, 2 + n)
    concerns_before = count(settings, Concern)
    page.goto(f"/ledger/new?target_id={households[0]}")
    page.fill("#concern-form textarea[name=text]", "村口路灯坏了三盏，晚上看不清路")
    page.select_option("#concern-form select[name=category]", "request")
    page.click("#concern-form button[type=submit]")
    page.wait_for_selector("#flash >> text=已保存在手机上")
    wait_badge(page, 5)
    assert server_counts(settings) == (0, 0, 0) and count(settings, Concern) == concerns_before

    # Photos were shrunk on the phone: long side ≤ 1600 px, JPEG, far smaller than the original.
    stored = page.evaluate(
        """async () => {
             const photos = await (await MinqingOutbox.db()).getAll('photos');
             const out = [];
             for (const p of photos) {
               const b = await createImageBitmap(p.blob);
               out.push({w: b.width, h: b.height, type: p.blob.type, size: p.blob.size});
             }
             return out;
           }"""
    )
    assert len(stored) == 4
    assert max(max(p["w"], p["h"]) for p in stored) == 1600
    assert all(p["type"] == "image/jpeg" for p in stored)
    # Keep a copy of the outbox to replay it later (a phone restored from backup, a retried upload …).
    page.evaluate(
        """async () => {
             const d = await MinqingOutbox.db();
             const copy = {items: await d.getAll('items'), photos: await d.getAll('photos')};
             await MinqingOutbox.setMeta('test-copy', copy);
           }"""
    )

    # ---- back online: the phone syncs by itself (online event), or on 立即同步.
    live_server.start()
    phone.set_offline(False)
    page.goto("/sync")
    page.wait_for_selector("[data-sync-now]")
    if badge(page) != "0":
        page.click("[data-sync-now]")
    wait_badge(page, 0)
    assert server_counts(settings) == (1, 3, 4)
    assert count(settings, Concern) == concerns_before + 2  # the visit's concern and the one on its own
    page.wait_for_selector("text=全部已同步")

    # ---- the same outbox replayed: still exactly one of each.
    page.evaluate(
        """async () => {
             const copy = await MinqingOutbox.getMeta('test-copy');
             for (const item of copy.items) {
               const photos = copy.photos.filter(p => p.item === item.uuid);
               await MinqingOutbox.addItem(Object.assign({}, item, {state: 'pending'}), photos);
             }
             await MinqingSync.updateBadge();
           }"""
    )
    assert badge(page) == "5"
    page.click("[data-sync-now]")
    wait_badge(page, 0)
    assert server_counts(settings) == (1, 3, 4) and count(settings, Concern) == concerns_before + 2

    # The visit pages show all photos (none still "uploading").
    page.goto("/visits")
    page.locator("a[href^='/visits/']").first.click()
    page.wait_for_selector(".visit-detail")
    assert "照片上传中" not in page.content()

    # ---- a rejected item stays with the server's reason; another user's item is never sent under my name.
    page.goto("/sync")
    page.evaluate(
        """async ([house, mine, other]) => {
             const base = {kind: 'visit', state: 'pending', body: {target_id: house, visit_type: 'home',
               created_at: MinqingOutbox.isoLocal(new Date()), lat: 29.43, lon: 114.0, accuracy: 10,
               notes: '别的镇的农户', topics: [], concerns: [], photo_uuids: []}};
             const add = (extra) => MinqingOutbox.addItem(Object.assign({}, base, extra));
             await add({uuid: mine, user: 'cadre_a', label: '西河村吴秀英户'});
             await add({uuid: other, user: 'cadre_a2', label: '李干部的走访'});
             await MinqingSync.updateBadge();
           }""",
        [world.targets["house_b"], str(uuid.uuid4()), str(uuid.uuid4())],
    )
    assert badge(page) == "1"  # only my own items count
    page.click("[data-sync-now]")
    rejected = page.locator(".outbox-item.state-rejected")
    rejected.wait_for()
    assert "西河村吴秀英户" in rejected.inner_text()
    assert "不在您的管辖范围内" in rejected.locator(".reason").inner_text()
    assert badge(page) == "1"
    other = page.locator(".outbox-item", has_text="李干部的走访")
    assert "需其本人登录后上传" in other.inner_text()
    assert server_counts(settings) == (1, 3, 4)

    page.reload()  # still there after a reload, with its reason
    page.locator(".outbox-item.state-rejected .reason").wait_for()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".outbox-item.state-rejected [data-discard]").click()
    wait_badge(page, 0)
    assert page.locator(".outbox-item", has_text="李干部的走访").count() == 1


def exif_jpeg() -> bytes:
    """A landscape sensor image the camera marked "rotate 90°" (Orientation 6), with its capture time."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(jpeg_bytes(1200, 900)))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[0x9003] = "2026:05:01 09:30:00"
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85, exif=exif.tobytes())
    return buf.getvalue()


def test_offline_list_note_conflict_exif_update_and_logout(  # type: ignore[no-untyped-def]
    phone, live_server, world: World, settings: Settings, tmp_path, monkeypatch
) -> None:
    photo = tmp_path / "rotated.jpg"
    photo.write_bytes(exif_jpeg())
    house_1 = world.targets["house_1"]
    page = phone.new_page()
    browser_login(page, "cadre_a")
    page.goto("/today")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=20000)
    page.goto(f"/targets/{house_1}")
    for path in ("/today", "/diary", f"/visits/new?target_id={house_1}"):
        cached(page, path)
    page.wait_for_function(
        "async () => !!(await (await caches.open('minqing-data-v1')).match(location.origin + '/api/v1/assignments'))"
    )

    # Offline, standing at the far household: the home list is ordered from the coordinates kept on the phone.
    phone.set_offline(True)
    live_server.stop()
    phone.set_geolocation({"latitude": VILLAGE_A[0] + 0.03, "longitude": VILLAGE_A[1] + 0.01, "accuracy": 10})
    page.goto("/today")
    page.wait_for_selector("text=离线：已按手机上保存的坐标由近到远排序")
    assert page.locator("#targets .row-title").first.inner_text() == "周国强户"

    # A diary note written offline, while another device saves the same day's note.
    page.goto("/diary")
    page.fill("textarea[name=note]", "手机上离线写的备注")
    page.click("form[action='/diary/note'] button[type=submit]")
    page.wait_for_selector("#flash >> text=已保存在手机上")
    # A visit whose photo carries EXIF (time, orientation): kept through the shrinking.
    phone.set_geolocation({"latitude": VILLAGE_A[0] + 0.001, "longitude": VILLAGE_A[1], "accuracy": 10})
    page.goto(f"/visits/new?target_id={house_1}")
    page.wait_for_selector("#visit-form >> text=已定位")
    page.fill("textarea[name=notes]", "离线走访，照片带拍摄时间")
    page.set_input_files("input[name=photos]", [str(photo)])
    page.click("#visit-form button[type=submit]")
    page.wait_for_selector("#flash >> text=已保存在手机上")
    wait_badge(page, 2)

    live_server.start()
    token = httpx.post(
        f"{live_server.url}/api/v1/auth/token", json={"username": "cadre_a", "password": "secret-pass-1"}
    ).json()["token"]
    api = httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"})
    today = local_today().isoformat()
    other_device = api.put(f"/api/v1/diary/notes/{today}", json={"note": "电脑上写的备注", "base_version": 0})
    assert other_device.status_code == 200

    phone.set_offline(False)
    page.goto("/sync")
    page.click("[data-sync-now]")
    conflict = page.locator(".outbox-item.state-conflict")
    conflict.wait_for()
    assert "电脑上写的备注" in conflict.inner_text() and "手机上离线写的备注" in conflict.inner_text()
    wait_badge(page, 1)
    conflict.locator("[data-keep-mine]").click()
    wait_badge(page, 0)
    assert api.get(f"/api/v1/diary/notes/{today}").json() == {"day": today, "note": "手机上离线写的备注", "version": 2}

    async def stored_photo() -> tuple[int, int, object]:
        engine = create_engine(settings.database_url)
        async with session_maker(engine)() as db:
            row = await db.scalar(select(Photo))
        await engine.dispose()
        return row.width, row.height, row.exif_time  # type: ignore[union-attr]

    width, height, exif_time = run(stored_photo())
    assert (width, height) == (900, 1200)  # upright once, not rotated a second time on the server
    assert exif_time is not None

    # A new version of the app: the phone offers it, and the old caches go away once it is taken.
    old = page.evaluate("caches.keys()")
    monkeypatch.setenv("MINQING_BUILD", "next")
    live_server.stop()
    live_server.start()
    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    page.wait_for_selector("#sw-update >> text=有新版本，点击更新")
    with page.expect_navigation():
        page.click("#sw-update")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    new = page.evaluate("caches.keys()")
    old_shell = [n for n in old if n.startswith("minqing-shell-")]
    new_shell = [n for n in new if n.startswith("minqing-shell-")]
    assert len(old_shell) == 1 and len(new_shell) == 1 and old_shell != new_shell
    api.close()

    # Logging out forgets the cached pages (the next user of this phone must not see them).
    page.click(".topbar button:has-text('退出')")
    page.wait_for_url("**/login*")
    assert "minqing-pages-v1" not in page.evaluate("caches.keys()")


def test_expired_login_keeps_the_record_and_a_fixed_rejection_goes_through(  # type: ignore[no-untyped-def]
    phone, live_server, world: World, settings: Settings
) -> None:
    from server.visits.models import Visit

    page = phone.new_page()
    browser_login(page, "cadre_a")
    page.goto(f"/visits/new?target_id={world.targets['house_1']}")
    page.wait_for_selector("#visit-form >> text=已定位")
    phone.clear_cookies(name="minqing_session")  # the session ended while the cadre was filling in the form
    page.click("#visit-form button[type=submit]")  # and nothing was filled in: the server will refuse it
    page.wait_for_selector("#flash >> text=登录或页面已过期")
    wait_badge(page, 1)

    browser_login(page, "cadre_a")
    page.goto("/sync")
    reason = page.locator(".outbox-item.state-rejected .reason")
    reason.wait_for()
    assert "请填写走访内容" in reason.inner_text()
    assert count(settings, Visit) == 0
    page.fill(".outbox-item.state-rejected [data-fix]", "补写：了解到老人看病报销的问题")
    page.click(".outbox-item.state-rejected [data-retry]")
    wait_badge(page, 0)
    assert count(settings, Visit, Visit.notes == "补写：了解到老人看病报销的问题") == 1
