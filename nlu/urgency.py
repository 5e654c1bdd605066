"""The danger-now classifier: three linear models over every message, in every language tag.

Urgency is its own decision, not one intent among twenty. A message is urgent when three
questions are answered yes. The *outcome* model, a softmax over the whole message, says what
it is —

* `none`: nothing urgent (ordinary questions, violence that is over, he is away now);
* `danger`: she, or someone with her, is in danger now or in the next hours;
* `self_harm`: she may hurt herself now or tonight (urgent too, with a gentler reply);
* `interruption`: she has to stop writing ("someone is coming"): the quick exit, never the
  urgent reply.

The *now* model learns danger now against the same words with a distance (years ago, he is away
now, a threat with no time, an everyday "help!") and against ordinary messages, never against
interruptions or other requests. Among messages that all speak of violence, what tells them apart
is time and place, so those cues weigh there instead of drowning under the violence words.

The *harm* model asks whether the message speaks of harm at all — violence, danger, self-harm,
whenever it happened — against ordinary messages (a bank card, a train, a comment on the news).
Ordinary public text is far more varied than any training set, and on words it has never seen
the outcome model can lean on common endings that danger messages happen to share; the harm model
is trained on thousands of ordinary messages, so its "no" holds where the outcome model guesses;
it is not asked when the outcome model is confident, since danger told by its details alone has
no word of harm in it.

The models read the hashed features of `nlu.features`, with the cues of risk and time
(`nlu/lexicon/cues.yml`) and their pairs: a linear model cannot learn "a burn AND a moment ago"
from the two words apart, but it can weigh the pair. They are plain arrays: reading needs
only NumPy, and the gateway, Rasa's components and `maak parse` load the same file in either
environment; fitting (`fit`) also needs scikit-learn and runs where Rasa is installed.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np

from nlu.features import DIMENSIONS, cues_digest, digest, features, logistic, matrix, scores, sigmoid

MODEL_PATH = Path(__file__).parent / "urgency.npz"
OUTCOMES: tuple[str, ...] = ("none", "danger", "self_harm", "interruption")
URGENT_OUTCOMES = frozenset({"danger", "self_harm"})


class UrgencyModelError(ValueError):
    """The model file is missing or does not match this code."""


@dataclass(frozen=True)
class Thresholds:
    """Where each model decides "urgent": its probability at least this."""

    urgent: float
    now: float
    harm: float
    confident: float  # an urgent probability from which the harm model is not asked


def decides_urgent(urgent, now, harm, limits: Thresholds):  # type: ignore[no-untyped-def]
    """The decision from the three probabilities (floats, or NumPy arrays of readings)."""
    # The harm model vetoes only a doubtful reading: danger told by its details alone ("the
    # screaming upstairs stopped, something heavy fell") has no word of harm in it.
    speaks_of_harm = (harm >= limits.harm) | (urgent >= limits.confident)
    return (urgent >= limits.urgent) & (now >= limits.now) & speaks_of_harm


# The two yes/no models, in the order of their rows in the model file.
GATES: tuple[str, ...] = ("now", "harm")


@dataclass(frozen=True)
class Reading:
    """What the models read in one message: the outcome and the probability of each, the
    probabilities that harm is happening now or imminent (`now`) and that it speaks of harm, and
    whether it is in doubt: not urgent, though the outcome model alone reads it so."""

    outcome: str
    probabilities: dict[str, float]
    now: float
    harm: float
    doubtful: bool = False

    @property
    def urgent_probability(self) -> float:
        return sum(self.probabilities[o] for o in URGENT_OUTCOMES)


class UrgencyModel:
    """The trained weights, their decision thresholds, and the hash of the data they came from."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, gates: np.ndarray, gate_bias: np.ndarray,
                 thresholds: Thresholds, data_hash: str) -> None:
        if weights.shape != (len(OUTCOMES), DIMENSIONS) or bias.shape != (len(OUTCOMES),):
            raise UrgencyModelError(f"urgency model: weights {weights.shape} do not fit {len(OUTCOMES)} outcomes")
        if gates.shape != (len(GATES), DIMENSIONS) or gate_bias.shape != (len(GATES),):
            raise UrgencyModelError(f"urgency model: gate weights {gates.shape} do not fit {GATES}")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.gates = gates.astype(np.float32)
        self.gate_bias = gate_bias.astype(np.float32)
        self.thresholds = thresholds
        self.data_hash = data_hash

    @classmethod
    def load(cls, path: Path | None = None) -> UrgencyModel:
        source = path or MODEL_PATH
        try:
            with np.load(source, allow_pickle=False) as data:
                outcomes = tuple(str(o) for o in data["outcomes"])
                if outcomes != OUTCOMES:
                    raise UrgencyModelError(f"urgency model {source}: outcomes {outcomes} differ from {OUTCOMES}")
                thresholds = Thresholds(*(float(v) for v in data["thresholds"]))
                return cls(data["weights"], data["bias"], data["gates"], data["gate_bias"], thresholds,
                           str(data["data_hash"]))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise UrgencyModelError(f"urgency model {source}: cannot be read ({type(exc).__name__})") from exc

    def save(self, path: Path | None = None) -> None:
        np.savez_compressed(
            path or MODEL_PATH,
            weights=self.weights.astype(np.float16),
            bias=self.bias,
            gates=self.gates.astype(np.float16),
            gate_bias=self.gate_bias,
            thresholds=np.array(astuple(self.thresholds), np.float32),
            data_hash=np.str_(self.data_hash),
            outcomes=np.array(OUTCOMES),
        )

    def read(self, text: str) -> Reading:
        """The outcome: urgent when the urgent outcomes together pass their threshold and the now
        and harm models pass theirs."""
        found = features(text, cues=True)
        if not found:
            # Nothing to read ("?", "...", an emoji): the biases alone would pick whichever outcome
            # the class balancing favoured, and "?" during a counsellor's chat is not "I must stop".
            return Reading("none", {o: float(o == "none") for o in OUTCOMES}, 0.0, 0.0)
        outcome_scores = scores(self.weights, self.bias, found)
        outcome_scores = np.exp(outcome_scores - outcome_scores.max())
        probabilities = {o: float(v) for o, v in zip(OUTCOMES, outcome_scores / outcome_scores.sum())}
        now, harm = (float(v) for v in sigmoid(scores(self.gates, self.gate_bias, found)))
        urgent = probabilities["danger"] + probabilities["self_harm"]
        if decides_urgent(urgent, now, harm, self.thresholds):
            outcome = "self_harm" if probabilities["self_harm"] > probabilities["danger"] else "danger"
        else:
            outcome = "interruption" if probabilities["interruption"] > probabilities["none"] else "none"
        # Danger told by its situation alone ("my mouth is full of blood, he is still shouting in
        # the living room") often reads urgent to the outcome model while the now or harm model
        # vetoes it: not urgent, but worth asking whether she is safe right now.
        doubtful = outcome == "none" and urgent >= self.thresholds.urgent
        return Reading(outcome, probabilities, now, harm, doubtful)


