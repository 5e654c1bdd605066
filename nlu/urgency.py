"""The danger-now classifier: two linear models over every message, in every language tag.

Urgency is its own decision, not one intent among twenty. The first model is a softmax over four
outcomes read from the whole message —

* `none`: nothing urgent (ordinary questions, violence that is over, he is away now);
* `danger`: she, or someone with her, is in danger now or in the next hours;
* `self_harm`: she may hurt herself now or tonight (urgent too, with a gentler reply);
* `interruption`: she has to stop writing ("someone is coming"): the quick exit, never the
  urgent reply.

The second, the *now* model, is trained only on messages that speak of harm: danger now against
the same words with a distance (years ago, he is away now, a threat with no time, an everyday
"help!"). Among messages that all speak of violence, what tells them apart is time and place, so
those cues weigh there instead of drowning under the violence words; a message is urgent when
both models say so.

Features are hashed, so the model is two plain arrays: words and word pairs of the canonical
form (Arabizi and Arabic spellings unified by `nlu.normalise`), and character 3–5-grams inside
words, which carry misspellings and Arabic words with glued prefixes. Reading the model needs
only NumPy, so the gateway, Rasa's components and `maak parse` load the same file in either
environment; training (`train`) also needs scikit-learn and runs where Rasa is installed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlu.normalise import fold, normalise_token

MODEL_PATH = Path(__file__).parent / "urgency.npz"
OUTCOMES: tuple[str, ...] = ("none", "danger", "self_harm", "interruption")
URGENT_OUTCOMES = frozenset({"danger", "self_harm"})
DIMENSIONS = 1 << 18
# Longer messages add nothing to the decision but cost time: the first words are what she said.
MAX_CHARS = 1000


class UrgencyModelError(ValueError):
    """The model file is missing or does not match this code."""


def _hashed(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) & (DIMENSIONS - 1)


def features(text: str) -> list[int]:
    """Hashed feature indices of a message (deduplicated; empty for an empty message)."""
    words = [normalise_token(w) for w in fold(text[:MAX_CHARS]).split()]
    words = [part for w in words for part in w.split() if part]
    found: set[str] = set()
    for i, word in enumerate(words):
        found.add("w:" + word)
        if i:
            found.add("b:" + words[i - 1] + " " + word)
        padded = f"<{word}>"
        for n in (3, 4, 5):
            found.update("c:" + padded[j : j + n] for j in range(len(padded) - n + 1))
    if words:
        found.add("n:" + str(min(len(words), 8)))  # very short and long messages behave apart
    return sorted({_hashed(f) for f in found})


@dataclass(frozen=True)
class Thresholds:
    """Where each model decides "urgent": its probability at least this."""

    urgent: float
    now: float


@dataclass(frozen=True)
class Reading:
    """What the model reads in one message: the outcome and the probability of each."""

    outcome: str
    probabilities: dict[str, float]
    now: float  # the now model's probability that harm is happening now or imminent

    @property
    def urgent_probability(self) -> float:
        return sum(self.probabilities[o] for o in URGENT_OUTCOMES)


class UrgencyModel:
    """The trained weights, their decision threshold, and the hash of the data they came from."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, now: np.ndarray, now_bias: float,
                 thresholds: Thresholds, data_hash: str) -> None:
        if weights.shape != (len(OUTCOMES), DIMENSIONS) or bias.shape != (len(OUTCOMES),):
            raise UrgencyModelError(f"urgency model: weights {weights.shape} do not fit {len(OUTCOMES)} outcomes")
        if now.shape != (DIMENSIONS,):
            raise UrgencyModelError(f"urgency model: now weights {now.shape} do not fit {DIMENSIONS} features")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.now = now.astype(np.float32)
        self.now_bias = float(now_bias)
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
                thresholds = Thresholds(float(data["threshold"]), float(data["now_threshold"]))
                return cls(data["weights"], data["bias"], data["now"], float(data["now_bias"]), thresholds,
                           str(data["data_hash"]))
        except (OSError, KeyError, ValueError) as exc:
            raise UrgencyModelError(f"urgency model {source}: cannot be read ({type(exc).__name__})") from exc

    def save(self, path: Path | None = None) -> None:
        np.savez_compressed(
            path or MODEL_PATH,
            weights=self.weights.astype(np.float16),
            bias=self.bias,
            now=self.now.astype(np.float16),
            now_bias=np.float32(self.now_bias),
            threshold=np.float32(self.thresholds.urgent),
            now_threshold=np.float32(self.thresholds.now),
            data_hash=np.str_(self.data_hash),
            outcomes=np.array(OUTCOMES),
        )

    def read(self, text: str) -> Reading:
        """The outcome: urgent when the urgent outcomes together pass their threshold and the
        now model passes its own."""
        index = features(text)
        if not index:
            # Nothing to read ("?", "...", an emoji): the biases alone would pick whichever outcome
            # the class balancing favoured, and "?" during a counsellor's chat is not "I must stop".
            return Reading("none", {o: float(o == "none") for o in OUTCOMES}, 0.0)
        scale = 1.0 / math.sqrt(len(index))
        scores = self.weights[:, index].sum(axis=1) * scale + self.bias
        scores = np.exp(scores - scores.max())
        probabilities = {o: float(v) for o, v in zip(OUTCOMES, scores / scores.sum())}
        now = 1.0 / (1.0 + math.exp(-(float(self.now[index].sum()) * scale + self.now_bias)))
        urgent = probabilities["danger"] + probabilities["self_harm"]
        if urgent >= self.thresholds.urgent and now >= self.thresholds.now:
            outcome = "self_harm" if probabilities["self_harm"] > probabilities["danger"] else "danger"
        else:
            outcome = "interruption" if probabilities["interruption"] > probabilities["none"] else "none"
        return Reading(outcome, probabilities, now)


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


