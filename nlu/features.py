"""Hashed features of a message and the linear models read over them (Maak's own NLU models).

One message becomes a sparse vector: its words and word pairs in canonical form (Arabizi and Arabic
spellings unified by `nlu.normalise`) and the character 3–5-grams inside words, which carry
misspellings and Arabic words with glued prefixes; for the danger-now classifier also the cues of
risk and time of `nlu/lexicon/cues.yml` found in it, and every pair of them. Names are hashed with crc32 (not Python's
salted `hash`), so the gateway, Rasa's components and `maak parse` read a model file the same way in
every process. Reading needs only NumPy; fitting (`matrix`, `logistic`) also needs scikit-learn
and runs where Rasa is installed.
"""

from __future__ import annotations

import functools
import hashlib
import math
import zlib
from collections.abc import Iterable, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml

from core.languages import LANGS
from nlu.phrases import PhraseError, PhraseMatcher, prepare

DIMENSIONS = 1 << 18
# Longer messages add nothing to a decision but cost time: the first words are what she said.
MAX_CHARS = 1000
# Character n-grams carry misspellings and glued Arabic prefixes, but the common ones ("ing>",
# "ها>") are in every message: at full weight they let a message of unseen words read as whatever
# the biggest class's endings suggest. A smaller value makes a model pay more (in its L2 penalty)
# to lean on them, so that words and word pairs lead and n-grams back them up.
CHAR_WEIGHT = 0.25
# A cue (and a pair of cues) weighs twice a word: read on two blind sets after their first
# readings, 1.0 and 0.5 missed more urgent messages, 3.0 and 4.0 no fewer and the fit stopped
# converging (docs/nlu.md, "Cues of risk and time").
CUE_WEIGHT = 2.0
CUES_PATH = Path(__file__).parent / "lexicon" / "cues.yml"


def load_cues(path: Path = CUES_PATH) -> PhraseMatcher:
    """The cues of risk and time, every tag's phrases in one group per cue; a malformed file is a
    clear error that names the cue."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path.name}: expected a mapping of cues")
    groups: dict[str, list[str]] = {}
    for cue, section in data.items():
        if not isinstance(section, dict) or set(section) != set(LANGS):
            raise ValueError(f"{path.name}: cue {cue!r} needs phrases for exactly {sorted(LANGS)}")
        if not all(isinstance(phrases, list) and phrases for phrases in section.values()):
            raise ValueError(f"{path.name}: cue {cue!r} needs a non-empty list of phrases per tag")
        groups[cue] = [phrase for lang in LANGS for phrase in section[lang]]
    try:
        return PhraseMatcher(groups)
    except PhraseError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc


@functools.lru_cache(maxsize=1)
def cue_matcher() -> PhraseMatcher:
    """The cue lexicon shipped with Maak, loaded once."""
    return load_cues()


def cues_digest() -> str:
    """A digest of the cue lexicon, stored with a model that reads cues."""
    return digest(CUES_PATH.read_text(encoding="utf-8").splitlines())


def _hashed(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) & (DIMENSIONS - 1)


def features(text: str, cues: bool = False) -> dict[int, float]:
    """Hashed feature indices of a message and their values, scaled to unit length (empty for an
    empty message); with `cues`, the cues of risk and time too."""
    # Folded once: its canonical words are the features, and the cue phrases match on both forms.
    prepared = prepare(text[:MAX_CHARS])
    words = prepared.canonical.split()
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
    if cues and words:
        # Pairs carry what one cue cannot: a burn is danger a moment ago, not years ago.
        found_cues = cue_matcher().match(prepared)
        for cue in found_cues:
            found["q:" + cue] = CUE_WEIGHT
        for first, second in combinations(found_cues, 2):
            found["q:" + first + "+" + second] = CUE_WEIGHT
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


def matrix(texts: Sequence[str], cues: bool = False):  # type: ignore[no-untyped-def]
    """The features of many messages as a sparse matrix, one row each (for fitting)."""
    from scipy.sparse import csr_matrix

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, text in enumerate(texts):
        found = features(text, cues)
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
