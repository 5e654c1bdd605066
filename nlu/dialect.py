"""Darija or Modern Standard Arabic, read by a model for messages the word lists leave open.

`nlu.langid` decides Arabic-script messages from its lists of Darija and MSA words and verb shapes.
Short public comments often carry none of them ("الله يخلف عليك سيدي محمد", "عجيب هدش") and used
to fall to MSA by default, although the women who write to Maak in Arabic letters mostly write
Darija. This model reads them instead: a logistic regression over the hashed features of
`nlu.features` (words, word pairs, letter n-grams), trained on every Arabic-script message of the
training data, MSA against Darija. Both sides cover the same intents and kinds of message, so it
learns the dialect rather than the topic.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nlu.features import DIMENSIONS, digest, features, logistic, matrix, scores, sigmoid

MODEL_PATH = Path(__file__).parent / "dialect.npz"
# Inverse regularisation: read off public Darija comments and MSA sentences (docs/nlu.md).
DIALECT_C = 16.0


class DialectModelError(ValueError):
    """The model file is missing or does not match this code."""


class DialectModel:
    """The weights of Darija against MSA and the hash of the data they came from."""

    def __init__(self, weights: np.ndarray, bias: float, data_hash: str) -> None:
        if weights.shape != (DIMENSIONS,):
            raise DialectModelError(f"dialect model: weights {weights.shape} do not fit {DIMENSIONS} features")
        self.weights = weights.astype(np.float32).reshape(1, DIMENSIONS)
        self.bias = np.array([bias], dtype=np.float32)
        self.data_hash = data_hash

    @classmethod
    def load(cls, path: Path | None = None) -> DialectModel:
        source = path or MODEL_PATH
        try:
            with np.load(source, allow_pickle=False) as data:
                return cls(data["weights"], float(data["bias"]), str(data["data_hash"]))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise DialectModelError(f"dialect model {source}: cannot be read ({type(exc).__name__})") from exc

    def save(self, path: Path | None = None) -> None:
        np.savez_compressed(path or MODEL_PATH, weights=self.weights[0].astype(np.float16),
                            bias=np.float32(self.bias[0]), data_hash=np.str_(self.data_hash))

    def darija_probability(self, text: str) -> float:
        """The probability that an Arabic-script message is Darija (0.5 with nothing to read)."""
        found = features(text)
        return float(sigmoid(scores(self.weights, self.bias, found))[0]) if found else 0.5


@functools.lru_cache(maxsize=1)
def default_model() -> DialectModel:
    """The model shipped with Maak (`nlu/dialect.npz`), loaded once."""
    return DialectModel.load()


def data_hash(texts: Sequence[str], darija: Sequence[bool]) -> str:
    return digest(f"{int(d)}\t{t}" for t, d in zip(texts, darija))


def fit(texts: Sequence[str], darija: Sequence[bool]) -> DialectModel:
    """The model, trained on Arabic-script messages and whether each is Darija (scikit-learn)."""
    labels = np.array([int(d) for d in darija])
    if len(set(labels)) < 2:
        raise ValueError("the dialect model needs messages in MSA and in Darija")
    classifier = logistic(matrix(texts), labels, DIALECT_C)
    return DialectModel(classifier.coef[0], float(classifier.intercept[0]), data_hash(texts, darija))
