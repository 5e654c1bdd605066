"""The router against a fake Rasa on loopback: nothing she sends is dropped, whatever fails."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.dedupe import Dedupe
from bot.notices import CaseNotices
from bot.outbox import Outbox
from bot.rasa_client import RasaClient
from bot.ratelimit import RateLimiter
from bot.retention import Eraser
from bot.router import MAX_WAITING, Router
from bot.texts import default_texts
from channels.base import Channel, InboundMessage, OutboundMessage
from core.privacy import Cipher, conversation_id
from core.store import Store, contacts, utcnow
from handoff.callback import callback_windows
from handoff.cases import CaseQueue
from handoff.oncall import OnCall
from tests.support.fakes import FakeRasa, serve

SECRET = b"router-test-secret"


class RecordingChannel(Channel):
    name = "webchat"

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutboundMessage]] = []
        self.forgotten: list[str] = []

    async def _send(self, address: str, message: OutboundMessage) -> None:
        self.sent.append((address, message))

    async def forget(self, address: str) -> None:
        self.forgotten.append(address)

    def texts(self) -> list[str]:
        return [m.text for _, m in self.sent if m.text]


@pytest.fixture
async def fake_rasa():
    fake = FakeRasa()
    async for url in serve(fake.app()):
        fake.url = url
        yield fake


async def _nobody() -> set[str]:
    return set()


@pytest.fixture
async def setup(tmp_path, fake_rasa):
    store = Store(f"sqlite:///{tmp_path / 'maak.db'}")
    store.migrate()
    cipher = Cipher(b"key")
    queue = CaseQueue(store, cipher)
    channel = RecordingChannel()
    outbox = Outbox(store, cipher, {"webchat": channel})
    async with aiohttp.ClientSession() as http:
        rasa = RasaClient(http, fake_rasa.url, "token", timeout=5)
        notices = CaseNotices(queue, outbox, default_texts(), OnCall(), rasa, online=_nobody)
        queue.subscribe(notices)
        router = Router(
            secret=SECRET,
            store=store,
            cipher=cipher,
            queue=queue,
            rasa=rasa,
            eraser=Eraser(store, f"sqlite:///{tmp_path / 'tracker.db'}"),
            texts=default_texts(),
            outbox=outbox,
            notices=notices,
            dedupe=Dedupe(SECRET),
            limiter=RateLimiter(12, 2),
            max_text_chars=2000,
            urgent_wait=1.0,
        )
        yield router, store, queue, channel, fake_rasa


def message(text: Any, sender: str = "session-1", **kwargs: Any) -> InboundMessage:
    return InboundMessage(channel="webchat", sender=sender, text=text, **kwargs)


def conv(sender: str = "session-1") -> str:
    return conversation_id(SECRET, "webchat", sender)


async def test_rasa_replies_are_delivered_in_order(setup):
    router, store, _, channel, rasa = setup
    rasa.replies = [{"text": "one"}, {"text": "two", "buttons": [{"title": "Yes", "payload": "/affirm"}]}]
    await router.handle(message("bonjour, j'ai besoin d'aide"))
    assert channel.texts() == ["one", "two"]
    assert channel.sent[1][1].buttons[0].payload == "/affirm"
    # Rasa sees only the pseudonym, never the platform address.
    assert rasa.received[0]["sender"] == conv() and "session-1" not in str(rasa.received)


async def test_rasa_down_keeps_the_message_for_a_human(setup):
    router, store, queue, channel, rasa = setup
    rasa.status = 500
    await router.handle(message("je cherche un travail à Fès, je n'ai plus d'argent"))
    case = store.open_case_for(conv())
    assert case is not None and case["priority"] == "normal" and case["category"] == "unanswered"
    kept = [Cipher(b"key").decrypt(m["text_enc"]) for m in store.case_messages(case["id"])]
    assert kept == ["je cherche un travail à Fès, je n'ai plus d'argent"]
    assert any("8350" in t for t in channel.texts())


async def test_a_flood_past_the_line_is_kept_for_a_human_at_once(setup):
    router, store, _, _, rasa = setup
    rasa.delay = 0.5  # the first messages hold the line for a minute
    handling = [asyncio.create_task(router.handle(message(f"message {n}"))) for n in range(MAX_WAITING + 30)]
    try:
        # Those past the line do not wait (holding their text in memory) behind the ones the bot answers.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        kept: list[dict[str, Any]] = []
        while loop.time() < deadline and len(kept) < 30:
            await asyncio.sleep(0.1)
            case = store.open_case_for(conv())
            kept = store.case_messages(case["id"]) if case else []
        assert len(kept) >= 30 and case["category"] == "unanswered"
    finally:
        for task in handling:
            task.cancel()
        await asyncio.gather(*handling, return_exceptions=True)


async def test_a_shutdown_while_rasa_answers_keeps_the_message_for_a_human(setup):
    router, store, queue, channel, rasa = setup
    rasa.delay = 5
    handling = asyncio.create_task(router.handle(message("je cherche un travail à Fès")))
    while not rasa.received:
        await asyncio.sleep(0.01)
    handling.cancel()  # what the channel's bounded drain does at shutdown
    with pytest.raises(asyncio.CancelledError):
        await handling
    case = store.open_case_for(conv())
    assert case is not None and case["category"] == "unanswered"
    assert [Cipher(b"key").decrypt(m["text_enc"]) for m in store.case_messages(case["id"])] == ["je cherche un travail à Fès"]


async def test_rasa_down_and_danger_opens_an_urgent_case_with_the_numbers(setup):
    router, store, _, channel, rasa = setup
    rasa.status = 503
    await router.handle(message("il va me tuer ce soir, il a un couteau"))
    case = store.open_case_for(conv())
    assert case["priority"] == "urgent" and case["danger"]
    assert any("19" in t and "8350" in t for t in channel.texts())


async def test_danger_gets_the_numbers_in_seconds_however_slow_rasa_is(setup):
    router, store, _, channel, rasa = setup
    rasa.delay = 3  # a busy Rasa: within its own timeout, beyond the wait allowed for danger
    await router.handle(message("il va me tuer ce soir, il a un couteau"))
    assert any("19" in t and "8350" in t for t in channel.texts()) and "bot reply" not in channel.texts()
    case = store.open_case_for(conv())
    assert case["priority"] == "urgent"
    assert [Cipher(b"key").decrypt(m["text_enc"]) for m in store.case_messages(case["id"])] == [
        "il va me tuer ce soir, il a un couteau"]
    # Without danger, a busy Rasa is waited for: its answer is the one she gets.
    await router.handle(message("je cherche une formation à Fès", sender="session-2"))
    assert channel.texts()[-1] == "bot reply"


async def test_an_empty_answer_from_rasa_counts_as_no_answer(setup):
    router, store, _, channel, rasa = setup
    rasa.replies = []  # what Rasa's REST channel returns when it fails inside
    await router.handle(message("il me frappe en ce moment"))
    case = store.open_case_for(conv())
    assert case["priority"] == "urgent"
    assert any("19" in t for t in channel.texts())


async def test_empty_and_non_text_messages_get_a_clear_reply(setup):
    router, store, _, channel, rasa = setup
    await router.handle(message("   \x00\x07 "))
    await router.handle(message("", unsupported="bytes"))
    assert len(channel.texts()) == 2
    assert rasa.received == []


async def test_a_long_message_is_cut_for_the_nlu_and_she_is_told(setup):
    router, _, _, channel, rasa = setup
    await router.handle(message("a" * 10_000))
    assert len(rasa.received[0]["message"]) == 2000
    assert len(channel.texts()) == 2


async def test_while_a_counsellor_has_her_case_the_bot_is_silent(setup):
    router, store, queue, channel, rasa = setup
    case = await queue.open_case(conv(), channel="webchat", priority="urgent")
    await queue.claim(case.id, "counsellor-1")
    channel.sent.clear()  # she was told a counsellor joined
    await router.handle(message("il est parti, je suis seule maintenant"))
    assert rasa.received == []
    assert channel.texts() == []
    assert [m.custom for _, m in channel.sent] == [{"maak": "received"}]  # no words, the page stops "typing"
    assert len(store.case_messages(case.id)) == 1


async def test_danger_claimed_the_instant_it_opened_still_gets_the_numbers(setup):
    router, store, queue, channel, rasa = setup

    async def a_quick_counsellor(event):
        # She claims from the console the moment the urgent case appears, before the router goes on.
        if event.change == "opened":
            await queue.claim(event.case.id, "counsellor-1")

    queue.subscribe(a_quick_counsellor)
    await router.handle(message("il va me tuer ce soir, il a un couteau"))
    assert rasa.received == []  # her counsellor has her: the bot stays out of it
    assert any("19" in t and "8350" in t for t in channel.texts())
    # Once a counsellor is with her, her words reach the case and nothing more is said.
    channel.sent.clear()
    await router.handle(message("il est là, il frappe à la porte"))
    assert [m.custom for _, m in channel.sent] == [{"maak": "received"}]


async def test_stop_and_forget_work_during_a_handoff(setup):
    router, store, queue, channel, rasa = setup
    case = await queue.open_case(conv(), channel="webchat", priority="high")
    await queue.claim(case.id, "counsellor-1")
    await router.handle(message("stop"))
    assert {"maak": "quick_exit"} in [m.custom for _, m in channel.sent]
    await router.handle(message("/forget"))
    assert store.open_case_for(conv()) is None and store.get_contact(conv()) is None
    assert channel.forgotten == ["session-1"]  # and what her channel kept about her address
    assert rasa.received == []


async def test_an_interruption_during_a_handoff_reaches_her_counsellor_and_the_case_stays(setup):
    router, store, queue, channel, rasa = setup
    case = await queue.open_case(conv(), channel="webchat", priority="urgent")
    await queue.claim(case.id, "counsellor-1")
    channel.sent.clear()
    await router.handle(message("someone is coming i have to stop"))
    # Her counsellor reads it as she wrote it; no bot words and no quick exit in a human's chat.
    assert [m.custom for _, m in channel.sent] == [{"maak": "received"}]
    assert rasa.received == []
    assert store.open_case_for(conv())["id"] == case.id  # still open for her counsellor
    assert len(store.case_messages(case.id)) == 1  # her words, kept (encrypted) for the counsellor


async def test_after_an_interruption_nobody_writes_first_until_she_writes_again(setup):
    router, store, queue, channel, rasa = setup
    case = await queue.open_case(conv(), channel="webchat", priority="urgent")
    await queue.update(case.id, callback_window="anytime")
    await queue.claim(case.id, "counsellor-1")
    await router.handle(message("someone is coming i have to stop"))
    # Marked: a counsellor's message, even a minute later, needs her to confirm it goes against this.
    assert store.open_case_for(conv())["callback_window"] == "stopped"
    assert callback_windows().refusal("stopped", utcnow(), utcnow()) == {
        "reason": "callback_stopped", "window": "stopped"}
    await router.handle(message("c bon il est parti"))
    # She is back: a reply while she is here is fine; once she is gone, nobody writes first.
    assert store.open_case_for(conv())["callback_window"] == "none"


async def test_an_interruption_before_a_counsellor_joins_marks_her_case_too(setup):
    router, store, queue, channel, rasa = setup
    await queue.open_case(conv(), channel="webchat", priority="urgent")
    rasa.replies = [{"text": "ok"}]
    await router.handle(message("stop"))
    assert store.open_case_for(conv())["callback_window"] == "stopped"


async def test_forget_instruction_from_the_dialogue_erases_after_the_reply(setup):
    router, store, _, channel, rasa = setup
    rasa.replies = [{"text": "erased"}, {"custom": {"maak": "forget"}}]
    await router.handle(message("efface tout ce que j'ai dit"))
    assert channel.texts() == ["erased"]
    assert store.get_contact(conv()) is None


async def test_the_platform_address_is_stored_only_encrypted(setup, tmp_path):
    router, store, *_ = setup
    await router.handle(message("salam", sender="+212600000001"))
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("maak.db*"))
    assert b"+212600000001" not in raw and b"salam" not in raw


async def test_messages_sent_at_once_keep_their_order(setup):
    router, _, _, channel, rasa = setup
    rasa.replies = [{"text": "ok"}]
    await asyncio.gather(*(router.handle(message(f"message numero {i}")) for i in range(8)))
    assert [r["message"] for r in rasa.received] == [f"message numero {i}" for i in range(8)]
    assert len(router._locks) == 0


async def test_a_redelivered_message_is_handled_once(setup):
    router, _, _, channel, rasa = setup
    for _ in range(3):
        await router.handle(message("bonjour", message_id="wamid.ABC123"))
    await router.handle(message("bonjour", message_id="wamid.OTHER"))
    assert len(rasa.received) == 2


async def test_a_flood_is_slowed_down_not_dropped_and_she_is_told_once(setup):
    router, _, _, channel, rasa = setup
    rasa.replies = [{"text": "ok"}]
    await asyncio.gather(*(router.handle(message(f"message {i}")) for i in range(16)))
    assert [r["message"] for r in rasa.received] == [f"message {i}" for i in range(16)]
    told = [t for t in channel.texts() if t != "ok"]
    variants = {default_texts().get("rate_limited", lang) for lang in ("ar", "ary", "ary-Latn", "fr", "en")}
    assert len(told) == 1 and told[0] in variants


class WindowedChannel(RecordingChannel):
    name = "whatsapp"
    service_window = timedelta(hours=24)


async def test_a_message_past_the_service_window_is_not_sent_and_the_reason_is_given(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'maak.db'}")
    store.migrate()
    cipher = Cipher(b"key")
    channel = WindowedChannel()
    outbox = Outbox(store, cipher, {"whatsapp": channel})
    store.touch_contact("conv-wa", "whatsapp", cipher.encrypt("212612345678"))
    assert await outbox.send_to("conv-wa", "bonjour") is None
    with store.engine.begin() as conn:
        conn.execute(sa.update(contacts).values(last_seen_at=utcnow() - timedelta(hours=25)))
    assert await outbox.send_to("conv-wa", "vous êtes là ?") == "outside the 24-hour window"
    assert channel.texts() == ["bonjour"]
