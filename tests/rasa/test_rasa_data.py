"""The Rasa project's data passes Rasa's validation, strictly (`make validate`)."""

from __future__ import annotations

from pathlib import Path

from tools.validate import known_to_be_used, responses_sent_by_actions, validate


def test_rasa_data_validation_is_clean():
    assert validate() == []


def test_only_responses_that_actions_send_are_excused(tmp_path: Path):
    (tmp_path / "a.py").write_text('dispatcher.utter_message(response="utter_numbers", numbers=x)\n')
    sent = responses_sent_by_actions(tmp_path)
    assert sent == {"utter_numbers"}
    assert known_to_be_used("The utterance 'utter_numbers' is not used in any story or rule.", sent)
    assert known_to_be_used("The utterance 'utter_ask_region' is not used in any story or rule.", sent)
    assert not known_to_be_used("The utterance 'utter_forgotten_text' is not used in any story or rule.", sent)
    assert not known_to_be_used("The example 'safi' was found labeled with multiple different intents", sent)
