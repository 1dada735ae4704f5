"""The cadre's field loop in a real phone-sized Chromium: log in → nearest targets → check in →
visit with two photos → visit, thumbnails and diary entry → another town's cadre cannot open it."""

from __future__ import annotations

import re

import pytest

from tests.factories import VILLAGE_A, jpeg_bytes
from tests.live import browser_login

pytestmark = pytest.mark.browser


def test_field_loop(phone, tmp_path) -> None:  # type: ignore[no-untyped-def]
    photo_1, photo_2 = tmp_path / "a.jpg", tmp_path / "b.jpg"
    photo_1.write_bytes(jpeg_bytes(1200, 900))
    photo_2.write_bytes(jpeg_bytes(900, 1200, color=(200, 40, 40)))
    # Standing near house_3, the farthest household from the village centre.
    phone.set_geolocation({"latitude": VILLAGE_A[0] + 0.03, "longitude": VILLAGE_A[1] + 0.01, "accuracy": 10})
    page = phone.new_page()
    browser_login(page, "cadre_a")
    page.goto("/today")
    page.wait_for_selector("text=已按距离由近到远排序")
    first = page.locator("#targets .row-title").first
    assert first.inner_text() == "周国强户"

    # Check in at the village (GPS at the village centre).
    phone.set_geolocation({"latitude": VILLAGE_A[0], "longitude": VILLAGE_A[1], "accuracy": 10})
    page.goto("/today")
    page.locator("#targets a.row", has_text="东风村").first.click()
    page.wait_for_selector("text=已定位")
    page.click("#checkin-form button[type=submit]")
    page.wait_for_selector("#checkins >> text=已签到")
    assert page.locator("#checkins .flag").count() == 0

    # Log a visit to 刘大山户 with two photos (the form keeps whole seconds: let one pass after checking in).
    page.wait_for_timeout(1100)
    page.goto("/today?q=刘大山")
    page.locator("#targets a.row").first.click()
    page.click("text=登记走访")
    page.wait_for_selector("#visit-form >> text=已定位")
    page.fill("textarea[name=notes]", "了解到家中老人需要办理慢病卡")
    page.check("input[value=医疗健康]")
    page.set_input_files("input[name=photos]", [str(photo_1), str(photo_2)])
    page.locator("textarea[name=concern_text]").first.fill("希望村里帮忙办理慢病卡")
    page.click("#visit-form button[type=submit]")
    page.wait_for_url(re.compile(r"/visits/\d+$"))  # the outbox script shrinks the photos, then posts
    assert page.locator(".thumbs img").count() == 2
    page.wait_for_function("Array.from(document.querySelectorAll('.thumbs img')).every(i => i.naturalWidth > 0)")
    visit_url = page.url
    assert "希望村里帮忙办理慢病卡" in page.content()

    page.goto("/diary")
    rows = page.locator("table.diary tbody tr")
    assert rows.count() == 2
    assert "东风村" in rows.nth(0).inner_text()
    assert "慢病卡" in rows.nth(1).inner_text()

    # A cadre of another town cannot open the visit.
    other = phone.browser.new_context(base_url=phone.pages[0].url.split("/visits")[0])
    try:
        page_b = other.new_page()
        browser_login(page_b, "cadre_b")
        response = page_b.goto(visit_url)
        assert response is not None and response.status == 404
        assert "刘大山" not in page_b.content()
    finally:
        other.close()
