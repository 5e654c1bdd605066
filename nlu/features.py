"""Hashed features of a message and the linear models read over them (Maak's own NLU models).

One message becomes a sparse vector: its words and word pairs in canonical form (Arabizi and Arabic
spellings unified by `nlu.normalise`) and the character 3–5-grams inside words, which carry
misspellings and Arabic words with glued prefixes. Names are hashed with crc32 (not Python's
salted `hash`), so the gateway, Rasa's components and `maak parse` read a model file the same way in
every process. Reading needs only NumPy; fitting (`matrix`, `logistic`) also needs scikit-learn
and runs where Rasa is installed.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from nlu.normalise import fold, normalise_token

DIMENSIONS = 1 << 18
# Longer messages add nothing to a decision but cost time: the first words are what she said.
MAX_CHARS = 1000
# Character n-grams carry misspellings and glued Arabic prefixes, but the common ones ("ing>",
# "ها>") are in every message: at full weight they let a message of unseen words read as whatever
# the biggest class's endings suggest. A smaller value makes a model pay more (in its L2 penalty)
# to lean on them, so that words and word pairs lead and n-grams back them up.
CHAR_WEIGHT = 0.25


def _hashed(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) & (DIMENSIONS - 1)


def features(text: str) -> dict[int, float]:
    """Hashed feature indices of a message and their values, scaled to unit length (empty for an
    empty message)."""
    words = [normalise_token(w) for w in fold(text[:MAX_CHARS]).split()]
    words = [part for w in words for part in w.split() if part]
    found: dict[str, float] = {}
    for i, word in enumerate(words):
        found["w:" + word] = 1.0
        if i:
            found["b:" + words[i - 1] + " " + word] = 1.0
        padded = f"<{word}>"
        for n in (3, 4, 5):
            for j in range(len(padded) - n + 1):
                found.setdefault("c:" + padded[j : j + n], CHAR_WEIGHT)
    if words:
        found["n:" + str(min(len(words), 8))] = 1.0  # very short and long messages behave apart
    values: dict[int, float] = {}
    for name, value in found.items():
        index = _hashed(name)
        values[index] = max(value, values.get(index, 0.0))
    norm = math.sqrt(sum(v * v for v in values.values()))
    return {index: value / norm for index, value in sorted(values.items())}


def scores(weights: np.ndarray, bias: np.ndarray, found: dict[int, float]) -> np.ndarray:
    """The linear scores of rows of weights (one per class or model) over a message's features."""
    index = np.fromiter(found, dtype=np.int64, count=len(found))
    values = np.fromiter(found.values(), dtype=np.float32, count=len(found))
    result: np.ndarray = weights[:, index] @ values + bias
    return result


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def digest(lines: Iterable[str]) -> str:
    """A short, order-independent digest of training lines, stored in a model file to tell
    whether the model matches today's data."""
    hashed = hashlib.sha256()
    for line in sorted(lines):
        hashed.update(line.encode("utf-8") + b"\n")
    return hashed.hexdigest()[:16]


def matrix(texts: Sequence[str]):  # type: ignore[no-untyped-def]
    """The features of many messages as a sparse matrix, one row each (for fitting)."""
    from scipy.sparse import csr_matrix

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, text in enumerate(texts):
        found = features(text)
        rows.extend([r] * len(found))
        cols.extend(found)
        vals.extend(found.values())
    return csr_matrix((vals, (rows, cols)), shape=(len(texts), DIMENSIONS), dtype=np.float32)


class Fitted(NamedTuple):
    """A fitted linear model: one row of weights over every hashed dimension per class (one row
    for two classes), the biases, and the class labels in row order."""

    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray


def logistic(features_matrix, labels: np.ndarray, c: float) -> Fitted:  # type: ignore[no-untyped-def]
    """A logistic regression with balanced classes, so that rarer classes weigh as much."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    counts = np.bincount(labels).astype(float)
    weight = (len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1)))[labels]
    # Only the dimensions some message uses: an unused one has no gradient and stays at zero, so
    # the optimum is the same, and the solver's steps over a third fewer weights are faster.
    used = np.unique(features_matrix.indices)
    classifier = LogisticRegression(C=c, max_iter=1000, solver="lbfgs")
    # One thread: on a small machine BLAS threads only fight each other (and the gateway).
    with threadpool_limits(1):
        classifier.fit(features_matrix[:, used], labels, sample_weight=weight)
    coef = np.zeros((classifier.coef_.shape[0], DIMENSIONS), dtype=np.float32)
    coef[:, used] = classifier.coef_
    return Fitted(coef, classifier.intercept_, classifier.classes_)
