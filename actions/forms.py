"""Validation of the two forms: the questions asked while she waits, and her region.

Every question can be skipped: a woman in danger is never held in a loop by a question.
"""

from __future__ import annotations

from typing import Any, Dict, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import facts, latest_intent
from actions.gateway import GatewayClient
from nlu.places import find_place

UNKNOWN = "unknown"


def resolve_region(value: Any, tracker: Tracker) -> tuple[str | None, str | None]:
    """The region code (and city) meant by a slot value: a code, a place named in free text, or None."""
    if value == UNKNOWN:
        return UNKNOWN, None
    if isinstance(value, str) and value in facts().regions:
        return value, tracker.get_slot("city")
    place = find_place(str(value or ""), expecting=True)
    if place is None:
        return None, None
    return place.region, place.city


def _asked_again_already(tracker: Tracker) -> bool:
    """True when the bot's previous turn already said "I didn't recognise that place"."""
    users_seen = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users_seen += 1
            if users_seen == 2:
                return False
        elif event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") == "utter_region_not_understood":
            return True
    return False

class ValidateUrgentForm(FormValidationAction):
    """While she waits for a counsellor: is it safe to chat, where is she. Each answer goes to the case."""

    def name(self) -> Text:
        return "validate_urgent_form"

    async def validate_safe_to_chat(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> Dict[Text, Any]:
        if value not in ("yes", "no"):
            # "He is coming" in answer to "is it safe?" is a no; anything else we do not guess.
            value = "no" if latest_intent(tracker) == "immediate_danger" else UNKNOWN
        await GatewayClient().update_case(tracker.sender_id, safe_to_chat=value)
        return {"safe_to_chat": value}

    async def validate_region(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> Dict[Text, Any]:
        region, city = resolve_region(value, tracker)
        region = region or UNKNOWN  # never ask twice while she is in danger
        await GatewayClient().update_case(tracker.sender_id, region=region)
        return {"region": region, "city": city}


class ValidateRegionForm(FormValidationAction):
    """Her region, to list services or opportunities near her; asked again once, then skipped."""

    def name(self) -> Text:
        return "validate_region_form"

    async def validate_region(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> Dict[Text, Any]:
        region, city = resolve_region(value, tracker)
        if region is None:
            if _asked_again_already(tracker):
                return {"region": UNKNOWN, "city": None}
            dispatcher.utter_message(response="utter_region_not_understood")
            return {"region": None}
        return {"region": region, "city": city}
