"""What works at every moment: the emergency numbers, stop, forget me."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import facts, lang_of
from nlu.danger import FORGET_INTENT, clears_the_chat

# The channel clears what it can of the chat (CONTRACTS: interruptions and the stop word).
QUICK_EXIT = {"maak": "quick_exit"}


class ActionEmergencyNumbers(Action):
    """The numbers she can call, from facts/numbers.yml, in her language."""

    def name(self) -> Text:
        return "action_emergency_numbers"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_numbers", numbers=facts().render_numbers(lang_of(tracker)))
        return []


class ActionStop(Action):
    """Quick exit: a neutral goodbye, and the channel is told to clear what it can."""

    def name(self) -> Text:
        return "action_stop"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_stop")
        dispatcher.utter_message(json_message=QUICK_EXIT)
        return [ActiveLoop(None), SlotSet("requested_slot", None)]


class ActionForgetMe(Action):
    """Confirms the erasure; the gateway erases her contact, cases and this tracker once the turn ends.

    Asked in a hurry ("delete the chat quickly, he is looking at my phone"), the channel also clears
    what it can, as the stop word does (`nlu.danger.clears_the_chat`).
    """

    def name(self) -> Text:
        return "action_forget_me"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        dispatcher.utter_message(response="utter_forgotten")
        dispatcher.utter_message(json_message={"maak": "forget"})
        if clears_the_chat(
            FORGET_INTENT, tracker.latest_message.get("danger"), tracker.latest_message.get("text") or ""
        ):
            dispatcher.utter_message(json_message=QUICK_EXIT)
        return [ActiveLoop(None), AllSlotsReset()]
