"""The Rasa component that makes the intent agree with the danger-now decision (`nlu.components`)."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from nlu.components import DangerDetector, _intent_for
from nlu.danger import Assessment


@pytest.mark.parametrize(
    ("text", "intent", "violence_type", "expected"),
    [
        # Unclear words that name a form of violence: listen and ask whether she is safe now.
        ("wach normal ki yakhod lflous dyali kolha", "nlu_fallback", "economic", "report_violence"),
        ("wach normal ki yakhod lflous dyali kolha", "out_of_scope", "economic", "report_violence"),
        # Unclear words that name none stay unclear; a clear intent stays what it is.
        ("comment faire un gâteau", "nlu_fallback", None, "nlu_fallback"),
        ("je cherche un avocat pour le divorce", "ask_legal", "psychological", "ask_legal"),
    ],
)
def test_an_unclear_message_that_names_violence_takes_the_violence_path(
    text: str, intent: str, violence_type: str | None, expected: str
) -> None:
    entities = [{"entity": "violence_type", "value": violence_type}] if violence_type else []
    message = Message(data={"text": text, "intent": {"name": intent, "confidence": 0.4}, "entities": entities})
    DangerDetector().process([message])
    assert message.get("intent")["name"] == expected
    assert message.get("urgent") is False


@pytest.mark.parametrize(
    ("intent", "doubtful", "expected"),
    [
        # In doubt, a question whose path does not ask whether she is safe takes the violence
        # path, which asks it first.
        ("seek_training", True, "report_violence"),
        ("ask_health", True, "report_violence"),
        ("out_of_scope", True, "report_violence"),
        # Not in doubt, her question is answered as asked; the shelter path asks anyway, and a
        # short reply or a safety command stays what it is.
        ("seek_training", False, "seek_training"),
        ("ask_shelter", True, "ask_shelter"),
        ("deny", True, "deny"),
        ("forget_me", True, "forget_me"),
    ],
)
def test_a_question_in_doubt_asks_first_whether_she_is_safe(intent: str, doubtful: bool, expected: str) -> None:
    assert _intent_for(Assessment("none", 0.2, doubtful), intent, [], False) == expected
