"""`maak eval --plot`, which runs in Rasa's environment (matplotlib comes with Rasa)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tools.evaluate import GoldRow, evaluate_predictions, plot_report, report_document

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def prediction(intent: str | None, lang: str, urgent: bool = False) -> dict:
    return {"text": "", "intent": intent, "confidence": 0.9, "lang": lang, "urgent": urgent, "entities": []}


def test_the_plot_is_a_png(tmp_path: Path):
    labelled = [GoldRow(text="il me frappe maintenant", lang="fr", intent="immediate_danger", urgent=True),
                GoldRow(text="hello there friend", lang="en", intent="greet", urgent=False)]
    language_only = [GoldRow(text="salam labas 3lik", lang="ary-Latn", intent=None, urgent=None)]
    for rows, predictions, name in (
        (labelled, [prediction("immediate_danger", "fr", True), prediction("greet", "fr")], "eval.png"),
        (language_only, [prediction(None, "ary")], "lang.png"),
    ):
        document = report_document(evaluate_predictions(rows, predictions), Path("models/maak-abc.tar.gz"),
                                   [Path("/tmp/dev.tsv")], date(2026, 11, 22))
        plot_report(document, tmp_path / name)
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)