@functools.lru_cache(maxsize=1)
def default_model() -> UrgencyModel:
    """The model shipped with Maak (`nlu/urgency.npz`), loaded once."""
    return UrgencyModel.load()


# --- Training ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One training message and its outcome."""

    text: str
    outcome: str
    lang: str = ""
    kind: str = ""
    source: str = ""
    intent: str = ""


def examples_hash(examples: Iterable[Example]) -> str:
    """A digest of the training examples (order-independent) and of the cue lexicon the model
    reads, stored in the model file."""
    return digest([cues_digest(), *(f"{e.outcome}\t{e.intent}\t{e.kind}\t{e.text}" for e in examples)])


# Kinds of message that are not danger now, which the now model learns against danger now: harm
# with a distance (DANGER.md) and ordinary messages, whose "now" and "tonight" are no danger.
NOT_NOW_KINDS = frozenset({
    "past_violence", "away_now", "fear_no_time", "numbers_in_case", "survivor_request", "everyday_urgency",
    "off_topic", "plain",
})
# What the harm model learns: messages that speak of harm (danger now, violence reported, harm with
# a distance) against messages of ordinary life (an everyday "help!" included).
HARM_KINDS = frozenset({"past_violence", "away_now", "fear_no_time", "numbers_in_case", "survivor_request"})
HARM_INTENT = "report_violence"
ORDINARY_INTENTS = frozenset({
    "greet", "goodbye", "thank", "affirm", "deny", "request_human", "bot_challenge", "give_location",
    "seek_job", "seek_training", "start_business", "out_of_scope",
})
# Inverse regularisation, read off held-out writers' sets: the outcome model gains with weak
# regularisation (many rare n-grams carry the kinds), the yes/no models with more.
OUTCOME_C = 1024.0
GATE_C = 64.0


def speaks_of_harm(example: Example) -> bool | None:
    """The harm model's label: True, False, or None for a message it does not learn from (an
    interruption, a question about shelter or the law, which may or may not speak of harm)."""
    if example.outcome in URGENT_OUTCOMES or example.kind in HARM_KINDS or example.intent == HARM_INTENT:
        return True
    return False if example.intent in ORDINARY_INTENTS else None


def _gate_labels(examples: Sequence[Example]) -> dict[str, dict[int, bool]]:
    """Per yes/no model, the examples it learns from and their labels."""
    now = {i: e.outcome in URGENT_OUTCOMES for i, e in enumerate(examples)
           if e.outcome in URGENT_OUTCOMES or e.kind in NOT_NOW_KINDS}
    harm = {i: label for i, e in enumerate(examples) if (label := speaks_of_harm(e)) is not None}
    return {"now": now, "harm": harm}


def fit(examples: Sequence[Example], thresholds: Thresholds) -> UrgencyModel:
    """The three models, trained on the examples (scikit-learn), as an `UrgencyModel`."""
    features_matrix = matrix([e.text for e in examples], cues=True)
    labels = np.array([OUTCOMES.index(e.outcome) for e in examples])
    outcomes = logistic(features_matrix, labels, OUTCOME_C)
    weights = np.zeros((len(OUTCOMES), DIMENSIONS), dtype=np.float32)
    bias = np.full(len(OUTCOMES), -30.0, dtype=np.float32)  # an outcome with no example is never read
    for row, label in enumerate(outcomes.classes):
        weights[label] = outcomes.coef[row]
        bias[label] = outcomes.intercept[row]

    gates = np.zeros((len(GATES), DIMENSIONS), dtype=np.float32)
    gate_bias = np.zeros(len(GATES), dtype=np.float32)
    chosen_by_gate = _gate_labels(examples)
    for row, name in enumerate(GATES):
        chosen = chosen_by_gate[name]
        gate_labels = np.array([int(v) for v in chosen.values()])
        if len(set(gate_labels)) < 2:
            raise ValueError(f"the {name} model needs examples of both answers")
        gate = logistic(features_matrix[list(chosen)], gate_labels, GATE_C)
        gates[row], gate_bias[row] = gate.coef[0], gate.intercept[0]
    return UrgencyModel(weights, bias, gates, gate_bias, thresholds, examples_hash(examples))