def examples_hash(examples: Iterable[Example]) -> str:
    """A digest of the training examples (order-independent), stored in the model file."""
    digest = hashlib.sha256()
    for line in sorted(f"{e.outcome}\t{e.kind}\t{e.text}" for e in examples):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


def _matrix(texts: Sequence[str]):  # type: ignore[no-untyped-def]
    from scipy.sparse import csr_matrix

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, text in enumerate(texts):
        index = features(text)
        rows.extend([r] * len(index))
        cols.extend(index)
        vals.extend([1.0 / math.sqrt(len(index))] * len(index) if index else [])
    return csr_matrix((vals, (rows, cols)), shape=(len(texts), DIMENSIONS), dtype=np.float32)


# Kinds of message that speak of harm without danger now (DANGER.md): the now model learns them
# against danger now.
NOT_NOW_KINDS = frozenset(
    {"past_violence", "away_now", "fear_no_time", "numbers_in_case", "survivor_request", "everyday_urgency"}
)
# Inverse regularisation, read off held-out writers' sets: the outcome model gains with weak
# regularisation (many rare n-grams carry the kinds), the now model with more (fewer examples).
OUTCOME_C = 1024.0
NOW_C = 64.0


def _logistic(matrix, labels: np.ndarray, c: float):  # type: ignore[no-untyped-def]
    """A logistic regression with balanced classes, so that rarer outcomes weigh as much."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    counts = np.bincount(labels).astype(float)
    weight = (len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1)))[labels]
    classifier = LogisticRegression(C=c, max_iter=1000, solver="lbfgs")
    # One thread: on a small machine BLAS threads only fight each other (and the gateway).
    with threadpool_limits(1):
        classifier.fit(matrix, labels, sample_weight=weight)
    return classifier


def fit(examples: Sequence[Example], thresholds: Thresholds) -> UrgencyModel:
    """Both models, trained on the examples (scikit-learn), as an `UrgencyModel`."""
    matrix = _matrix([e.text for e in examples])
    labels = np.array([OUTCOMES.index(e.outcome) for e in examples])
    outcomes = _logistic(matrix, labels, OUTCOME_C)
    weights = np.zeros((len(OUTCOMES), DIMENSIONS), dtype=np.float32)
    bias = np.full(len(OUTCOMES), -30.0, dtype=np.float32)  # an outcome with no example is never read
    for row, label in enumerate(outcomes.classes_):
        weights[label] = outcomes.coef_[row]
        bias[label] = outcomes.intercept_[row]

    harm = [i for i, e in enumerate(examples) if e.outcome in URGENT_OUTCOMES or e.kind in NOT_NOW_KINDS]
    now_labels = np.array([int(examples[i].outcome in URGENT_OUTCOMES) for i in harm])
    if len(set(now_labels)) < 2:
        raise ValueError("the now model needs messages of danger now and of harm that is not now")
    now = _logistic(matrix[harm], now_labels, NOW_C)
    return UrgencyModel(weights, bias, now.coef_[0], float(now.intercept_[0]), thresholds, examples_hash(examples))
