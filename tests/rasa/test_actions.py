"""The safety actions, run as the action server runs them (rasa-sdk's dispatcher and tracker)."""

from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.safety import QUICK_EXIT, ActionForgetMe


def tracker(text: str, intent: str, danger: str) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "danger": danger, "entities": []}
    return Tracker("conv", {"lang": "fr"}, latest, [], False, None, {}, "action_listen")


@pytest.mark.parametrize(("danger", "exits"), [("interruption", True), ("none", False)])
async def test_forget_me_asked_in_a_hurry_also_clears_the_chat(danger: str, exits: bool) -> None:
    dispatcher = CollectingDispatcher()
    await ActionForgetMe().run(dispatcher, tracker("supprime la conversation vite", "forget_me", danger), {})
    sent = [message.get("custom") or message.get("response") for message in dispatcher.messages]
    assert sent[:2] == ["utter_forgotten", {"maak": "forget"}]
    assert (QUICK_EXIT in sent) is exits
