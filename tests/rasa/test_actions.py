"""The safety actions, run as the action server runs them (rasa-sdk's dispatcher and tracker)."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.gateway import GatewayClient
from actions.handoff import ActionRequestHandoff
from actions.safety import QUICK_EXIT, ActionForgetMe


def tracker(text: str, intent: str, danger: str) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "danger": danger, "entities": []}
    return Tracker("conv", {"lang": "fr"}, latest, [], False, None, {}, "action_listen")


@pytest.mark.parametrize(
    ("text", "danger", "exits"),
    [
        ("supprimez tout, mon frère veut voir mon téléphone", "interruption", True),  # the decision read it
        ("supprime la conversation vite", "none", True),  # her words say hurry
        ("m7i kolchi bzerba", "none", True),
        ("امسحوا كل شيء، هو قادم", "none", True),  # someone is coming
        ("je voudrais que vous effaciez mes données s'il vous plaît", "none", False),  # calm: she stays
    ],
)
async def test_forget_me_asked_in_a_hurry_also_clears_the_chat(text: str, danger: str, exits: bool) -> None:
    dispatcher = CollectingDispatcher()
    await ActionForgetMe().run(dispatcher, tracker(text, "forget_me", danger), {})
    sent = [message.get("custom") or message.get("response") for message in dispatcher.messages]
    assert sent[:2] == ["utter_forgotten", {"maak": "forget"}]
    assert (QUICK_EXIT in sent) is exits


@pytest.mark.parametrize(("status", "queued"), [("queued", True), ("claimed", False)])
async def test_no_place_in_line_once_a_counsellor_has_her_case(monkeypatch, status: str, queued: bool) -> None:
    async def handoff(self, conversation_id: str, **case) -> dict:
        return {"case_id": 1, "status": status, "position": 1 if queued else 0, "counsellors_online": 1}

    monkeypatch.setattr(GatewayClient, "request_handoff", handoff)
    dispatcher = CollectingDispatcher()
    await ActionRequestHandoff().run(dispatcher, tracker("aidez moi il me frappe", "immediate_danger", "urgent"), {})
    sent = [message.get("response") for message in dispatcher.messages]
    assert "utter_numbers" in sent
    assert ("utter_handoff_queued" in sent) is queued
