"""`make validate`: Rasa's own data validation, strict about every warning but one it cannot know.

`rasa data validate` warns that a response is "not used in any story or rule" when only a custom
action sends it (the numbers, the services found, the place in line…). This check runs the same
validation, reads which responses the actions send and which Rasa sends itself (form questions,
the default fallback), and fails on every other warning or error.
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

from core.settings import PROJECT_ROOT

_UNUSED_RESPONSE = re.compile(r"The utterance '(utter_[a-z_]+)' is not used in any story or rule")
_SENT_BY_ACTION = re.compile(r'response="(utter_[a-z_]+)"')
# Sent by Rasa itself: the forms' questions and the default fallback action's message.
_SENT_BY_RASA = re.compile(r"^utter_(ask_[a-z_]+|default)$")
# Rasa 3.6 prints this notice on every domain it loads, whatever the domain holds.
_ALWAYS_PRINTED = "Slot auto-fill has been removed in 3.0"


def responses_sent_by_actions(actions_dir: Path = PROJECT_ROOT / "actions") -> set[str]:
    return {name for path in actions_dir.glob("*.py") for name in _SENT_BY_ACTION.findall(path.read_text())}


def known_to_be_used(message: str, sent_by_actions: set[str]) -> bool:
    match = _UNUSED_RESPONSE.search(message)
    return bool(match) and (match.group(1) in sent_by_actions or bool(_SENT_BY_RASA.match(match.group(1))))


def validate(root: Path = PROJECT_ROOT) -> list[str]:
    """The problems Rasa finds in the project's data, minus responses that actions send."""
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    importer = TrainingDataImporter.load_from_config(
        config_path=str(root / "config.yml"),
        domain_path=str(root / "domain.yml"),
        training_data_paths=[str(root / "nlu" / "data"), str(root / "bot" / "dialogue")],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validator = Validator.from_importer(importer)
        valid = all(
            [
                validator.verify_domain_validity(),
                validator.verify_actions_in_stories_rules(),
                validator.verify_forms_in_stories_rules(),
                validator.verify_form_slots(),
                validator.verify_slot_mappings(),
                validator.verify_nlu(ignore_warnings=True),
                validator.verify_story_structure(ignore_warnings=True),
            ]
        )
    sent = responses_sent_by_actions(root / "actions")
    problems = [
        str(w.message)
        for w in caught
        if issubclass(w.category, UserWarning)
        and not known_to_be_used(str(w.message), sent)
        and _ALWAYS_PRINTED not in str(w.message)
    ]
    if not valid and not problems:
        problems.append("Rasa reports the project data as invalid")
    return problems


def main() -> int:
    problems = validate()
    for problem in problems:
        print(f"maak: {problem}", file=sys.stderr)
    print("maak: the Rasa data is valid" if not problems else f"maak: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
