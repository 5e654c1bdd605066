"""Maak's custom Rasa NLU components.

They wrap the plain modules of `nlu/` (normalisation, language identification, the gazetteer of
`facts/`, the danger lexicon) so that Rasa, the gateway and `maak parse` share one implementation.
The project root must be importable when a model is trained and when it is loaded.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from facts import LANGS, default_facts
from nlu.danger import default_lexicon, is_urgent
from nlu.langid import identify
from nlu.normalise import normalise_token
from nlu.violence_types import violence_types

URGENT_INTENT = "immediate_danger"


def _entity(name: str, value: str, extractor: str, start: int = 0, end: int = 0) -> Dict[Text, Any]:
    return {"entity": name, "value": value, "start": start, "end": end, "confidence_entity": 1.0, "extractor": extractor}


class _Stateless(GraphComponent):
    """A component with no training and no configuration of its own."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class MaakTokenizer(WhitespaceTokenizer):
    """Whitespace tokens whose lemma is the normalised form (Arabic letter forms, Arabizi spellings).

    The featurisers read lemmas, so "bghiiit" and "bghit", "إمرأة" and "امراة" share features while
    the text that Rasa stores stays exactly what she wrote.
    """

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        for token in tokens:
            token.lemma = normalise_token(token.text) or token.text
        return tokens


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class LanguageIdentifier(_Stateless):
    """Tags each message with its language tag (`lang`), which fills the `lang` slot.

    When one message is ambiguous ("ok", "merci") the conversation keeps the language she was
    using, which the gateway passes as `metadata.lang`; with no such hint the best guess is used.
    """

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            guess = identify(message.get(TEXT) or "")
            known = (message.get(METADATA) or {}).get("lang")
            tag = guess.tag if guess.reliable or known not in LANGS else known
            message.set("lang", tag, add_to_output=True)
            entities = message.get(ENTITIES, []) + [_entity("lang", tag, self.__class__.__name__)]
            message.set(ENTITIES, entities, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class Gazetteer(_Stateless):
    """Region, city and violence type from the data files, in every script and spelling."""

    def __init__(self) -> None:
        self._facts = default_facts()

    def process(self, messages: List[Message]) -> List[Message]:
        name = self.__class__.__name__
        for message in messages:
            text = message.get(TEXT) or ""
            found: List[Dict[Text, Any]] = []
            place = self._facts.find_place(text)
            if place is not None:
                found.append(_entity("region", place.region, name))
                if place.city:
                    found.append(_entity("city", place.city, name))
            for kind in violence_types(text)[:1]:
                found.append(_entity("violence_type", kind, name))
            if found:
                message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class DangerDetector(_Stateless):
    """The urgent decision, recall first: the NLU's `immediate_danger`, or the danger lexicon.

    When the lexicon finds danger that the classifier missed, the intent becomes
    `immediate_danger` so that the dialogue takes the urgent path; the classifier's own ranking is
    kept in `intent_ranking` and the matched lexicon entries in `danger`.
    """

    def __init__(self) -> None:
        self._lexicon = default_lexicon()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            intent = (message.get(INTENT) or {}).get("name")
            matches = self._lexicon.match(text)
            urgent = is_urgent(intent, text)
            message.set("danger", matches, add_to_output=True)
            message.set("urgent", urgent, add_to_output=True)
            if urgent and intent != URGENT_INTENT:
                ranking = message.get(INTENT_RANKING_KEY) or []
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
                message.set(INTENT, {"name": URGENT_INTENT, "confidence": 1.0}, add_to_output=True)
        return messages
