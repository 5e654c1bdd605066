"""Training data and training of Maak's own models: the danger-now classifier (`nlu.urgency`) and
the dialect model (`nlu.dialect`), both kept in `nlu/` and trained again when their data changes.

Two sources, both in `nlu/data/`:

* the intent examples of `nlu/data/<tag>.yml`: `immediate_danger` is danger, `stop` is an
  interruption, every other intent is nothing urgent;
* `nlu/data/kinds/*.tsv` (`text, intent, lang, urgent, kind`, the format `maak eval` reads):
  messages written per kind of danger — and per kind of message that only sounds urgent — by
  writers who never saw the rest of the data. A `self_harm` row is the self-harm outcome.

The TSV rows also train the intent classifier (`tools.training` passes them to Rasa). The dialect
model learns every Arabic-script message of both sources, MSA (`ar`) against Darija (`ary`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple, replace
from pathlib import Path

import numpy as np
import yaml

from nlu import dialect, urgency
from nlu.danger import STOP_INTENT, URGENT_INTENT
from nlu.urgency import Example, Thresholds, UrgencyModel, UrgencyModelError, decides_urgent, examples_hash, fit

DATA_DIR = Path(__file__).parent / "data"
KINDS_DIR = DATA_DIR / "kinds"
TSV_COLUMNS = ("text", "intent", "lang", "urgent", "kind")
SETTINGS_PATH = Path(__file__).parent / "urgency.yml"
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
RASA_ROWS_PER_INTENT_AND_TAG = 150
# The intent classifier's share of danger and of interruptions matters little (the danger-now
# decision reads both and overrides it), nor do many ways of asking for the numbers, while
# ordinary life is the widest intent: questions about trains and passports, read on too few
# examples, took the name of a service. Every row costs training time.
RASA_ROWS_BY_INTENT = {URGENT_INTENT: 60, STOP_INTENT: 60, "ask_emergency_numbers": 100, "out_of_scope": 250}


class TrainingDataError(ValueError):
    """A training file is malformed; the message names the file and the line."""


def outcome_of(intent: str, kind: str = "") -> str:
    """What the danger-now classifier learns from a row. An interruption is one whatever she also
    asked ("delete it all, he is here" is `forget_me`: erased, then the quick exit)."""
    if kind == "self_harm":
        return "self_harm"
    if intent == URGENT_INTENT:
        return "danger"
    if intent == STOP_INTENT or kind == "interruption":
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
        Example(row["text"], outcome_of(row["intent"], row["kind"]), row["lang"], row["kind"], path.stem, row["intent"])
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
        Example(text, outcome_of(intent), "", "", path.stem, intent)
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


def held_out_readings(
    examples: Sequence[Example], group: Callable[[Example], str], only: Callable[[Example], bool] = lambda e: True
) -> np.ndarray:
    """Each example's (urgent, now, harm) probabilities from models trained without its group.

    `only` picks the groups to hold out (the others are always trained on); the examples of
    groups never held out get NaN.
    """
    readings = np.full((len(examples), 3), np.nan)
    for train_rows, test_rows in _folds(examples, group):
        if not only(examples[test_rows[0]]):
            continue
        model = fit([examples[i] for i in train_rows], thresholds())
        for i in test_rows:
            reading = model.read(examples[i].text)
            readings[i] = (reading.urgent_probability, reading.now, reading.harm)
    return readings


def held_out_report(examples: Sequence[Example], readings: np.ndarray, by: Callable[[Example], str]) -> list[str]:
    """Recall and precision of the held-out readings at each urgent threshold (the others as in
    use), then the share read right per group at the thresholds in use."""
    read = ~np.isnan(readings[:, 0])
    gold = np.array([e.outcome in ("danger", "self_harm") for e in examples])
    current = thresholds()
    values = np.nan_to_num(readings)
    lines = []
    for value in THRESHOLDS:
        flagged = read & decides_urgent(values[:, 0], values[:, 1], values[:, 2], replace(current, urgent=value))
        found = int((flagged & gold).sum())
        lines.append(f"urgent threshold {value:.2f}: recall {found}/{int((read & gold).sum())} "
                     f"= {found / max(1, int((read & gold).sum())):.3f}, "
                     f"precision {found}/{int(flagged.sum())} = {found / max(1, int(flagged.sum())):.3f}")
    flagged = read & decides_urgent(values[:, 0], values[:, 1], values[:, 2], current)
    lines.append(f"per group at the thresholds in use ({current}): share read right")
    for name in sorted({by(e) for e, r in zip(examples, read) if r}):
        rows = [i for i, e in enumerate(examples) if read[i] and by(e) == name]
        right = sum(flagged[i] == gold[i] for i in rows)
        lines.append(f"  {name:24} {right}/{len(rows)} = {right / len(rows):.3f}")
    return lines


def main() -> None:
    """Held-out figures: one writer's set at a time, then one kind of message at a time."""
    examples = all_examples()
    print("held out: one writer's set at a time")
    writers = held_out_readings(examples, writer_group, only=lambda e: bool(e.lang))
    print("\n".join(held_out_report(examples, writers, writer_group)))
    print("\nheld out: one kind at a time (leave-one-kind-out)")
    kinds = held_out_readings(examples, kind_group, only=lambda e: bool(e.kind))
    print("\n".join(held_out_report(examples, kinds, kind_group)))



