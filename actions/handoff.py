"""Calling a counsellor: the handoff request, and the end of the questions asked while she waits."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import answered_not_safe, facts, her_words, lang_of, latest_intent
from actions.gateway import GatewayClient, GatewayUnavailable
from nlu.danger import URGENT_INTENT, assess

VIOLENCE_TOPICS = {"violence", "legal", "shelter", "health"}


def priority_of(urgent: bool, topic: str | None) -> str:
    """Urgent for danger now; high when she has told of violence; normal otherwise."""
    if urgent:
        return "urgent"
    return "high" if topic in VIOLENCE_TOPICS else "normal"


class ActionRequestHandoff(Action):
    """Opens her case in the counsellors' queue and tells her where she stands.

    In danger she gets the emergency numbers at once, before anything else can go wrong. When no
    counsellor is online she is told so, and offered a safe window for a counsellor to write back.
    """

    def name(self) -> Text:
        return "action_request_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        lang = lang_of(tracker)
        text = tracker.latest_message.get("text") or ""
        decision = assess(text)
        urgent = latest_intent(tracker) == URGENT_INTENT or decision.urgent or answered_not_safe(tracker)
        # Self-harm gets its own gentle words, the medical numbers first, and a chat for the young.
        self_harm = decision.self_harm
        topic = tracker.get_slot("topic")
        numbers = facts().render_numbers(lang, self_harm=self_harm)
        if urgent:
            if self_harm:
                dispatcher.utter_message(response="utter_self_harm_ack")
            else:
                dispatcher.utter_message(response="utter_urgent_ack")
            dispatcher.utter_message(response="utter_numbers", numbers=numbers)
        try:
            result = await GatewayClient().request_handoff(
                tracker.sender_id,
                priority=priority_of(urgent, topic),
                category=("self_harm" if self_harm else "danger") if urgent else (topic or "request_human"),
                lang=lang,
                region=tracker.get_slot("region"),
                violence_type=tracker.get_slot("violence_type"),
                danger=urgent,
                summary=her_words(tracker),
            )
        except GatewayUnavailable:
            dispatcher.utter_message(response="utter_handoff_unavailable")
            if not urgent:
                dispatcher.utter_message(response="utter_numbers", numbers=numbers)
            return [ActiveLoop(None), SlotSet("requested_slot", None)]
        if result.get("status") == "claimed":
            # A counsellor took her case while this turn ran: "a counsellor joined" has told her, no place in line.
            return [ActiveLoop(None), SlotSet("requested_slot", None)]
        if result.get("counsellors_online", 1):
            dispatcher.utter_message(response="utter_handoff_queued", position=result["position"])
        else:
            # Nobody online: say so at once, and ask when a counsellor may safely write back.
            dispatcher.utter_message(response="utter_handoff_offline")
        return [ActiveLoop(None), SlotSet("requested_slot", None)]


class ActionUrgentIntakeDone(Action):
    """The questions are answered or skipped: the case card is complete, the bot steps back."""

    def name(self) -> Text:
        return "action_urgent_intake_done"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        await GatewayClient().update_case(tracker.sender_id, intake_done=True, summary=her_words(tracker))
        dispatcher.utter_message(response="utter_urgent_intake_done")
        return []
