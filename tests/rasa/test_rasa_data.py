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


def test_every_response_is_filled_in_without_an_error(monkeypatch):
    # Rasa fills `{slot}` placeholders in every text and button of a response; a brace it cannot
    # fill (a button's JSON payload) is logged as an exception on every turn that sends it.
    import copy

    import yaml
    from rasa.core.nlg import interpolator

    from core.settings import PROJECT_ROOT

    failures: list[str] = []
    monkeypatch.setattr(interpolator.structlogger, "exception", lambda *a, **k: failures.append(k.get("response")))

    class Values(dict):
        """A value for every slot or argument an action passes: names only, never JSON."""

        def __missing__(self, key: str) -> str:
            if not key.isidentifier():
                raise KeyError(key)
            return "x"

    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    for variants in domain["responses"].values():
        for variant in variants:
            filled = interpolator.interpolate(copy.deepcopy(variant), Values())
            for button in filled.get("buttons", []):
                assert "{{" not in button["payload"] and "}}" not in button["payload"], button
    assert failures == []
