"""Text normalisation: `fold` for matchers, and the per-token canonical forms for features."""

from __future__ import annotations

import pytest

from nlu.normalise import fold, looks_arabizi, normalise_arabic, normalise_arabizi, normalise_token

# --- fold: others rely on its exact behaviour --------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bonjour À TOUS", "bonjour a tous"),
        ("Hébergement d'urgence, SVP !", "hebergement d urgence svp"),
        ("مُسَاعَدَة", "مساعده"),  # diacritics gone, ta marbuta → ha
        ("مـــرحبا", "مرحبا"),  # tatweel
        ("أنا إلى آخر", "انا الي اخر"),  # alef forms, alif maqsura
        ("مسؤول شيئ", "مسوول شيي"),  # hamza seats
        ("bzaaaaf", "bzaf"),  # long repeats collapsed
        ("3afak m3a 7na", "3afak m3a 7na"),  # Arabizi digits kept
        ("  stop...   now!! ", "stop now"),
        ("1000 dh", "1000 dh"),  # digits are never collapsed
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


# --- Arabic script -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("ڭال", "كال"),  # Moroccan gaf
        ("ڤيديو", "فيديو"),
        ("١٩", "19"),  # Eastern Arabic digits
        ("بزااف", "بزاف"),  # lengthening
        ("شيء", "شي"),  # word-final hamza, as Darija writes it
        ("الدار", "الدار"),  # the article stays
        ("مُعَنَّفَة", "معنفه"),
    ],
)
def test_normalise_arabic(token: str, expected: str) -> None:
    assert normalise_arabic(token) == expected


# --- Latin script ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "variants",
    [
        ["khoya", "khouya", "5ouya", "KHOUYA"],
        ["kaydrebni", "kaydrbni"],
        ["bezzaf", "bzaf", "bzzaf", "bezaf"],
        ["dyal", "dial"],
        ["chno", "shno", "xno", "chnou"],
        ["9lbi", "qlbi"],
        ["8ir", "ghir"],
        ["mzyan", "mziane", "mzian"],
        ["kayn", "kain"],
    ],
)
def test_arabizi_spellings_meet(variants: list[str]) -> None:
    assert len({normalise_arabizi(v) for v in variants}) == 1


@pytest.mark.parametrize(
    "word", ["pour", "vous", "tout", "she", "should", "book", "like", "tante", "ma", "hello", "2eme", "5min", "mp3"]
)
def test_french_english_and_units_are_only_folded(word: str) -> None:
    assert normalise_arabizi(word) == fold(word)


def test_digits_inside_words_mark_arabizi() -> None:
    assert looks_arabizi("3afak") and looks_arabizi("m3a") and looks_arabizi("sm7li")
    assert not looks_arabizi("2eme") and not looks_arabizi("covid19") and not looks_arabizi("pour")


def test_darija_verb_shapes_are_arabizi() -> None:
    assert looks_arabizi("kanbghi") and looks_arabizi("ghaydrebni")
    assert normalise_arabizi("Kaydrebni") == normalise_arabizi("kaydrbni")


# --- by script ---------------------------------------------------------------------------------

def test_normalise_token_chooses_by_script() -> None:
    assert normalise_token("بزااف") == "بزاف"
    assert normalise_token("5ouya") == normalise_token("khoya")
    assert normalise_token("Éducation") == "education"
    assert normalise_token("2024") == "2024"
    assert normalise_token("😢") == "😢"  # an emoji stays a feature of its own
