"""What helps her where she is: services of the care chain, or work, training and project offers."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import facts, lang_of
from facts import Place

# Which kinds of service answer which topic, the most suitable first.
SERVICE_TYPES_BY_TOPIC = {
    "violence": ["listening_centre", "multifunctional_space", "court_cell", "police_cell", "hospital_unit"],
    "legal": ["court_cell", "multifunctional_space", "listening_centre"],
    "shelter": ["shelter", "multifunctional_space", "listening_centre"],
    "health": ["hospital_unit", "listening_centre"],
}
OPPORTUNITY_KIND_BY_TOPIC = {"job": "job", "training": "training", "business": "business"}
MAX_ITEMS = 5


class ActionShowResults(Action):
    """Lists services (violence, legal, shelter, health) or opportunities for her topic and region."""

    def name(self) -> Text:
        return "action_show_results"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        lang = lang_of(tracker)
        topic = tracker.get_slot("topic")
        region = tracker.get_slot("region")
        known = region in facts().regions
        place = facts().place_name(Place(region, tracker.get_slot("city")), lang) if known else ""
        if topic in SERVICE_TYPES_BY_TOPIC:
            self._services(dispatcher, lang, topic, region if known else None, place)
            dispatcher.utter_message(response="utter_offer_counsellor")
        elif topic in OPPORTUNITY_KIND_BY_TOPIC:
            self._opportunities(dispatcher, lang, OPPORTUNITY_KIND_BY_TOPIC[topic], region if known else None, place)
            dispatcher.utter_message(response="utter_offer_help_apply")
        elif known:
            dispatcher.utter_message(response="utter_location_noted", place=place)
        else:
            dispatcher.utter_message(response="utter_greet")
        return []

    @staticmethod
    def _services(dispatcher: CollectingDispatcher, lang: str, topic: str, region: str | None, place: str) -> None:
        found = facts().services_for(region, SERVICE_TYPES_BY_TOPIC[topic])[:MAX_ITEMS]
        text = "\n".join(facts().render_service(s, lang) for s in found)
        local = region is not None and any(s.region == region for s in found)
        if local:
            dispatcher.utter_message(response="utter_services_found", place=place, services=text)
        else:
            dispatcher.utter_message(response="utter_services_national", services=text)

    @staticmethod
    def _opportunities(dispatcher: CollectingDispatcher, lang: str, kind: str, region: str | None, place: str) -> None:
        found = facts().opportunities_for(region, kind)[:MAX_ITEMS]
        items = "\n".join(facts().render_opportunity(o, lang) for o in found)
        if region is not None and any(o.region == region for o in found):
            dispatcher.utter_message(response="utter_opportunities_found", place=place, items=items)
        else:
            dispatcher.utter_message(response="utter_opportunities_none", place=place or "—")
            if items:
                dispatcher.utter_message(text=items)
