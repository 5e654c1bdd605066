"""`maak eval`: intent, language and urgency scores of a model on a labelled TSV file.

The scores are pure functions of the gold rows and the predictions (the dicts `result_of` in
`tools.parse` returns), so they can be checked without a model and reused by other evaluations;
`evaluate_predictions` gathers them all.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Sequence, TextIO

from core.languages import LANGS
from core.settings import Settings
from nlu.danger import STOP_INTENT
from tools.training import latest_model

FULL_HEADER = ("text", "intent", "lang", "urgent")
KIND_HEADER = (*FULL_HEADER, "kind")
LANG_HEADER = ("text", "lang")
URGENT_VALUES = {"1": True, "true": True, "0": False, "false": False}
FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
INTERRUPTION_KIND = "interruption"
# A prediction without an intent (an empty message) in the confusion matrix.
NO_INTENT = "(none)"
OVERALL = "all"
MIN_WORDS = 3
DIGITS = 4

Prediction = dict[str, Any]


class EvalFileError(ValueError):
    """The evaluation file is not valid; the message names the file and the line."""


@dataclass(frozen=True)
class GoldRow:
    """One labelled message. `intent` and `urgent` are None in a language-only file."""

    text: str
    lang: str
    intent: str | None = None
    urgent: bool | None = None
    line: int = 0
    kind: str | None = None


# --- reading the file ---------------------------------------------------------------------------


def parse_rows(content: str, name: str = "<input>") -> list[GoldRow]:
    """The rows of a TSV text with a header `text, intent, lang, urgent[, kind]` or `text, lang`.

    Raises:
        EvalFileError: on a wrong header, a wrong column count, an unknown language tag, a bad
            urgent value or an empty field, naming `name` and the line.
    """
    header: tuple[str, ...] | None = None
    rows: list[GoldRow] = []
    # split("\n") rather than splitlines(): Unicode separators inside a text must not shift the
    # line numbers the errors give.
    for number, raw in enumerate(content.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        if header is None:
            fields[0] = fields[0].lstrip("\ufeff")
            found = tuple(field.lower() for field in fields)
            if found not in (FULL_HEADER, KIND_HEADER, LANG_HEADER):
                raise EvalFileError(
                    f"{name}:{number}: the header must be {' TAB '.join(FULL_HEADER)} [TAB kind] or "
                    f"{' TAB '.join(LANG_HEADER)}, not {' TAB '.join(fields)!r}"
                )
            header = found
            continue
        if len(fields) != len(header):
            raise EvalFileError(
                f"{name}:{number}: expected {len(header)} tab-separated columns "
                f"({', '.join(header)}), found {len(fields)}"
            )
        values = dict(zip(header, fields))
        for column, value in values.items():
            if not value:
                raise EvalFileError(f"{name}:{number}: empty {column}")
        if values["lang"] not in LANGS:
            raise EvalFileError(
                f"{name}:{number}: unknown language tag {values['lang']!r} (expected one of {', '.join(LANGS)})"
            )
        urgent = None
        if "urgent" in values:
            urgent = URGENT_VALUES.get(values["urgent"].lower())
            if urgent is None:
                raise EvalFileError(f"{name}:{number}: urgent must be 1, 0, true or false, not {values['urgent']!r}")
        rows.append(GoldRow(values["text"], values["lang"], values.get("intent"), urgent, number, values.get("kind")))
    if header is None:
        raise EvalFileError(f"{name}:1: empty file; expected a header row")
    if not rows:
        raise EvalFileError(f"{name}: no messages after the header")
    return rows


def read_rows(path: Path) -> list[GoldRow]:
    """The rows of the TSV file at `path` (UTF-8; bad bytes become U+FFFD)."""
    try:
        content = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise EvalFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_rows(content, str(path))


# --- scores -------------------------------------------------------------------------------------


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _labelled(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> list[tuple[str, str | None]]:
    """(gold intent, predicted intent) of the rows that carry an intent."""
    return [(row.intent, p.get("intent")) for row, p in zip(rows, predictions) if row.intent is not None]


def _is_right(gold: str, predicted: str | None) -> bool:
    # The fallback is never the right answer, whatever the gold label says.
    return predicted == gold and predicted != FALLBACK_INTENT


def intent_accuracy(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> float | None:
    """Share of the rows with a gold intent whose predicted intent is that intent."""
    pairs = _labelled(rows, predictions)
    return _ratio(sum(_is_right(gold, predicted) for gold, predicted in pairs), len(pairs))


def macro_f1(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> float | None:
    """Mean F1 over the intents in the gold labels or the predictions.

    A fallback (or a missing intent) is a miss for the gold intent, but is not itself an intent
    averaged over: it has no gold examples, and would lower the mean by a step that depends
    only on whether it happened at least once.
    """
    pairs = _labelled(rows, predictions)
    if not pairs:
        return None
    intents = {gold for gold, _ in pairs} | {p for _, p in pairs if p is not None}
    intents.discard(FALLBACK_INTENT)
    scores = []
    for intent in intents:
        tp = sum(gold == intent and _is_right(gold, p) for gold, p in pairs)
        fp = sum(p == intent and gold != intent for gold, p in pairs)
        fn = sum(gold == intent and not _is_right(gold, p) for gold, p in pairs)
        # 2TP / (2TP + FP + FN) is F1, and stays defined when precision or recall is not.
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def word_count(text: str) -> int:
    return len(text.split())


def lang_accuracy(
    rows: Sequence[GoldRow], predictions: Sequence[Prediction], min_words: int = 0
) -> float | None:
    """Share of the rows of at least `min_words` words whose language tag was identified."""
    pairs = [(row.lang, p.get("lang")) for row, p in zip(rows, predictions) if word_count(row.text) >= min_words]
    return _ratio(sum(gold == predicted for gold, predicted in pairs), len(pairs))


def urgent_counts(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> tuple[int, int, int]:
    """(urgent in gold, predicted urgent, both) over the rows with an urgent label."""
    pairs = [(row.urgent, bool(p.get("urgent"))) for row, p in zip(rows, predictions) if row.urgent is not None]
    return (
        sum(gold for gold, _ in pairs),
        sum(predicted for _, predicted in pairs),
        sum(gold and predicted for gold, predicted in pairs),
    )


def urgent_recall(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> float | None:
    """Share of the urgent messages predicted urgent; None when no message is urgent."""
    gold, _, found = urgent_counts(rows, predictions)
    return _ratio(found, gold)


def urgent_precision(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> float | None:
    """Share of the predicted urgent messages that are urgent.

    1.0 when nothing was urgent and nothing was predicted urgent (no mistake was made); None
    when urgent messages were all missed and nothing was predicted urgent.
    """
    gold, predicted, found = urgent_counts(rows, predictions)
    if predicted == 0:
        return 1.0 if gold == 0 and any(row.urgent is not None for row in rows) else None
    return found / predicted


def false_urgent_rate(
    rows: Sequence[GoldRow], predictions: Sequence[Prediction], intent: str = OUT_OF_SCOPE_INTENT
) -> float | None:
    """Share of the rows of gold `intent` (off-topic by default) predicted urgent."""
    flags = [bool(p.get("urgent")) for row, p in zip(rows, predictions) if row.intent == intent]
    return _ratio(sum(flags), len(flags))


def _intent_label(prediction: Prediction) -> str:
    return prediction.get("intent") or NO_INTENT


def confusion_matrix(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> dict[str, Any]:
    """Counts of gold intent × predicted intent, over the intents that occur.

    Returns:
        `{"gold": [row labels], "predicted": [column labels], "counts": [[int]]}`; the columns
        shared with the rows come first and in the same order, so the diagonal reads as right.
    """
    pairs = [(row.intent, _intent_label(p)) for row, p in zip(rows, predictions) if row.intent is not None]
    gold = sorted({g for g, _ in pairs})
    predicted_set = {p for _, p in pairs}
    # Predicted-only intents, then the fallback, then no intent at all.
    extra = sorted(predicted_set - set(gold), key=lambda label: (label == NO_INTENT, label == FALLBACK_INTENT, label))
    predicted = [label for label in gold if label in predicted_set] + extra
    row_of = {label: i for i, label in enumerate(gold)}
    column_of = {label: i for i, label in enumerate(predicted)}
    counts = [[0] * len(predicted) for _ in gold]
    for g, p in pairs:
        counts[row_of[g]][column_of[p]] += 1
    return {"gold": gold, "predicted": predicted, "counts": counts}


def missed_urgent(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> list[dict[str, Any]]:
    """Every urgent message that was not predicted urgent."""
    return [
        {"text": row.text, "lang": row.lang, "intent": row.intent, "kind": row.kind, "predicted_intent": p.get("intent")}
        for row, p in zip(rows, predictions)
        if row.urgent and not p.get("urgent")
    ]


def false_urgent(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> list[dict[str, Any]]:
    """Every message predicted urgent that is not urgent."""
    return [
        {"text": row.text, "lang": row.lang, "intent": row.intent, "kind": row.kind, "predicted_intent": p.get("intent")}
        for row, p in zip(rows, predictions)
        if row.urgent is False and p.get("urgent")
    ]


def kind_scores(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> dict[str, dict[str, Any]]:
    """Per kind (the optional fifth column): how many rows, and the share read as their gold says.

    For an urgent kind that share is the urgent recall; for any other kind it is the share *not*
    flagged urgent. `intent_accuracy` is given too, since e.g. an interruption must also be `stop`.
    """
    kinds: dict[str, list[tuple[GoldRow, Prediction]]] = {}
    for row, p in zip(rows, predictions):
        if row.kind:
            kinds.setdefault(row.kind, []).append((row, p))
    scores = {}
    for kind, pairs in sorted(kinds.items()):
        urgent_rows = [r for r, _ in pairs if r.urgent is not None]
        right = sum(bool(p.get("urgent")) == r.urgent for r, p in pairs if r.urgent is not None)
        scores[kind] = {
            "n": len(pairs),
            "urgent": any(r.urgent for r, _ in pairs),
            "urgent_right": right,
            "urgent_right_share": _rounded(_ratio(right, len(urgent_rows))),
            "intent_accuracy": _rounded(intent_accuracy([r for r, _ in pairs], [p for _, p in pairs])),
        }
    return scores


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def group_scores(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> dict[str, Any]:
    """Every score of one group of rows (one language tag, or all of them)."""
    gold_urgent, predicted_urgent, found = urgent_counts(rows, predictions)
    off_topic = [bool(p.get("urgent")) for row, p in zip(rows, predictions) if row.intent == OUT_OF_SCOPE_INTENT]
    # An interruption (the stop intent, or a row of kind `interruption`: "delete it all, he is
    # here" is `forget_me`) is answered right when the bot leaves at once: the quick exit, never urgent.
    stops = [bool(p.get("quick_exit")) and not p.get("urgent") for row, p in zip(rows, predictions)
             if row.intent == STOP_INTENT or row.kind == INTERRUPTION_KIND]
    return {
        "n": len(rows),
        "intent_accuracy": _rounded(intent_accuracy(rows, predictions)),
        "macro_f1": _rounded(macro_f1(rows, predictions)),
        "lang_accuracy": _rounded(lang_accuracy(rows, predictions)),
        "lang_accuracy_3plus": _rounded(lang_accuracy(rows, predictions, MIN_WORDS)),
        "n_3plus": sum(word_count(row.text) >= MIN_WORDS for row in rows),
        "urgent_recall": _rounded(urgent_recall(rows, predictions)),
        "urgent_precision": _rounded(urgent_precision(rows, predictions)),
        "urgent": gold_urgent,
        "urgent_predicted": predicted_urgent,
        "urgent_found": found,
        "false_urgent_rate_out_of_scope": _rounded(false_urgent_rate(rows, predictions)),
        "out_of_scope": len(off_topic),
        "out_of_scope_urgent": sum(off_topic),
        "quick_exit_rate_stop": _rounded(_ratio(sum(stops), len(stops))),
        "stop": len(stops),
        "stop_quick_exit": sum(stops),
    }


def evaluate_predictions(rows: Sequence[GoldRow], predictions: Sequence[Prediction]) -> dict[str, Any]:
    """All the scores of `predictions` against `rows` (same length, same order).

    Returns:
        `{"labelled": bool, "by_lang": {tag: scores}, "overall": scores, "confusion": matrix or
        None, "by_kind": {kind: scores}, "missed_urgent": [...], "false_urgent": [...]}`;
        `labelled` is False when the rows
        carry only a language (then intent and urgency scores are None).
    """
    if len(rows) != len(predictions):
        raise ValueError(f"{len(rows)} rows but {len(predictions)} predictions")
    labelled = any(row.intent is not None for row in rows)
    tags = [tag for tag in LANGS if any(row.lang == tag for row in rows)]
    tags += sorted({row.lang for row in rows} - set(tags))
    by_lang = {}
    for tag in tags:
        group = [(row, p) for row, p in zip(rows, predictions) if row.lang == tag]
        by_lang[tag] = group_scores([row for row, _ in group], [p for _, p in group])
    return {
        "labelled": labelled,
        "by_lang": by_lang,
        "overall": group_scores(rows, predictions),
        "confusion": confusion_matrix(rows, predictions) if labelled else None,
        "by_kind": kind_scores(rows, predictions),
        "missed_urgent": missed_urgent(rows, predictions),
        "false_urgent": false_urgent(rows, predictions),
    }


# --- reports ------------------------------------------------------------------------------------


def report_document(
    evaluation: dict[str, Any], model: Path, sources: Sequence[Path], day: date | None = None
) -> dict[str, Any]:
    """The JSON document of `maak eval --json`: the scores, with the date, model and input names."""
    names = ", ".join(source.name for source in sources)
    return {"date": (day or date.today()).isoformat(), "model": model.name, "input": names, **evaluation}


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _with_count(value: float | None, numerator: int, denominator: int) -> str:
    return "—" if value is None else f"{value:.3f} ({numerator}/{denominator})"


def _table(headings: Sequence[str], lines: Iterable[Sequence[str]]) -> list[str]:
    lines = [list(line) for line in lines]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headings, *lines)]
    out = []
    for cells in [list(headings), *lines]:
        # The tag column reads left-aligned, the numbers right-aligned.
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    return out


def _score_line(tag: str, s: dict[str, Any], labelled: bool) -> list[str]:
    line = [tag, str(s["n"])]
    if labelled:
        line += [_num(s["intent_accuracy"]), _num(s["macro_f1"])]
    line += [_num(s["lang_accuracy"]), _num(s["lang_accuracy_3plus"]), str(s["n_3plus"])]
    if labelled:
        line += [
            _with_count(s["urgent_recall"], s["urgent_found"], s["urgent"]),
            _with_count(s["urgent_precision"], s["urgent_found"], s["urgent_predicted"]),
            _with_count(s["false_urgent_rate_out_of_scope"], s["out_of_scope_urgent"], s["out_of_scope"]),
            _with_count(s["quick_exit_rate_stop"], s["stop_quick_exit"], s["stop"]),
        ]
    return line


def _confusion_lines(confusion: dict[str, Any]) -> list[str]:
    # Intent names are too wide for column headings: every label gets a number, rows show the
    # number and the name, columns the number, so the diagonal is where the two numbers agree.
    labels = confusion["gold"] + [p for p in confusion["predicted"] if p not in confusion["gold"]]
    digits = len(str(len(labels)))
    number = {label: str(i).rjust(digits) for i, label in enumerate(labels, start=1)}
    name_width = max(len(f"{number[g]} {g}") for g in confusion["gold"])
    cell = max(3, digits + 1, *(len(str(c)) + 1 for row in confusion["counts"] for c in row))
    lines = [" " * name_width + "".join(number[p].rjust(cell) for p in confusion["predicted"])]
    for g, counts in zip(confusion["gold"], confusion["counts"]):
        cells = "".join((str(c) if c else ".").rjust(cell) for c in counts)
        lines.append(f"{number[g]} {g}".ljust(name_width) + cells)
    extra = [f"{number[p].strip()} {p}" for p in confusion["predicted"] if p not in confusion["gold"]]
    if extra:
        lines.append("predicted only: " + ", ".join(extra))
    return lines


def _message_line(item: dict[str, Any]) -> str:
    gold = f"{item['intent']} → " if item.get("intent") else ""
    kind = f" ({item['kind']})" if item.get("kind") else ""
    return f"  [{item['lang']}]{kind} {gold}{item['predicted_intent'] or NO_INTENT}: {item['text']}"


def _kind_lines(by_kind: dict[str, dict[str, Any]]) -> list[str]:
    rows = [
        [kind, "urgent" if s["urgent"] else "not urgent", str(s["n"]),
         _with_count(s["urgent_right_share"], s["urgent_right"], s["n"]), _num(s["intent_accuracy"])]
        for kind, s in sorted(by_kind.items(), key=lambda item: (not item[1]["urgent"], item[0]))
    ]  # fmt: skip
    return _table(["kind", "gold", "n", "urgency right", "intent"], rows)


def text_report(document: dict[str, Any]) -> str:
    """The human-readable report: scores per tag and overall, urgent mistakes, confusion matrix."""
    labelled = document["labelled"]
    headings = ["tag", "n"]
    if labelled:
        headings += ["intent", "macro-F1"]
    headings += ["lang", f"lang {MIN_WORDS}+", f"n {MIN_WORDS}+"]
    if labelled:
        headings += ["urgent recall", "urgent precision", "false urgent (out_of_scope)", "quick exit (stop)"]
    scores = [_score_line(tag, s, labelled) for tag, s in document["by_lang"].items()]
    scores.append(_score_line(OVERALL, document["overall"], labelled))
    lines = [f"maak eval — {document['input']} — model {document['model']} — {document['date']}", ""]
    lines += _table(headings, scores)
    if document.get("by_kind"):
        lines += ["", "per kind (urgency right: urgent kinds found, other kinds not flagged)"]
        lines += _kind_lines(document["by_kind"])
    if labelled:
        lines += ["", f"missed urgent ({len(document['missed_urgent'])}): gold → predicted intent"]
        lines += [_message_line(item) for item in document["missed_urgent"]] or ["  none"]
        lines += ["", f"false urgent ({len(document['false_urgent'])}): gold → predicted intent"]
        lines += [_message_line(item) for item in document["false_urgent"]] or ["  none"]
        lines += ["", "confusion matrix (rows gold, columns predicted, . = 0)"]
        lines += _confusion_lines(document["confusion"])
    if "speed" in document:
        speed = document["speed"]
        lines += ["", f"parse speed after model load: {speed['per_second']} messages/s "
                      f"({speed['messages']} in {speed['seconds']} s)"]
    return "\n".join(lines) + "\n"


PLOT_SCORES = (
    ("intent_accuracy", "intent accuracy"),
    ("macro_f1", "macro-F1"),
    ("lang_accuracy", "language ID"),
    ("urgent_recall", "urgent recall"),
    ("urgent_precision", "urgent precision"),
)


def plot_report(evaluation: dict[str, Any], path: Path) -> None:
    """One PNG: the scores per language tag as bars, and the confusion matrix as a heatmap."""
    # The Agg canvas directly: no display needed, and pyplot's global state stays untouched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    confusion = evaluation.get("confusion")
    figure = Figure(figsize=(18, 8) if confusion else (9, 6), constrained_layout=True)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1, 2, width_ratios=[1, 1.2]) if confusion else figure.add_gridspec(1, 1)

    bars = figure.add_subplot(grid[0, 0])
    groups = {**evaluation["by_lang"], OVERALL: evaluation["overall"]}
    width = 0.8 / len(PLOT_SCORES)
    for i, (key, label) in enumerate(PLOT_SCORES):
        # An undefined score (None) draws no bar rather than a misleading zero.
        heights = [math.nan if s[key] is None else s[key] for s in groups.values()]
        offset = (i - (len(PLOT_SCORES) - 1) / 2) * width
        bars.bar([x + offset for x in range(len(groups))], heights, width, label=label)
    bars.set_xticks(range(len(groups)))
    bars.set_xticklabels(list(groups))
    bars.set_ylim(0, 1.05)
    bars.set_title("scores per language tag")
    # Below the axes: inside, it would hide the bars, which all start at zero.
    bars.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=len(PLOT_SCORES), fontsize="small")
    bars.grid(axis="y", alpha=0.3)

    if confusion:
        heat = figure.add_subplot(grid[0, 1])
        # A square-root scale and the counts written in: with linear colours the largest intent
        # hides every confusion, and a confusion of one or two is what the matrix is read for.
        counts = confusion["counts"]
        peak = max((max(row) for row in counts), default=0)
        image = heat.imshow(counts, cmap="Blues", aspect="auto", norm=PowerNorm(0.5, vmin=0, vmax=max(peak, 1)))
        for r, row in enumerate(counts):
            for c, count in enumerate(row):
                if count:
                    colour = "white" if count > peak / 3 else "black"
                    heat.text(c, r, str(count), ha="center", va="center", fontsize="x-small", color=colour)
        heat.set_xticks(range(len(confusion["predicted"])))
        heat.set_xticklabels(confusion["predicted"], rotation=90, fontsize="small")
        heat.set_yticks(range(len(confusion["gold"])))
        heat.set_yticklabels(confusion["gold"], fontsize="small")
        heat.set_xlabel("predicted intent")
        heat.set_ylabel("gold intent")
        heat.set_title("confusion matrix (all tags)")
        figure.colorbar(image, ax=heat, shrink=0.8)
    figure.savefig(path, format="png", dpi=100)


# --- the command --------------------------------------------------------------------------------


async def predict(agent: Any, rows: Sequence[GoldRow]) -> list[Prediction]:
    """The model's reading of every row, in the shape `maak parse` prints."""
    from tools.parse import result_of

    return [result_of(row.text, await agent.parse_message(row.text)) for row in rows]


