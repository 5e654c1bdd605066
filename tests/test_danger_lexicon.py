"""The danger lexicon (second signal of "urgent") and the one decision function `is_urgent`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from nlu.danger import LANGS, DangerLexicon, LexiconError, default_lexicon, is_urgent

LEXICON = DangerLexicon.load()


@pytest.mark.parametrize("entry", LEXICON.entries, ids=[e.id for e in LEXICON.entries])
def test_entry_examples_match_their_entry(entry) -> None:
    missed = [example for example in entry.examples if entry.id not in LEXICON.match(example)]
    assert not missed, f"{entry.id} does not match {missed}"


@pytest.mark.parametrize("text", LEXICON.must_not_match)
def test_ordinary_and_past_messages_do_not_match(text: str) -> None:
    assert LEXICON.explain(text) == []


def test_every_language_covers_the_main_dangers() -> None:
    kinds = ("threat-kill", "weapon-now", "hitting-now", "door-coming", "locked-in", "suicide-self-harm",
             "other-in-danger", "help-now")
    ids = set(LEXICON.ids)
    missing = [f"{lang}-{kind}" for lang in LANGS for kind in kinds if f"{lang}-{kind}" not in ids]
    assert not missing
    assert Counter(e.lang for e in LEXICON.entries).keys() == set(LANGS)
    assert all(e.id.startswith(f"{e.lang}-") for e in LEXICON.entries)


def test_must_not_match_covers_every_language() -> None:
    assert len(LEXICON.must_not_match) >= 40


@pytest.mark.parametrize(
    ("intent", "text", "urgent"),
    [
        ("immediate_danger", "", True),
        ("immediate_danger", "bonjour", True),  # the classifier alone is enough
        ("report_violence", "il me frappe là, au secours", True),  # the lexicon alone is enough
        (None, "rajli kaydrebni daba", True),  # no intent (NLU down): the lexicon still decides
        ("greet", "bghit nmout", True),
        ("report_violence", "il me frappait il y a deux ans", False),
        ("report_violence", "كان كيضربني قبل", False),
        ("seek_job", "I want a job, my husband left", False),
        (None, "", False),
        (None, "   ", False),
        ("out_of_scope", "quel temps fait-il demain ?", False),
    ],
)
def test_is_urgent_truth_table(intent: str | None, text: str, urgent: bool) -> None:
    assert is_urgent(intent, text) is urgent


@pytest.mark.parametrize(
    "text",
    [
        "il a dit qu'il va me tuer ce soir",
        "he is at the door with a knife",
        "rah f lbab w m3ah mouss",
        "عتقوني راه كيضربني دابا",
        "أنا محبوسة في الغرفة ولا أستطيع الخروج",
        "je veux mourir",
        "bghit n9tl rassi",
        "بغيت نقتل راسي",
        "my sister is being beaten right now",
        "au secours",
        "3tqoni",
        "عتقوني",
        "help me now",
    ],
)
def test_brief_examples_are_urgent(text: str) -> None:
    assert is_urgent(None, text)


def test_match_is_case_accent_and_spelling_insensitive() -> None:
    assert "fr-threat-kill" in LEXICON.match("IL VA ME TUÉR !!!")
    assert "ary-Latn-hitting-now" in LEXICON.match("kaydrbni DABA")  # kaydrebni in the lexicon
    assert "ary-Latn-help-now" in LEXICON.match("3te9ouni")
    assert "ary-weapon-now" in LEXICON.match("وهاز الموس فيدو")  # و glued in front


def test_default_lexicon_is_cached() -> None:
    assert default_lexicon() is default_lexicon()


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "danger.yml"
    path.write_text(body, encoding="utf-8")
    return path


def test_an_entry_without_examples_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "entries:\n- id: fr-x\n  lang: fr\n  phrases: [au secours]\n")
    with pytest.raises(LexiconError, match="fr-x"):
        DangerLexicon.load(path)


def test_a_bad_language_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "entries:\n- id: xx-y\n  lang: de\n  phrases: [hilfe]\n  examples: [hilfe]\n")
    with pytest.raises(LexiconError, match="xx-y"):
        DangerLexicon.load(path)


def test_a_bad_phrase_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "entries:\n- id: en-bad\n  lang: en\n  phrases: ['... help']\n  examples: [help]\n")
    with pytest.raises(LexiconError, match="en-bad"):
        DangerLexicon.load(path)


def test_duplicate_ids_are_named(tmp_path: Path) -> None:
    entry = "- id: en-a\n  lang: en\n  phrases: [help]\n  examples: [help]\n"
    path = _write(tmp_path, "entries:\n" + entry + entry)
    with pytest.raises(LexiconError, match="en-a"):
        DangerLexicon.load(path)


def test_unless_cancels_only_its_entry(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "entries:\n"
        "- id: fr-s\n  lang: fr\n  phrases: [veux mourir]\n  unless: [mourir de rire]\n  examples: [je veux mourir]\n"
        "- id: fr-h\n  lang: fr\n  phrases: [au secours]\n  examples: [au secours]\n",
    )
    lexicon = DangerLexicon.load(path)
    assert lexicon.match("je veux mourir de rire") == []
    assert lexicon.match("au secours je veux mourir de rire") == ["fr-h"]
