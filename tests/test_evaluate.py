"""`maak eval`: the scores on hand-made rows, the TSV reader, the reports, the plot, the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from core.settings import PROJECT_ROOT
from tools.evaluate import (
    EvalFileError,
    GoldRow,
    confusion_matrix,
    evaluate_predictions,
    false_urgent,
    false_urgent_rate,
    intent_accuracy,
    lang_accuracy,
    macro_f1,
    missed_urgent,
    parse_rows,
    read_rows,
    report_document,
    text_report,
    urgent_precision,
    urgent_recall,
)
from tools.model_cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCORE_KEYS = {
    "n",
    "intent_accuracy",
    "macro_f1",
    "lang_accuracy",
    "lang_accuracy_3plus",
    "n_3plus",
    "urgent_recall",
    "urgent_precision",
    "urgent",
    "urgent_predicted",
    "urgent_found",
    "false_urgent_rate_out_of_scope",
    "out_of_scope",
    "out_of_scope_urgent",
    "quick_exit_rate_stop",
    "stop",
    "stop_quick_exit",
}


def row(text: str, intent: str | None, lang: str = "fr", urgent: bool | None = False) -> GoldRow:
    return GoldRow(text=text, lang=lang, intent=intent, urgent=urgent)


def pred(intent: str | None, lang: str = "fr", urgent: bool = False, text: str = "") -> dict[str, Any]:
    return {"text": text, "intent": intent, "confidence": 0.9, "lang": lang, "urgent": urgent, "entities": []}


# Four French and two English messages; every kind of mistake appears once.
ROWS = [
    row("il me frappe maintenant", "immediate_danger", "fr", True),
    row("il me frappe encore ce soir", "immediate_danger", "fr", True),
    row("bonjour", "greet", "fr"),
    row("une recette de tajine svp", "out_of_scope", "fr"),
    row("he hit me last year", "report_violence", "en"),
    row("hello there friend", "greet", "en"),
]
PREDICTIONS = [
    pred("immediate_danger", "fr", True),
    pred("report_violence", "fr", False),  # a missed urgent message
    pred("greet", "en"),  # language wrong on a one-word message
    pred("nlu_fallback", "fr", True),  # fallback, and a false urgent on an off-topic message
    pred("immediate_danger", "en", True),  # a false urgent
    pred("greet", "fr"),  # language wrong on a three-word message
]


# --- scores -------------------------------------------------------------------------------------


def test_intent_accuracy_counts_the_fallback_as_wrong():
    assert intent_accuracy(ROWS, PREDICTIONS) == pytest.approx(3 / 6)
    # Even a gold label that names the fallback is not matched by it.
    assert intent_accuracy([row("x", "nlu_fallback")], [pred("nlu_fallback")]) == 0.0
    assert intent_accuracy([row("x", None)], [pred("greet")]) is None


def test_macro_f1_by_hand():
    rows = [row("a1", "a"), row("a2", "a"), row("b1", "b"), row("c1", "c")]
    predictions = [pred("a"), pred("b"), pred("b"), pred("nlu_fallback")]
    # a: TP 1, FN 1 → 2/3; b: TP 1, FP 1 → 2/3; c: only a fallback → 0. The fallback itself is
    # no intent to average over: (2/3 + 2/3 + 0) / 3.
    assert macro_f1(rows, predictions) == pytest.approx(4 / 9)
    # An intent that is only predicted, never gold, is averaged over with its F1 of zero.
    assert macro_f1([row("a", "a"), row("b", "a")], [pred("a"), pred("z")]) == pytest.approx((2 / 3 + 0) / 2)
    assert macro_f1([row("a", "a")], [pred("a")]) == 1.0
    assert macro_f1([], []) is None


def test_language_accuracy_on_all_and_on_three_words_or_more():
    assert lang_accuracy(ROWS, PREDICTIONS) == pytest.approx(4 / 6)
    # "bonjour" (one word) drops out; "hello there friend" (three words) stays.
    assert lang_accuracy(ROWS, PREDICTIONS, min_words=3) == pytest.approx(4 / 5)
    assert lang_accuracy([row("salam", None, "ary")], [pred(None, "ary")], min_words=3) is None


def test_urgent_recall_and_precision():
    assert urgent_recall(ROWS, PREDICTIONS) == pytest.approx(1 / 2)
    assert urgent_precision(ROWS, PREDICTIONS) == pytest.approx(1 / 3)
    calm = [row("merci", "thank"), row("au revoir", "goodbye")]
    # Nothing urgent and nothing predicted urgent: no mistake, precision 1; recall is undefined.
    assert urgent_precision(calm, [pred("thank"), pred("goodbye")]) == 1.0
    assert urgent_recall(calm, [pred("thank"), pred("goodbye")]) is None
    # Urgent messages all missed and nothing predicted urgent: precision is undefined.
    danger = [row("il me frappe", "immediate_danger", urgent=True)]
    assert urgent_precision(danger, [pred("greet")]) is None
    assert urgent_recall(danger, [pred("greet")]) == 0.0
    # A language-only file has no urgent labels at all.
    assert urgent_precision([row("salut", None, urgent=None)], [pred(None, urgent=True)]) is None


def test_false_urgent_rate_on_off_topic_messages():
    assert false_urgent_rate(ROWS, PREDICTIONS) == 1.0
    assert false_urgent_rate(ROWS[:3], PREDICTIONS[:3]) is None


def test_confusion_matrix_counts():
    matrix = confusion_matrix(ROWS + [ROWS[2]], PREDICTIONS + [pred(None)])
    assert matrix["gold"] == ["greet", "immediate_danger", "out_of_scope", "report_violence"]
    # The columns shared with the rows first and in their order, then the fallback, then no intent.
    assert matrix["predicted"] == ["greet", "immediate_danger", "report_violence", "nlu_fallback", "(none)"]

    def count(gold: str, predicted: str) -> int:
        return matrix["counts"][matrix["gold"].index(gold)][matrix["predicted"].index(predicted)]

    assert count("greet", "greet") == 2 and count("greet", "(none)") == 1
    assert count("immediate_danger", "immediate_danger") == 1
    assert count("immediate_danger", "report_violence") == 1
    assert count("report_violence", "immediate_danger") == 1
    assert count("out_of_scope", "nlu_fallback") == 1
    assert sum(map(sum, matrix["counts"])) == 7


def test_missed_and_false_urgent_lists():
    assert missed_urgent(ROWS, PREDICTIONS) == [
        {
            "text": "il me frappe encore ce soir",
            "lang": "fr",
            "intent": "immediate_danger",
            "kind": None,
            "predicted_intent": "report_violence",
        }
    ]
    assert [(m["text"], m["predicted_intent"]) for m in false_urgent(ROWS, PREDICTIONS)] == [
        ("une recette de tajine svp", "nlu_fallback"),
        ("he hit me last year", "immediate_danger"),
    ]


def test_evaluate_predictions_per_tag_and_overall():
    result = evaluate_predictions(ROWS, PREDICTIONS)
    assert result["labelled"] is True
    assert list(result["by_lang"]) == ["fr", "en"]  # the tags' usual order, only those present
    assert set(result["overall"]) == SCORE_KEYS
    fr, en, overall = result["by_lang"]["fr"], result["by_lang"]["en"], result["overall"]
    assert (fr["n"], en["n"], overall["n"]) == (4, 2, 6)
    assert fr["intent_accuracy"] == 0.5 and en["intent_accuracy"] == 0.5
    assert fr["urgent_recall"] == 0.5 and fr["urgent_precision"] == 0.5
    # English: nothing urgent, one false urgent → precision 0, recall undefined.
    assert en["urgent_recall"] is None and en["urgent_precision"] == 0.0
    assert fr["lang_accuracy"] == 0.75 and fr["lang_accuracy_3plus"] == 1.0 and fr["n_3plus"] == 3
    assert overall["urgent_precision"] == 0.3333  # rounded for reading
    assert (overall["out_of_scope"], overall["out_of_scope_urgent"]) == (1, 1)
    assert len(result["missed_urgent"]) == 1 and len(result["false_urgent"]) == 2
    with pytest.raises(ValueError, match="6 rows but 5 predictions"):
        evaluate_predictions(ROWS, PREDICTIONS[:5])


def test_an_interruption_counts_when_the_answer_is_the_quick_exit_and_not_urgent():
    rows = [row(text, "stop") for text in ("il arrive", "efface vite il regarde", "pas maintenant", "chut")]
    # "Delete it all, he is here": what she asked is to erase, and it is an interruption all the same.
    rows += [replace(row("supprime tout vite il est la", "forget_me"), kind="interruption"),
             replace(row("effacez mes données svp", "forget_me"), kind="plain")]
    predictions = [
        {**pred("stop"), "quick_exit": True},
        {**pred("forget_me"), "quick_exit": True},  # erased in a hurry: erased, then the quick exit
        {**pred("forget_me"), "quick_exit": False},  # erased, but she stays on the chat
        {**pred("immediate_danger", urgent=True), "quick_exit": False},
        {**pred("forget_me"), "quick_exit": False},
        {**pred("forget_me"), "quick_exit": False},  # a calm request: not an interruption
    ]
    fr = evaluate_predictions(rows, predictions)["by_lang"]["fr"]
    assert (fr["stop"], fr["stop_quick_exit"], fr["quick_exit_rate_stop"]) == (5, 2, 0.4)


def test_language_only_rows_score_only_the_language():
    rows = [row("salam labas 3lik", None, "ary-Latn", None), row("كيف حالك", None, "ar", None)]
    result = evaluate_predictions(rows, [pred("greet", "ary-Latn", True), pred("greet", "ary")])
    assert result["labelled"] is False and result["confusion"] is None
    assert result["overall"]["lang_accuracy"] == 0.5 and result["overall"]["lang_accuracy_3plus"] == 1.0
    assert result["overall"]["intent_accuracy"] is None and result["overall"]["urgent_recall"] is None
    assert result["missed_urgent"] == [] and result["false_urgent"] == []


# --- the TSV file -------------------------------------------------------------------------------


def test_reads_a_labelled_file(tmp_path: Path):
    path = tmp_path / "dev.tsv"
    content = (
        "text\tintent\tlang\turgent\r\n"
        "il me frappe\timmediate_danger\tfr\t1\r\n"
        "\r\n"
        "   \n"
        "rah kaydrbni\timmediate_danger\tary-Latn\ttrue\n"
        "thanks\tthank\ten\tFalse\n"
        "شكرا\tthank\tar\t0\n"
    )
    path.write_bytes(content.encode() + b"bonjour \xff\tgreet\tfr\t0\n")
    rows = read_rows(path)
    assert [(r.lang, r.intent, r.urgent, r.line) for r in rows] == [
        ("fr", "immediate_danger", True, 2),
        ("ary-Latn", "immediate_danger", True, 5),
        ("en", "thank", False, 6),
        ("ar", "thank", False, 7),
        ("fr", "greet", False, 8),
    ]
    assert rows[3].text == "شكرا" and rows[4].text == "bonjour \ufffd"


def test_reads_a_language_only_file():
    rows = parse_rows("\ufefftext\tlang\nsalam\tary\nbonjour\tfr\n")
    assert rows == [GoldRow("salam", "ary", None, None, 2), GoldRow("bonjour", "fr", None, None, 3)]


@pytest.mark.parametrize(
    "content, message",
    [
        ("text\tintent\tlanguage\turgent\nx\tgreet\tfr\t0\n", r"dev\.tsv:1: the header must be"),
        ("", r"dev\.tsv:1: empty file"),
        ("text\tintent\tlang\turgent\n", r"dev\.tsv: no messages"),
        ("text\tintent\tlang\turgent\nbonjour\tgreet\tfr\t0\nsalut\tgreet\tfr\n", r"dev\.tsv:3: expected 4 .* found 3"),
        ("text\tlang\n\nbonjour\tgreet\tfr\n", r"dev\.tsv:3: expected 2 .* found 3"),
        ("text\tintent\tlang\turgent\nhola\tgreet\tes\t0\n", r"dev\.tsv:2: unknown language tag 'es'"),
        ("text\tintent\tlang\turgent\nsalam\tgreet\tary-latn\t0\n", r"dev\.tsv:2: unknown language tag 'ary-latn'"),
        ("text\tintent\tlang\turgent\nbonjour\tgreet\tfr\tyes\n", r"dev\.tsv:2: urgent must be 1, 0, true or false"),
        ("text\tintent\tlang\turgent\nbonjour\t\tfr\t0\n", r"dev\.tsv:2: empty intent"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_line(tmp_path: Path, content: str, message: str):
    path = tmp_path / "dev.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalFileError, match=message):
        read_rows(path)


def test_the_command_refuses_a_malformed_file_with_exit_code_2(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("MAAK_VAR_DIR", str(tmp_path / "var"))
    path = tmp_path / "dev.tsv"
    path.write_text("text\tintent\tlang\turgent\nbonjour\tgreet\tfr\tmaybe\n", encoding="utf-8")
    assert main(["eval", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "dev.tsv:2: urgent must be" in captured.err


# --- the reports --------------------------------------------------------------------------------


def document(rows: list[GoldRow] = ROWS, predictions: list[dict[str, Any]] = PREDICTIONS) -> dict[str, Any]:
    evaluation = evaluate_predictions(rows, predictions)
    return report_document(evaluation, Path("models/maak-abc.tar.gz"), [Path("/tmp/dev.tsv")], date(2026, 11, 22))


def test_the_json_document_names_the_date_the_model_and_the_input():
    doc = json.loads(json.dumps(document(), ensure_ascii=False))
    assert (doc["date"], doc["model"], doc["input"]) == ("2026-11-22", "maak-abc.tar.gz", "dev.tsv")
    assert set(doc) == {"date", "model", "input", "labelled", "by_lang", "overall", "confusion", "by_kind"} | {
        "missed_urgent",
        "false_urgent",
    }
    assert set(doc["confusion"]) == {"gold", "predicted", "counts"}


def test_the_text_report_has_the_table_the_urgent_mistakes_and_the_matrix():
    report = text_report(document())
    lines = report.splitlines()
    assert lines[0] == "maak eval — dev.tsv — model maak-abc.tar.gz — 2026-11-22"
    assert lines[2].split()[:4] == ["tag", "n", "intent", "macro-F1"]
    table = {line.split()[0]: line.split() for line in lines[3:6]}
    assert list(table) == ["fr", "en", "all"]
    assert table["fr"][:3] == ["fr", "4", "0.500"] and table["all"][1] == "6"
    assert "0.500 (1/2)" in lines[3]  # French urgent recall with its counts
    assert "—" in lines[4]  # English urgent recall is undefined
    missed = lines.index("missed urgent (1): gold → predicted intent")
    assert lines[missed + 1] == "  [fr] immediate_danger → report_violence: il me frappe encore ce soir"
    assert "false urgent (2): gold → predicted intent" in lines
    matrix = lines.index("confusion matrix (rows gold, columns predicted, . = 0)")
    # Every intent has one number; out_of_scope (3) is never predicted, so it has no column.
    assert lines[matrix + 1].split() == ["1", "2", "4", "5"]
    assert lines[matrix + 2].split() == ["1", "greet", "2", ".", ".", "."]
    assert lines[matrix + 3].split() == ["2", "immediate_danger", ".", "1", "1", "."]
    assert lines[matrix + 4].split() == ["3", "out_of_scope", ".", ".", ".", "1"]
    assert lines[-1] == "predicted only: 5 nlu_fallback"


def test_the_text_report_of_a_language_only_file():
    rows = [row("salam labas 3lik", None, "ary-Latn", None)]
    report = text_report(document(rows, [pred(None, "ary")]))
    assert report.splitlines()[2].split() == ["tag", "n", "lang", "lang", "3+", "n", "3+"]
    assert "confusion" not in report and "urgent" not in report


# --- the command, end to end --------------------------------------------------------------------

E2E_ROWS = [
    ("rajli kaydrebni daba w 3ndo mos", "immediate_danger", "ary-Latn", "1"),
    ("il me frappe en ce moment aidez moi", "immediate_danger", "fr", "1"),
    ("je cherche une formation en couture a Fes", "seek_training", "fr", "0"),
    ("بغيت نخدم فكازا", "seek_job", "ary", "0"),
    ("hello", "greet", "en", "0"),
    ("thank you so much", "thank", "en", "0"),
    ("ما هي أرقام الطوارئ", "ask_emergency_numbers", "ar", "0"),
    ("how do i cook couscous", "out_of_scope", "en", "0"),
    ("stop", "stop", "en", "0"),
    ("merci beaucoup", "thank", "fr", "0"),
]


def test_maak_eval_prints_one_json_document(model: Path, tmp_path: Path):
    source = tmp_path / "sample.tsv"
    source.write_text("text\tintent\tlang\turgent\n" + "".join("\t".join(r) + "\n" for r in E2E_ROWS), encoding="utf-8")
    plot = tmp_path / "sample.png"
    result = subprocess.run(
        [sys.executable, "-m", "cli", "eval", str(source), "--model", str(model), "--json", "--plot", str(plot)],
        capture_output=True,
        cwd=PROJECT_ROOT,
        env={**os.environ, "MAAK_VAR_DIR": str(tmp_path / "var")},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    doc = json.loads(result.stdout)  # stdout is the document and nothing else
    assert (doc["model"], doc["input"]) == (model.name, "sample.tsv")
    assert date.fromisoformat(doc["date"])
    assert doc["labelled"] is True
    assert list(doc["by_lang"]) == ["ar", "ary", "ary-Latn", "fr", "en"]
    assert all(set(scores) == SCORE_KEYS for scores in [*doc["by_lang"].values(), doc["overall"]])
    assert doc["overall"]["n"] == 10 and doc["by_lang"]["en"]["n"] == 4 and doc["overall"]["urgent"] == 2
    assert 0.0 <= doc["overall"]["intent_accuracy"] <= 1.0
    confusion = doc["confusion"]
    assert sum(map(sum, confusion["counts"])) == 10 and "immediate_danger" in confusion["gold"]
    assert isinstance(doc["missed_urgent"], list) and isinstance(doc["false_urgent"], list)
    assert plot.read_bytes().startswith(PNG_SIGNATURE)
    assert doc["speed"]["messages"] == 10 and doc["speed"]["per_second"] > 0


def test_a_fifth_column_kind_gives_scores_per_kind() -> None:
    rows = parse_rows(
        "text\tintent\tlang\turgent\tkind\n"
        "il a un couteau la\timmediate_danger\tfr\t1\tweapon\n"
        "il arrive je dois partir\tstop\tfr\t0\tinterruption\n"
        "quelqu'un arrive\tstop\tfr\t0\tinterruption\n"
    )
    assert [r.kind for r in rows] == ["weapon", "interruption", "interruption"]
    predictions = [pred("immediate_danger", urgent=True), pred("stop"), pred("immediate_danger", urgent=True)]
    result = evaluate_predictions(rows, predictions)
    assert result["by_kind"]["weapon"] == {
        "n": 1, "urgent": True, "urgent_right": 1, "urgent_right_share": 1.0, "intent_accuracy": 1.0}
    assert result["by_kind"]["interruption"]["urgent_right"] == 1
    assert result["by_kind"]["interruption"]["intent_accuracy"] == 0.5
    assert result["false_urgent"][0]["kind"] == "interruption"
    report = text_report(report_document(result, Path("m.tar.gz"), [Path("x.tsv")]))
    assert "per kind" in report and "interruption" in report and "(interruption)" in report


def test_a_four_column_file_has_no_kinds() -> None:
    rows = parse_rows("text\tintent\tlang\turgent\nbonjour\tgreet\tfr\t0\n")
    assert rows[0].kind is None
    assert evaluate_predictions(rows, [pred("greet")])["by_kind"] == {}