async def run_eval(
    settings: Settings,
    sources: Sequence[Path],
    model: Path | None,
    stdout: TextIO,
    as_json: bool = False,
    plot: Path | None = None,
) -> int:
    """`maak eval`: read every file, parse every row with `model`, print the report; the exit code."""
    try:
        rows = [row for source in sources for row in read_rows(source)]
    except EvalFileError as exc:
        print(f"maak: {exc}", file=sys.stderr)
        return 2
    model = model or latest_model(settings.models_dir)
    if model is None or not model.exists():
        print("maak: no model; run `maak train` first", file=sys.stderr)
        return 2
    # Checked before the minutes of parsing, not after.
    if plot is not None and not plot.parent.is_dir():
        print(f"maak: cannot write the plot: no directory {plot.parent}", file=sys.stderr)
        return 2

    from core.logs import silence_rasa_structlog
    from tools.parse import load_agent

    silence_rasa_structlog()
    logging.getLogger("rasa").setLevel(logging.ERROR)
    agent = load_agent(model)
    await agent.parse_message("salam")  # the first parse builds TensorFlow graphs: not part of the speed
    started = time.perf_counter()
    predictions = await predict(agent, rows)
    elapsed = time.perf_counter() - started
    document = report_document(evaluate_predictions(rows, predictions), model, sources)
    # The parse speed after the model is loaded, the figure `maak parse` users care about.
    document["speed"] = {"messages": len(rows), "seconds": round(elapsed, 3), "per_second": round(len(rows) / elapsed, 1)}
    if plot is not None:
        plot_report(document, plot)
    stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n" if as_json else text_report(document))
    stdout.flush()
    return 0
