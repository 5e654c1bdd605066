"""End to end in headless Chromium: a counsellor logs in to /console, an urgent case appears, she
replies, and the woman receives it in the web chat — the real Maak, Rasa and actions included."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from core.store import Store
from tests.support.browser import chromium_page
from tests.support.expect import conversation, response_template

pytestmark = pytest.mark.browser


def _newest_case(stack) -> dict:
    store = Store(stack.settings.store_url)
    try:
        return max(store.list_cases("queued"), key=lambda c: c["id"])
    finally:
        store.dispose()


async def test_a_counsellor_sees_an_urgent_case_appear_replies_and_she_receives_it(stack):
    # The demo account `maak run` printed at its start, as the operator reads it in her terminal.
    username, password = re.search(r"demo counsellor account: (\S+) / (\S+)", stack.log()).groups()
    conv = conversation("fr")
    async with chromium_page(locale="fr-FR") as console, chromium_page(viewport={"width": 360, "height": 740}) as her:
        await console.goto(f"{stack.url}/console")
        await console.fill("#username", username)
        await console.fill("#password", password)
        await console.click("#login-btn")
        await expect(console.locator("#conn")).to_have_class("conn is-live", timeout=15_000)
        alerts_before = int(await console.get_attribute("body", "data-alerts") or 0)

        await her.goto(f"{stack.url}/chat")
        await her.select_option("#lang", "fr")
        await her.fill("#msg", conv["danger"])
        await her.click("#send")
        # A counsellor is online: she hears her place in line, not "nobody is online".
        queued = response_template("utter_handoff_queued", "fr").split("{")[0]
        await her.locator(".row-bot .bubble", has_text=queued).first.wait_for(timeout=30_000)

        case = _newest_case(stack)
        assert case["priority"] == "urgent"
        row = console.locator(f'#queue button[data-id="{case["id"]}"]')
        await expect(row).to_be_visible(timeout=10_000)
        await expect(console.locator(f'#queue li.prio-urgent:has(button[data-id="{case["id"]}"])')).to_have_count(1)
        assert int(await console.get_attribute("body", "data-alerts") or 0) > alerts_before  # the sound played

        await row.click()
        await expect(console.locator("#log")).to_contain_text(conv["danger"], timeout=10_000)
        await console.click("#claim")
        await expect(console.locator("#reply")).to_be_enabled(timeout=10_000)
        await console.fill("#reply", "Je suis Amina, je suis avec vous. Pouvez-vous vous mettre à l'abri ?")
        await console.keyboard.press("Enter")

        await her.locator(".row-bot .bubble", has_text="Je suis Amina, je suis avec vous.").wait_for(timeout=15_000)
        await her.fill("#msg", "oui je suis dans la salle de bain")
        await her.click("#send")
        await expect(console.locator("#log")).to_contain_text("oui je suis dans la salle de bain", timeout=15_000)
        await expect(her.locator("#typing")).to_be_hidden(timeout=5_000)  # the bot is not "typing"

        await console.select_option("#outcome", "safety_plan")
        await console.click("#close")
        resumed = "La conseillère a fermé la conversation."
        await her.locator(".row-bot .bubble", has_text=resumed).wait_for(timeout=15_000)

        # The bot is back, and does not go on with the question it asked before the counsellor came.
        bubbles = her.locator(".row-bot .bubble")
        before = await bubbles.count()
        await her.fill("#msg", conv["thanks"])
        await her.click("#send")
        await expect(bubbles).not_to_have_count(before, timeout=30_000)
        await her.wait_for_timeout(1500)  # the whole turn has arrived
        after = await bubbles.all_inner_texts()
        safe_question = response_template("utter_ask_safe_to_chat", "fr").split("\n")[0][:30]
        assert not any(safe_question in text for text in after[before:]), after[before:]
