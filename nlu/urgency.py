"""The danger-now classifier: one linear model over every message, in every language tag.

Urgency is its own decision, not one intent among twenty: a softmax over four outcomes read from
the whole message —

* `none`: nothing urgent (ordinary questions, violence that is over, he is away now);
* `danger`: she, or someone with her, is in danger now or in the next hours;
* `self_harm`: she may hurt herself now or tonight (urgent too, with a gentler reply);
* `interruption`: she has to stop writing ("someone is coming"): the quick exit, never the
  urgent reply.

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
class Reading:
    """What the model reads in one message: the outcome and the probability of each."""

    outcome: str
    probabilities: dict[str, float]

    @property
    def urgent_probability(self) -> float:
        return sum(self.probabilities[o] for o in URGENT_OUTCOMES)


class UrgencyModel:
    """The trained weights, their decision threshold, and the hash of the data they came from."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, threshold: float, data_hash: str) -> None:
        if weights.shape != (len(OUTCOMES), DIMENSIONS) or bias.shape != (len(OUTCOMES),):
            raise UrgencyModelError(f"urgency model: weights {weights.shape} do not fit {len(OUTCOMES)} outcomes")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.threshold = float(threshold)
        self.data_hash = data_hash

    @classmethod
    def load(cls, path: Path | None = None) -> UrgencyModel:
        source = path or MODEL_PATH
        try:
            with np.load(source, allow_pickle=False) as data:
                outcomes = tuple(str(o) for o in data["outcomes"])
                if outcomes != OUTCOMES:
                    raise UrgencyModelError(f"urgency model {source}: outcomes {outcomes} differ from {OUTCOMES}")
                return cls(data["weights"], data["bias"], float(data["threshold"]), str(data["data_hash"]))
        except (OSError, KeyError, ValueError) as exc:
            raise UrgencyModelError(f"urgency model {source}: cannot be read ({type(exc).__name__})") from exc

    def save(self, path: Path | None = None) -> None:
        np.savez_compressed(
            path or MODEL_PATH,
            weights=self.weights.astype(np.float16),
            bias=self.bias,
            threshold=np.float32(self.threshold),
            data_hash=np.str_(self.data_hash),
            outcomes=np.array(OUTCOMES),
        )

    def probabilities(self, text: str) -> np.ndarray:
        index = features(text)
        if not index:
            scores = self.bias.copy()
        else:
            scores = self.weights[:, index].sum(axis=1) / math.sqrt(len(index)) + self.bias
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()

    def read(self, text: str) -> Reading:
        """The outcome: urgent when the urgent outcomes together pass the threshold."""
        p = self.probabilities(text)
        probabilities = {o: float(v) for o, v in zip(OUTCOMES, p)}
        urgent = probabilities["danger"] + probabilities["self_harm"]
        if urgent >= self.threshold:
            outcome = "self_harm" if probabilities["self_harm"] > probabilities["danger"] else "danger"
        else:
            outcome = "interruption" if probabilities["interruption"] > probabilities["none"] else "none"
        return Reading(outcome, probabilities)


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
    for line in sorted(f"{e.outcome}\t{e.text}" for e in examples):
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


def fit(examples: Sequence[Example], threshold: float, c: float = 16.0) -> UrgencyModel:
    """A softmax regression over the examples (scikit-learn), as an `UrgencyModel`."""
    from sklearn.linear_model import LogisticRegression

    labels = np.array([OUTCOMES.index(e.outcome) for e in examples])
    counts = np.bincount(labels, minlength=len(OUTCOMES)).astype(float)
    # Balanced classes, so that the rarer self-harm and interruption messages weigh as much.
    weight = (len(labels) / (len(OUTCOMES) * np.maximum(counts, 1)))[labels]
    from threadpoolctl import threadpool_limits

    classifier = LogisticRegression(C=c, max_iter=300, solver="lbfgs")
    # One thread: on a small machine BLAS threads only fight each other (and the gateway).
    with threadpool_limits(1):
        classifier.fit(_matrix([e.text for e in examples]), labels, sample_weight=weight)
    weights = np.zeros((len(OUTCOMES), DIMENSIONS), dtype=np.float32)
    bias = np.zeros(len(OUTCOMES), dtype=np.float32)
    for row, label in enumerate(classifier.classes_):
        weights[label] = classifier.coef_[row]
        bias[label] = classifier.intercept_[row]
    for label in set(range(len(OUTCOMES))) - set(classifier.classes_):
        bias[label] = -30.0  # an outcome with no example is never read
    return UrgencyModel(weights, bias, threshold, examples_hash(examples))
