"""Every path of the dialogue, in each of the five language tags, against the trained model.

Each test is one woman on the web chat (the real Socket.IO client against `maak run`); the bot
must answer in her language and script, and the cases it opens must be in the database.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from core.privacy import Cipher, conversation_id
from core.store import Store
from tests.support.expect import LANG_FILES, conversation, said, said_text
from tools.clients import ChatClient, payloads, texts


@pytest.fixture(params=LANG_FILES)
def conv(request: pytest.FixtureRequest) -> dict[str, str]:
    return conversation(request.param)


@pytest.fixture(scope="module")
def store(stack: Any) -> Store:
    return Store(stack.settings.store_url)


def her_case(stack: Any, store: Store, chat: ChatClient) -> dict[str, Any] | None:
    return store.open_case_for(conversation_id(stack.settings.secret, "webchat", chat.session_id))


async def test_greeting_shows_the_menu(stack, conv):
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv["greet"])
    assert said(replies, "utter_greet", conv["lang"]), texts(replies)
    assert {"/immediate_danger", "/report_violence", "/seek_job", "/ask_emergency_numbers"} <= set(payloads(replies))


async def test_danger_brings_a_counsellor_and_the_numbers_at_once(stack, store, conv):
    lang = conv["lang"]
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv["danger"])
        assert said(replies, "utter_urgent_ack", lang), texts(replies)
        assert "19" in texts(replies) and "8350" in texts(replies)
        # No console is open on this stack: she is told so at once, and offered a callback window.
        assert said(replies, "utter_handoff_offline", lang)
        assert said(replies, "utter_ask_safe_to_chat", lang)
        case = her_case(stack, store, chat)
        assert case is not None and case["priority"] == "urgent" and case["status"] == "queued" and case["danger"]

        replies = await chat.say(conv["yes"])
        assert said(replies, "utter_ask_urgent_form_region", lang), texts(replies)
        replies = await chat.say(conv["city"])
        assert said(replies, "utter_urgent_intake_done", lang), texts(replies)
        case = her_case(stack, store, chat)
        assert case["safe_to_chat"] == "yes"
        assert case["region"] == conv["city_region"]
        assert case["intake_done"]

        # The bot has stepped back: her next words go to the case, and she is told her place in line
        # — honestly: nobody is online, so not "soon".
        replies = await chat.say(conv["violence"])
        assert said_text(replies, "handoff_waiting_offline", lang), texts(replies)
        messages = store.case_messages(case["id"])
        assert [m["author"] for m in messages][-1] == "user"


async def test_violence_is_heard_and_oriented_to_services_in_her_region(stack, store, conv):
    lang = conv["lang"]
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv["violence"])
        assert said(replies, "utter_listen", lang), texts(replies)
        # The first question is whether she is safe right now, with "no" one tap away.
        assert said(replies, "utter_ask_safe_now", lang), texts(replies)
        assert "/immediate_danger" in payloads(replies) and len(payloads(replies)) <= 3
        assert her_case(stack, store, chat) is None
        replies = await chat.say(conv["yes"])
        assert said(replies, "utter_ask_region", lang), texts(replies)
        replies = await chat.say(conv["city"])
        assert said(replies, "utter_services_found", lang), texts(replies)
        assert said(replies, "utter_offer_counsellor", lang)
        replies = await chat.say(conv["yes"])
        assert said(replies, "utter_handoff_offline", lang), texts(replies)
        case = her_case(stack, store, chat)
        assert case["priority"] == "high" and case["region"] == conv["city_region"] and not case["danger"]


@pytest.mark.parametrize("answer", ["no", "/immediate_danger"])
async def test_not_safe_now_after_telling_of_violence_starts_the_urgent_path(stack, store, conv, answer):
    lang = conv["lang"]
    async with ChatClient(stack.url) as chat:
        await chat.say(conv["violence"])
        replies = await chat.say(conv.get(answer, answer))
        assert said(replies, "utter_urgent_ack", lang), texts(replies)
        assert "19" in texts(replies)
        case = her_case(stack, store, chat)
        assert case is not None and case["priority"] == "urgent" and case["danger"]


async def test_self_harm_gets_a_gentle_reply_with_the_medical_numbers_first(stack, store, conv):
    lang = conv["lang"]
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv["self_harm"])
        assert said(replies, "utter_self_harm_ack", lang), texts(replies)
        assert not said(replies, "utter_urgent_ack", lang)
        numbers = texts(replies)
        assert numbers.index("15") < numbers.index("19") and "141" in numbers and "stopsilence.org" in numbers
        case = her_case(stack, store, chat)
        assert case is not None and case["priority"] == "urgent" and case["category"] == "self_harm"


async def test_an_interruption_gets_the_quick_exit_not_the_urgent_reply(stack, store, conv):
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv["interruption"])
        assert said(replies, "utter_stop", conv["lang"]), texts(replies)
        assert {"maak": "quick_exit"} in [r.get("custom") for r in replies]
        assert not said(replies, "utter_urgent_ack", conv["lang"])
        assert her_case(stack, store, chat) is None


@pytest.mark.parametrize("topic", ["job", "training", "business"])
async def test_opportunities_in_her_region(stack, conv, topic):
    lang = conv["lang"]
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv[topic])
        assert said(replies, "utter_ask_region", lang), texts(replies)
        replies = await chat.say(conv["city"])
        assert said(replies, "utter_opportunities_found", lang), texts(replies)
        assert said(replies, "utter_offer_help_apply", lang)


@pytest.mark.parametrize(
    "topic, intro", [("legal", "utter_legal_intro"), ("shelter", "utter_shelter_intro"), ("health", "utter_health_intro")]
)
async def test_questions_are_oriented_to_the_right_service(stack, conv, topic, intro):
    lang = conv["lang"]
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv[topic])
        assert said(replies, intro, lang), texts(replies)
        if topic == "shelter":
            # Looking for a place to stay, she is asked first whether she is safe right now.
            assert said(replies, "utter_ask_safe_now", lang), texts(replies)
            replies = await chat.say(conv["yes"])
            assert said(replies, "utter_ask_region", lang), texts(replies)
        replies = await chat.say(conv["city"])
        assert said(replies, "utter_services_found", lang), texts(replies)


@pytest.mark.parametrize("topic, intro", [("legal", "utter_legal_intro"), ("health", "utter_health_intro")])
async def test_a_question_that_names_violence_asks_first_whether_she_is_safe(stack, topic, intro):
    fr = conversation("fr")
    async with ChatClient(stack.url) as chat:
        await chat.say(fr["greet"])
        # The question as the NLU reads "… il me frappe": its intent and the form of violence it names.
        replies = await chat.say(f'/ask_{topic}{{"violence_type": "physical"}}')
        assert said(replies, intro, "fr") and said(replies, "utter_ask_safe_now", "fr"), texts(replies)
        assert "/immediate_danger" in payloads(replies) and len(payloads(replies)) <= 3
        replies = await chat.say(fr["yes"])
        assert said(replies, "utter_ask_region", "fr"), texts(replies)
        replies = await chat.say(fr["city"])
        assert said(replies, "utter_services_found", "fr"), texts(replies)


async def test_numbers_at_any_point(stack, conv):
    lang = conv["lang"]
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv["job"])
        assert said(replies, "utter_ask_region", lang)
        replies = await chat.say(conv["numbers"])
        assert said(replies, "utter_numbers", lang), texts(replies)
        for number in ("19", "177", "15", "8350"):
            assert number in texts(replies)
        # The question she was asked comes back after the numbers.
        assert said(replies, "utter_ask_region", lang)


async def test_stop_ends_at_once_with_a_neutral_message(stack, conv):
    async with ChatClient(stack.url) as chat:
        await chat.say(conv["violence"])
        replies = await chat.say(conv["stop"])
    assert said(replies, "utter_stop", conv["lang"]), texts(replies)
    assert {"maak": "quick_exit"} in [r.get("custom") for r in replies]


async def test_forget_me_erases_everything(stack, store, conv):
    async with ChatClient(stack.url) as chat:
        await chat.say(conv["human"])
        conv_id = conversation_id(stack.settings.secret, "webchat", chat.session_id)
        assert store.get_contact(conv_id) is not None
        assert her_case(stack, store, chat) is not None
        # A counsellor has not joined yet, so Rasa still answers; forget me works in every state.
        replies = await chat.say(conv["forget"])
    assert said(replies, "utter_forgotten", conv["lang"]) or said_text(replies, "forgotten", conv["lang"]), texts(replies)
    assert store.get_contact(conv_id) is None
    assert store.open_case_for(conv_id) is None
    tracker = sa.create_engine(stack.settings.tracker_url)
    with tracker.connect() as connection:
        left = connection.execute(sa.text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": conv_id}).scalar()
    assert left == 0


async def test_out_of_scope_offers_a_human(stack, conv):
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv["out_of_scope"])
    assert said(replies, "utter_out_of_scope", conv["lang"]), texts(replies)
    assert "/request_human" in payloads(replies)


async def test_asking_for_a_person_queues_a_case(stack, store, conv):
    async with ChatClient(stack.url) as chat:
        replies = await chat.say(conv["human"])
        assert said(replies, "utter_handoff_offline", conv["lang"]), texts(replies)
        case = her_case(stack, store, chat)
    assert case["priority"] == "normal" and case["status"] == "queued"
    assert case["lang"] == conv["lang"]
    # The case card carries what she said, so she never has to repeat it.
    assert conv["human"] in Cipher(stack.settings.data_key).decrypt(case["summary_enc"])