def writer_group(example: Example) -> str:
    """Kinds files are held out one writer's set at a time; the intent data is one more group."""
    return example.source.rsplit("-", 1)[-1] if example.lang else "intents"


def kind_group(example: Example) -> str:
    """Each kind of message held out in turn (the intent data stays in every training)."""
    return example.kind or "intents"


def thresholds() -> Thresholds:
    """The decision thresholds an operator set in `nlu/urgency.yml`."""
    data = yaml.safe_load(SETTINGS_PATH.read_text(encoding="utf-8")) or {}
    names = ("threshold", "now_threshold", "harm_threshold", "confident_threshold")
    values: list[float] = []
    for name in names:
        value = data.get(name)
        if not isinstance(value, (int, float)) or not 0 < value < 1:
            raise TrainingDataError(f"{SETTINGS_PATH.name}: {name} must be a number between 0 and 1")
        values.append(float(value))
    return Thresholds(*values)


def train_urgency(examples: Sequence[Example], path: Path = urgency.MODEL_PATH) -> UrgencyModel:
    """Train the danger-now classifier on the examples and save it, with the thresholds of
    `nlu/urgency.yml`."""
    model = fit(examples, thresholds())
    model.save(path)
    return model


def dialect_data(examples: Sequence[Example]) -> tuple[list[str], list[bool]]:
    """Every Arabic-script training message and whether it is Darija."""
    tagged = [(e.text, e.lang or e.source) for e in examples]
    chosen = [(text, tag == "ary") for text, tag in tagged if tag in ("ar", "ary")]
    return [text for text, _ in chosen], [darija for _, darija in chosen]


def train_dialect(examples: Sequence[Example], path: Path = dialect.MODEL_PATH) -> dialect.DialectModel:
    """Train the dialect model on the Arabic-script data and save it."""
    model = dialect.fit(*dialect_data(examples))
    model.save(path)
    return model


def _spread(rows: list[dict[str, str]], limit: int) -> list[dict[str, str]]:
    """At most `limit` rows, taken in turn from each kind and writer, so that every one is there."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault((row["kind"], row["source"]), []).append(row)
    queues = [groups[key] for key in sorted(groups)]
    taken: list[dict[str, str]] = []
    for depth in range(max((len(q) for q in queues), default=0)):
        taken.extend(q[depth] for q in queues if depth < len(q))
    return taken[:limit]


def write_rasa_examples(path: Path) -> int:
    """Kinds rows as Rasa NLU training data (by intent), for the intent classifier.

    Per intent and language tag at most `RASA_ROWS_PER_INTENT_AND_TAG` rows (the intents of
    `RASA_ROWS_BY_INTENT` have their own limit), spread over the kinds and writers: the intent
    classifier gains little from the thousandth message of danger (the danger-now classifier
    decides urgency) and its training time grows with every row.
    Texts that the intent files already hold are left out, so that no text has two intents.
    Returns the number of examples written.
    """
    known = {e.text for e in intent_examples()}
    by_intent_and_tag: dict[tuple[str, str], list[dict[str, str]]] = {}
    for file in sorted(KINDS_DIR.glob("*.tsv")):
        for row in read_tsv(file):
            if row["text"] not in known:
                known.add(row["text"])
                by_intent_and_tag.setdefault((row["intent"], row["lang"]), []).append({**row, "source": file.stem})
    by_intent: dict[str, list[str]] = {}
    for (intent, _), rows in sorted(by_intent_and_tag.items()):
        limit = RASA_ROWS_BY_INTENT.get(intent, RASA_ROWS_PER_INTENT_AND_TAG)
        by_intent.setdefault(intent, []).extend(row["text"] for row in _spread(rows, limit))
    blocks = [
        {"intent": intent, "examples": "".join(f"- {' '.join(text.split())}\n" for text in texts)}
        for intent, texts in sorted(by_intent.items())
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return sum(len(texts) for texts in by_intent.values())


def urgency_is_current(examples: Sequence[Example], path: Path = urgency.MODEL_PATH) -> bool:
    """Whether the danger-now model file was trained on exactly today's data and thresholds."""
    try:
        model = UrgencyModel.load(path)
    except UrgencyModelError:
        return False
    return model.data_hash == examples_hash(examples) and np.allclose(
        astuple(model.thresholds), astuple(thresholds()), atol=1e-6
    )


def dialect_is_current(examples: Sequence[Example], path: Path = dialect.MODEL_PATH) -> bool:
    """Whether the dialect model file was trained on exactly today's data."""
    try:
        model = dialect.DialectModel.load(path)
    except dialect.DialectModelError:
        return False
    return model.data_hash == dialect.data_hash(*dialect_data(examples))


if __name__ == "__main__":
    main()
