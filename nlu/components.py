"""Maak's custom Rasa NLU components.

They wrap the plain modules of `nlu/` (normalisation, language identification, the gazetteer of
`facts/`, the danger-now decision) so that Rasa, the gateway and `maak parse` share one implementation.
The project root must be importable when a model is trained and when it is loaded.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, METADATA, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from core.languages import LANGS
from nlu.danger import FORGET_INTENT, STOP_INTENT, URGENT_INTENT, Assessment, assess
from nlu.langid import identify
from nlu.normalise import normalise_token
from nlu.places import default_places
from nlu.violence_types import violence_types

# An interruption that she also asked to erase stays what she asked.
KEEP_ON_INTERRUPTION = frozenset({STOP_INTENT, FORGET_INTENT})
# What an unconfirmed immediate_danger becomes when the ranking offers nothing else, and what an
# unclear message that names a form of violence becomes: the violence path, which listens and
# asks first whether she is safe right now.
NOT_URGENT_FALLBACK = "report_violence"
UNCLEAR_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
# Questions whose path does not ask the safety question by itself: when the danger-now decision
# is in doubt about one, it takes the violence path, which asks it first.
ASK_FIRST_WHEN_IN_DOUBT = UNCLEAR_INTENTS | {"ask_health", "ask_legal", "seek_job", "seek_training", "start_business"}


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


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class IntentClassifier(LogisticRegressionClassifier):
    """Rasa's logistic-regression intent classifier, with its regularisation `C` configurable.

    A linear model over the word and character n-gram counts reads her intent about as well as
    DIET on these data (docs/nlu.md) and trains in about a minute instead of several: urgency is
    not its job (the danger-now decision overrides it), and the time goes to what CI and an
    operator's `maak train` wait for.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 1.0}

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage, resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf.C = float(self.config["C"])

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "IntentClassifier":
        # Rasa's loader quietly returns an untrained classifier when the stored one cannot be
        # read; every message would then fail to parse. Say so when the model loads instead.
        component = super().load(config, model_storage, resource, execution_context, **kwargs)
        if not hasattr(component.clf, "classes_"):
            raise ValueError("the intent classifier of this model cannot be read: run `maak train --force`")
        return component  # type: ignore[return-value]


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
        self._places = default_places()

    def process(self, messages: List[Message]) -> List[Message]:
        name = self.__class__.__name__
        for message in messages:
            text = message.get(TEXT) or ""
            found: List[Dict[Text, Any]] = []
            place = self._places.find(text)
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
    """Makes the intent agree with the one urgent decision (`nlu.danger.assess`).

    Danger read in her words makes the intent `immediate_danger`, so that the dialogue takes the
    urgent path; an `immediate_danger` from the intent classifier that the decision does not
    confirm becomes the next intent of its ranking; an interruption ("someone is coming") becomes
    `stop`, the quick exit. The classifier's own ranking is kept in `intent_ranking`, the
    decision in `urgent` and `danger` (its outcome). An unclear message (fallback, out of scope)
    that names a form of violence (the `violence_type` entity) becomes `report_violence`, so that
    she is listened to and asked whether she is safe now rather than told it is out of scope; so
    does a question the decision is in doubt about (danger told by its situation alone).
    Button payloads ("/immediate_danger") are her explicit choice and are left alone.
    """

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith(INTENT_MESSAGE_PREFIX):
                continue
            intent = (message.get(INTENT) or {}).get("name")
            decision = assess(text)
            message.set("urgent", decision.urgent, add_to_output=True)
            message.set("danger", decision.outcome, add_to_output=True)
            names_violence = any(e.get("entity") == "violence_type" for e in message.get(ENTITIES) or [])
            wanted = _intent_for(decision, intent, message.get(INTENT_RANKING_KEY) or [], names_violence)
            if wanted != intent:
                message.set(INTENT, {"name": wanted, "confidence": 1.0}, add_to_output=True)
        return messages


def _intent_for(
    decision: Assessment, intent: str | None, ranking: List[Dict[Text, Any]], names_violence: bool
) -> str | None:
    if decision.urgent:
        return URGENT_INTENT
    if decision.interruption and intent not in KEEP_ON_INTERRUPTION:
        return STOP_INTENT
    if (intent in UNCLEAR_INTENTS and names_violence) or (intent in ASK_FIRST_WHEN_IN_DOUBT and decision.doubtful):
        return NOT_URGENT_FALLBACK
    if intent != URGENT_INTENT:
        return intent
    others = [r.get("name") for r in ranking if r.get("name") not in (URGENT_INTENT, None)]
    return others[0] if others else NOT_URGENT_FALLBACK
