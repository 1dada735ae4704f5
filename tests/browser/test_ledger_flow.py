"""The ledger in a real phone-sized Chromium: a cadre raises a concern in a visit, a leader accepts,
assigns and closes it, the cadre feeds back and shows the QR link, and a resident without an account
rates it through the link (once)."""

from __future__ import annotations

import re

import pytest

from tests.live import PHONE, browser_login

pytestmark = pytest.mark.browser


def test_concern_from_visit_to_rating(phone, browser, live_server) -> None:  # type: ignore[no-untyped-def]
    cadre = phone.new_page()
    browser_login(cadre, "cadre_a")
    cadre.goto("/today?q=刘大山")
    cadre.locator("#targets a.row").first.click()
    cadre.click("text=登记走访")
    cadre.wait_for_selector("#visit-form >> text=已定位")
    cadre.fill("textarea[name=notes]", "入户了解用水情况")
    cadre.locator("textarea[name=concern_text]").first.fill("自来水压力太小，二楼没有水")
    cadre.click("#visit-form button[type=submit]")
    cadre.wait_for_url(re.compile(r".*/visits/\d+$"))
    assert "自来水压力太小" in cadre.content()

    # The leader finds it in the 问题清单 and handles it step by step.
    leader_ctx = browser.new_context(**PHONE, base_url=live_server.url, locale="zh-CN", timezone_id="Asia/Shanghai")
    leader = leader_ctx.new_page()
    browser_login(leader, "leader_a")
    leader.goto("/ledger")
    leader.locator(".concerns a.row", has_text="自来水压力太小").click()
    leader.wait_for_url(re.compile(r".*/ledger/\d+$"))
    concern_url = leader.url
    assert leader.locator(".concern-detail .badge.state").inner_text() == "登记"
    form = leader.locator("#action-accept")
    form.locator("select[name=domain]").select_option("livelihood")
    form.locator("select[name=level]").select_option("village")
    form.locator("button[type=submit]").click()
    leader.wait_for_selector(".concern-detail .badge.state >> text=受理")
    form = leader.locator("#action-assign")
    form.locator("select[name=owner_id]").select_option(label="王干部（干部）")
    form.locator("button[type=submit]").click()
    leader.wait_for_selector(".concern-detail .badge.state >> text=交办")
    assert "责任人" in leader.locator(".facts").inner_text()
    leader.locator("#action-start button[type=submit]").click()
    leader.wait_for_selector(".concern-detail .badge.state >> text=办理中")
    leader.locator("#action-submit textarea[name=note]").fill("已协调水厂加装增压泵")
    leader.locator("#action-submit button[type=submit]").click()
    leader.wait_for_selector(".concern-detail .badge.state >> text=办结待核")
    leader.locator("#action-close select[name=close_reason]").select_option("solved")
    leader.locator("#action-close button[type=submit]").click()
    leader.wait_for_selector(".concern-detail .badge.state >> text=销号")
    # A closed item offers no handling steps any more.
    assert leader.locator("#action-start").count() == 0 and leader.locator("#action-submit").count() == 0

    # The cadre tells the resident and shows the QR code on the phone.
    cadre.goto(concern_url)
    cadre.locator("#action-feedback textarea[name=note]").fill("增压泵已装好，二楼已经有水")
    cadre.locator("#action-feedback button[type=submit]").click()
    cadre.wait_for_selector(".facts >> text=增压泵已装好")
    cadre.click("text=生成群众评价二维码")
    cadre.wait_for_selector(".qr svg")
    link = cadre.locator("#rating-url").get_attribute("href")
    assert link and "/r/" in link

    # The resident (no account) opens the link on their own phone and rates it.
    resident_ctx = browser.new_context(**PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        resident = resident_ctx.new_page()
        resident.goto(link)
        body = resident.locator("main").inner_text()
        assert "刘**" in body and "刘大山" not in body and "13800001111" not in body
        assert resident.locator(".tabbar").count() == 0
        resident.locator("label.choice", has_text="满意").first.click()
        resident.fill("textarea[name=comment]", "很及时")
        resident.click("#rate-form button[type=submit]")
        resident.wait_for_selector("text=感谢您的评价")
        response = resident.goto(link)
        assert response is not None and response.status == 410
        assert "您已经评价过了" in resident.content()
    finally:
        resident_ctx.close()

    leader.goto(concern_url)
    assert leader.locator(".facts .rating").inner_text() == "满意"
    assert "群众（评价链接）" in leader.locator(".timeline").inner_text()
    leader_ctx.close()
