"""Training data and training of the danger-now classifier (`nlu.urgency`).

Two sources, both in `nlu/data/`:

* the intent examples of `nlu/data/<tag>.yml`: `immediate_danger` is danger, `stop` is an
  interruption, every other intent is nothing urgent;
* `nlu/data/kinds/*.tsv` (`text, intent, lang, urgent, kind`, the format `maak eval` reads):
  messages written per kind of danger — and per kind of message that only sounds urgent — by
  writers who never saw the rest of the data. A `self_harm` row is the self-harm outcome.

The TSV rows also train the intent classifier (`bot.training` passes them to Rasa).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import yaml

from nlu.danger import URGENT_INTENT
from nlu.urgency import MODEL_PATH, Example, UrgencyModel, UrgencyModelError, examples_hash, fit

DATA_DIR = Path(__file__).parent / "data"
KINDS_DIR = DATA_DIR / "kinds"
TSV_COLUMNS = ("text", "intent", "lang", "urgent", "kind")
STOP_INTENT = "stop"
SETTINGS_PATH = Path(__file__).parent / "urgency.yml"
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


class TrainingDataError(ValueError):
    """A training file is malformed; the message names the file and the line."""


def outcome_of(intent: str, kind: str = "") -> str:
    if kind == "self_harm":
        return "self_harm"
    if intent == URGENT_INTENT:
        return "danger"
    if intent == STOP_INTENT:
        return "interruption"
    return "none"


def read_tsv(path: Path) -> list[dict[str, str]]:
    """The rows of a kinds file, checked: five columns, a known urgent value."""
    rows: list[dict[str, str]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or tuple(header) != TSV_COLUMNS:
            raise TrainingDataError(f"{path.name}: the header must be {', '.join(TSV_COLUMNS)}")
        for number, values in enumerate(reader, start=2):
            if not values or not "".join(values).strip():
                continue
            if len(values) != len(TSV_COLUMNS) or values[3] not in ("0", "1") or not values[0].strip():
                raise TrainingDataError(f"{path.name}:{number}: expected five columns, text and urgent 0 or 1")
            row = dict(zip(TSV_COLUMNS, values))
            if (row["urgent"] == "1") != (row["intent"] == URGENT_INTENT):
                raise TrainingDataError(f"{path.name}:{number}: urgent is 1 exactly for {URGENT_INTENT}")
            rows.append(row)
    return rows


def kinds_examples(directory: Path = KINDS_DIR) -> list[Example]:
    return [
        Example(row["text"], outcome_of(row["intent"], row["kind"]), row["lang"], row["kind"], path.stem)
        for path in sorted(directory.glob("*.tsv"))
        for row in read_tsv(path)
    ]


def _intent_blocks(path: Path) -> Iterator[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for block in data.get("nlu") or []:
        if "intent" in block:
            for line in str(block.get("examples") or "").splitlines():
                text = line.strip()
                if text.startswith("- "):
                    yield block["intent"], text[2:].strip()


def intent_examples(directory: Path = DATA_DIR) -> list[Example]:
    return [
        Example(text, outcome_of(intent), "", "", path.stem)
        for path in sorted(directory.glob("*.yml"))
        for intent, text in _intent_blocks(path)
    ]


def all_examples() -> list[Example]:
    """Every training message; a text written twice keeps its kinds-file label."""
    kinds = kinds_examples()
    seen = {e.text for e in kinds}
    return kinds + [e for e in intent_examples() if e.text not in seen]


def _folds(examples: Sequence[Example], group: Callable[[Example], str]) -> Iterator[tuple[list[int], list[int]]]:
    groups = sorted({group(e) for e in examples})
    for g in groups:
        test = [i for i, e in enumerate(examples) if group(e) == g]
        if test:
            yield [i for i, e in enumerate(examples) if group(e) != g], test


def held_out_probabilities(
    examples: Sequence[Example], group: Callable[[Example], str], only: Callable[[Example], bool] = lambda e: True
) -> np.ndarray:
    """Each example's urgent probability from a model trained without its group.

    `only` picks the groups to hold out (the others are always trained on); the examples of
    groups never held out get NaN.
    """
    urgent = np.full(len(examples), np.nan)
    for train_rows, test_rows in _folds(examples, group):
        if not only(examples[test_rows[0]]):
            continue
        model = fit([examples[i] for i in train_rows], threshold=0.5)
        for i in test_rows:
            urgent[i] = model.read(examples[i].text).urgent_probability
    return urgent


def held_out_report(examples: Sequence[Example], urgent: np.ndarray, by: Callable[[Example], str]) -> list[str]:
    """Recall and precision of the held-out readings at each threshold, then per group."""
    read = ~np.isnan(urgent)
    gold = np.array([e.outcome in ("danger", "self_harm") for e in examples])
    lines = []
    for value in THRESHOLDS:
        flagged = read & (urgent >= value)
        found = int((flagged & gold).sum())
        lines.append(f"threshold {value:.2f}: recall {found}/{int((read & gold).sum())} "
                     f"= {found / max(1, int((read & gold).sum())):.3f}, "
                     f"precision {found}/{int(flagged.sum())} = {found / max(1, int(flagged.sum())):.3f}")
    current = threshold()
    lines.append(f"per group at the threshold in use ({current}): share read right")
    for name in sorted({by(e) for e, r in zip(examples, read) if r}):
        rows = [i for i, e in enumerate(examples) if read[i] and by(e) == name]
        right = sum((urgent[i] >= current) == gold[i] for i in rows)
        lines.append(f"  {name:24} {right}/{len(rows)} = {right / len(rows):.3f}")
    return lines


def main() -> None:
    """Held-out figures: one writer's set at a time, then one kind of message at a time."""
    examples = all_examples()
    print("held out: one writer's set at a time")
    writers = held_out_probabilities(examples, writer_group, only=lambda e: bool(e.lang))
    print("\n".join(held_out_report(examples, writers, writer_group)))
    print("\nheld out: one kind at a time (leave-one-kind-out)")
    kinds = held_out_probabilities(examples, kind_group, only=lambda e: bool(e.kind))
    print("\n".join(held_out_report(examples, kinds, kind_group)))



