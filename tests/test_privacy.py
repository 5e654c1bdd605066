"""No message text and no contact id ever reaches a log, in any of Maak's three processes."""

from __future__ import annotations

import asyncio

from tests.chat import ChatClient

MARKERS = [
    "zebracorn-7731 rajli kaydrebni daba 3afak",
    "zebracorn-7732 je cherche un travail a Fes",
    "zebracorn-7733 انا فخطر دابا",
]


async def test_no_message_text_or_contact_id_in_the_logs(stack):
    async with ChatClient(stack.url) as chat:
        for text in MARKERS:
            await chat.say(text)
        await chat.say("")  # bad input is logged as an event, never with its content
        session_id = chat.session_id
    await asyncio.sleep(1.0)
    log = stack.log()
    assert "message received" in log  # the events are there…
    assert "zebracorn" not in log  # …their texts are not
    for text in MARKERS:
        assert text not in log
    assert session_id not in log
