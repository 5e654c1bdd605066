"""The one decision of "urgent", used by the NLU, the gateway, the actions and the CLI.

Urgent means danger now or in the next hours, for her or someone with her (see docs/nlu.md for
the kinds). The decision is the danger-now classifier of `nlu.urgency`, read over the whole
message and independent of the intent classifier: the gateway calls it before Rasa's turn to open
her case at once, Rasa's `DangerDetector` calls it to choose the path, and `maak parse` reports it.
The only other way to be urgent is to say so explicitly: the `/immediate_danger` button ("I'm in
danger now", "no, I'm not safe"), which the actions read as her intent.
"""

from __future__ import annotations

from dataclasses import dataclass

from nlu.commands import command, opens_with_erase
from nlu.features import MAX_CHARS, cue_matcher
from nlu.phrases import prepare
from nlu.urgency import URGENT_OUTCOMES, UrgencyModel, default_model

URGENT_INTENT = "immediate_danger"
STOP_INTENT = "stop"
FORGET_INTENT = "forget_me"
# The cues (nlu/lexicon/cues.yml) of an erase asked in a hurry: "quickly", "he is coming", "he
# will take my phone".
HURRY_CUES = frozenset({"hurry", "present", "reader"})
# Cues of a danger that a practical request can carry while the classifier reads it calm ("someone
# has followed me with a car since I left work, what do I do?"): with words of harm and no distance
# in time, she is asked first whether she is safe right now.
RISK_CUES = frozenset({"weapon", "kill", "locked", "followed", "sexual", "self_harm", "hiding"})
DISTANCE_CUES = frozenset({"past", "away", "someday", "condition"})


@dataclass(frozen=True)
class Assessment:
    """The decision on one message.

    `outcome` is `danger`, `self_harm` (both urgent), `interruption` (she has to stop writing:
    the quick exit) or `none`; `probability` is the model's probability that it is urgent;
    `doubtful`: not urgent, yet not clearly safe either — the answer asks first whether she is
    safe right now (DANGER.md: when a message is not clearly urgent, ask).
    """

    outcome: str
    probability: float
    doubtful: bool = False

    @property
    def urgent(self) -> bool:
        return self.outcome in URGENT_OUTCOMES

    @property
    def self_harm(self) -> bool:
        return self.outcome == "self_harm"

    @property
    def interruption(self) -> bool:
        return self.outcome == "interruption"


NOTHING = Assessment("none", 0.0)
INTERRUPTION = Assessment("interruption", 0.0)


def assess(text: str, model: UrgencyModel | None = None) -> Assessment:
    """The danger-now decision on one message (nothing for an empty one).

    A message that is, as a whole, one of the safety commands (`nlu.commands`: stop, forget me,
    the numbers) is what she asked for, whatever its words suggest: "m7i kolchi" (erase it all)
    must erase, not read as a wish to disappear. A message that opens by asking to erase the chat
    and goes on with danger ("delete it all, he will go through my phone when he is back") is an
    interruption: the numbers and "a counsellor is coming" on her screen could put her at risk.
    """
    if not text or not text.strip():
        return NOTHING
    wanted = command(text)
    if wanted is not None:
        return INTERRUPTION if wanted == "stop" else NOTHING
    model = model or default_model()
    reading = model.read(text)
    if reading.outcome in URGENT_OUTCOMES and opens_with_erase(text):
        return Assessment("interruption", round(reading.urgent_probability, 4))
    doubtful = reading.doubtful or (
        reading.outcome == "none" and reading.harm >= model.thresholds.harm and _risk_with_no_distance(text))
    return Assessment(reading.outcome, round(reading.urgent_probability, 4), doubtful)


def _risk_with_no_distance(text: str) -> bool:
    found = set(cue_matcher().match(prepare(text[:MAX_CHARS])))
    return bool(found & RISK_CUES) and not found & DISTANCE_CUES


def clears_the_chat(intent: str | None, outcome: str | None, text: str = "") -> bool:
    """Whether the bot's answer ends with the quick exit: the stop word or an interruption (both
    the `stop` intent), or "forget me" asked in a hurry, which erases and then leaves too: the
    decision read an interruption ("delete the chat, he is looking at my phone"), or her words say
    hurry or that someone is here ("erase it all quickly") — she erases because someone may read,
    so her screen is cleared as well."""
    if intent == STOP_INTENT:
        return True
    if intent != FORGET_INTENT:
        return False
    return outcome == "interruption" or bool(HURRY_CUES & set(cue_matcher().match(prepare(text[:MAX_CHARS]))))
