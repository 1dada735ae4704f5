"""A supervisor on a phone: the flag appears on the visit page, is confirmed in place (htmx, no reload)
with a note, and the queue shows it confirmed; an empty note is refused inside the row."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.clock import local_today
from tests.factories import VILLAGE_A, local
from tests.integrity_helpers import photo_bytes, record
from tests.live import browser_login

pytestmark = pytest.mark.browser


def test_supervisor_confirms_a_flag_in_place(phone, settings, world) -> None:  # type: ignore[no-untyped-def]
    at = local(f"{local_today() - timedelta(days=1)} 10:00")
    visit_id = record(
        settings,
        world.users["cadre_a"],
        world.targets["house_3"],
        at=at,
        lat=VILLAGE_A[0] + 0.001,
        lon=VILLAGE_A[1],
        photos=[photo_bytes(5)],
    )
    page = phone.new_page()
    browser_login(page, "super")
    page.goto(f"/visits/{visit_id}")
    row = page.locator("#visit-flags li.flag-row[data-code=far_from_target]")
    row.wait_for()
    assert "超出允许范围 200 米" in row.inner_text()
    page.evaluate("window.__same_page = true")

    row.locator("button[value=confirm]").click()
    page.wait_for_selector("#visit-flags .error >> text=请填写核查说明")
    row = page.locator("#visit-flags li.flag-row[data-code=far_from_target]")
    row.locator("textarea[name=note]").fill("电话联系户主周国强，当天无人来访")
    row.locator("button[value=confirm]").click()
    page.wait_for_selector("#visit-flags li.flag-row.status-confirmed")
    assert page.evaluate("window.__same_page") is True  # swapped in place, no navigation
    assert "钱督导" in page.locator("#visit-flags li.flag-row.status-confirmed").inner_text()

    page.goto("/integrity?status=confirmed")
    assert page.locator("li.flag-row[data-code=far_from_target]").count() == 1
    assert "当天无人来访" in page.locator("li.flag-row").first.inner_text()