def writer_group(example: Example) -> str:
    """Kinds files are held out one writer's set at a time; the intent data is one more group."""
    return example.source.rsplit("-", 1)[-1] if example.lang else "intents"


def kind_group(example: Example) -> str:
    """Each kind of message held out in turn (the intent data stays in every training)."""
    return example.kind or "intents"


def threshold() -> float:
    """The decision threshold an operator set in `nlu/urgency.yml`."""
    data = yaml.safe_load(SETTINGS_PATH.read_text(encoding="utf-8")) or {}
    value = data.get("threshold")
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise TrainingDataError(f"{SETTINGS_PATH.name}: threshold must be a number between 0 and 1")
    return float(value)


def train(path: Path = MODEL_PATH) -> UrgencyModel:
    """Train on all the data and save the model, with the threshold of `nlu/urgency.yml`."""
    examples = all_examples()
    model = fit(examples, threshold())
    model.save(path)
    return model


def write_rasa_examples(path: Path) -> int:
    """The kinds rows as Rasa NLU training data (by intent), for the intent classifier.

    Texts that the intent files already hold are left out, so that no text has two intents.
    Returns the number of examples written.
    """
    known = {e.text for e in intent_examples()}
    by_intent: dict[str, list[str]] = {}
    for row in (row for file in sorted(KINDS_DIR.glob("*.tsv")) for row in read_tsv(file)):
        if row["text"] not in known:
            known.add(row["text"])
            by_intent.setdefault(row["intent"], []).append(row["text"])
    blocks = [
        {"intent": intent, "examples": "".join(f"- {' '.join(text.split())}\n" for text in texts)}
        for intent, texts in sorted(by_intent.items())
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return sum(len(texts) for texts in by_intent.values())


def is_current(path: Path = MODEL_PATH) -> bool:
    """Whether the model file was trained on exactly today's data and threshold."""
    try:
        model = UrgencyModel.load(path)
    except UrgencyModelError:
        return False
    return model.data_hash == examples_hash(all_examples()) and abs(model.threshold - threshold()) < 1e-6


if __name__ == "__main__":
    main()
