"""A woman chats in Darija on /chat in headless Chromium, then leaves with quick exit."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium_page, storage_snapshot
from tests.support.expect import response_template

pytestmark = pytest.mark.browser


async def test_darija_chat_and_quick_exit_leave_nothing_on_the_device(stack):
    async with chromium_page(locale="ar-MA", viewport={"width": 360, "height": 740}) as page:
        await page.goto(f"{stack.url}/chat")
        await page.select_option("#lang", "ary")
        assert await page.get_attribute("html", "dir") == "rtl"
        await page.fill("#msg", "بغيت نخدم، واش كاين شي خدمة ليا؟")
        await page.click("#send")
        expected_first_line = response_template("utter_ask_region", "ary").splitlines()[0]
        await page.locator(".row-bot .bubble", has_text=expected_first_line[:20]).first.wait_for(timeout=30_000)

        await page.keyboard.press("Escape")
        await page.wait_for_url("**/today", timeout=10_000)
        snapshot = await storage_snapshot(page)
        assert snapshot["localStorage"] == {} and snapshot["sessionStorage"] == {}
        assert snapshot["cookies"] == [] and snapshot["documentCookie"] == ""
        assert snapshot["indexedDB"] == []
        title = await page.title()
        assert "maak" not in title.lower() and "violence" not in title.lower()
