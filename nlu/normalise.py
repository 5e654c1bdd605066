"""Text normalisation shared by every matcher: gazetteer, lexicons and featurisers."""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import yaml

_ARABIC_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_TATWEEL = "\u0640"
_ARABIC_LETTER_FORMS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})
_REPEATS = re.compile(r"(\D)\1{2,}")
_NON_WORD = re.compile(r"[^\w]+")


def fold(text: str) -> str:
    """Fold text for matching: lower case, no accents or diacritics, one form per Arabic letter.

    Digits are kept (Arabizi writes letters with them), letters repeated three times or more are
    collapsed to one, and punctuation becomes single spaces.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _ARABIC_DIACRITICS.sub("", text).replace(_TATWEEL, "").translate(_ARABIC_LETTER_FORMS)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c) or "\u0600" <= c <= "\u06ff")
    text = _REPEATS.sub(r"\1", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


# --- Token canonicalisation for features -------------------------------------------------------
#
# `fold` is what matchers use; the functions below go one step further for featurisers, mapping the
# many spellings of one Darija word onto one form. They work on one token at a time and never
# change a token's meaning class: Arabic-script rules only unify letter variants, and the Arabizi
# rules only touch tokens that look like Darija, so French and English words are left as folded.

_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3\u06fa-\u06ff]")
_LATIN_LETTER = re.compile(r"[a-z]")
# Letters Moroccan writers borrow for sounds MSA lacks (ڭ/گ for g, ڤ for v, پ for p, چ for tch)
# and Persian/Urdu code points keyboards produce for ordinary Arabic letters.
ARABIC_VARIANTS = str.maketrans(
    {
        "ڭ": "ك", "گ": "ك", "ک": "ك", "ڤ": "ف", "ڥ": "ف", "پ": "ب", "چ": "ج",
        "ی": "ي", "ے": "ي", "ې": "ي", "ھ": "ه", "ۀ": "ه", "ە": "ه",
        "٠": "0", "١": "1", "٢": "2", "٣": "3", "٤": "4", "٥": "5", "٦": "6", "٧": "7", "٨": "8", "٩": "9",
        "۰": "0", "۱": "1", "۲": "2", "۳": "3", "۴": "4", "۵": "5", "۶": "6", "۷": "7", "۸": "8", "۹": "9",
    }
)


def normalise_arabic(token: str) -> str:
    """Canonical form of an Arabic-script token (MSA or Darija) for features.

    Folds, then unifies letter variants that do not change the word: Moroccan/Persian letter
    forms, Eastern Arabic digits, a doubled alef (lengthening, "بزااف"), and a word-final hamza,
    which Darija spelling drops ("شيء" → "شي"). Words are kept whole: the article stays.
    """
    text = fold(token.translate(ARABIC_VARIANTS))
    words = []
    for word in text.split():
        word = re.sub("ا{2,}", "ا", word)
        if len(word) > 2 and word.endswith("ء"):
            word = word[:-1]
        words.append(word)
    return " ".join(words)


# Arabizi digits that stand for a letter pair with a common Latin spelling; 3 (ع) and 7 (ح) are
# kept as they are, having no Latin spelling that would not clash with another letter.
_ARABIZI_DIGIT_LETTERS = (("5", "kh"), ("8", "gh"), ("9", "q"))
# A digit glued to letters: "3afak", "m3a", "sm7li", "9lbi" (units and ordinals are excluded below).
_ARABIZI_DIGIT = re.compile(r"(?:[a-z][2356789]|[2356789][a-z])")
_NOT_ARABIZI = re.compile(
    r"^\d+(?:er|ere|eme|em|e|nd|st|rd|th|h|am|pm|min|mn|km|kg|g|dh|dhs|mad|ans?|mois|j|jours?|x|k|m)$"
    r"|^[a-z]{1,3}\d+$"  # mp3, h24, b2, covid19 …
)
# Darija verb shapes: present prefix ka-/ta- with a person marker before a consonant cluster
# ("kaydrebni", "kanbghi", "tanmchi") and the future gha- ("ghadi", "ghaydrebni").
_DARIJA_SHAPE = re.compile(r"^(?:(?:ka|ta)[ytn][bcdfghjklmnpqrstvwxz2356789]\w{2,}|gha[dnty]\w+)$")
_DARIJA_SHAPE_EXCEPTIONS = frozenset(
    {"tante", "tantot", "tantrum", "tattoo", "tattoos", "katniss", "kayak", "kayaks", "kathy", "ghana", "ghanaian"}
)
_VOWELS = "aeiou"


def arabizi_canon(word: str) -> str:
    """Canonical spelling of one folded Latin word, applied whether or not it is Darija.

    Callers decide when it applies (see `looks_arabizi`): on French or English words it would
    damage them ("pour" → "pur").
    """
    for digit, letters in _ARABIZI_DIGIT_LETTERS:
        word = word.replace(digit, letters)
    word = word.replace("2", "")  # hamza: mostly unwritten, so dropping it unifies "s2al"/"sal"
    word = word.replace("sh", "ch").replace("x", "ch")
    # Darija has no o/u contrast nor a y/i one in Latin spelling: "khouya"/"khoya"/"5ouya",
    # "dyal"/"dial", "kayn"/"kain".
    word = word.replace("ou", "u").replace("o", "u").replace("y", "i")
    if len(word) > 3 and word.endswith("e") and word[-2] not in _VOWELS:
        word = word[:-1]  # French-style final e: "mziane", "kaine"
    # A schwa written between two consonants is optional: "bezzaf"/"bzzaf", "kaydrebni"/"kaydrbni".
    word = re.sub(r"(?<=[^aeiou\W])e(?=[^aeiou\W])", "", word)
    return re.sub(r"(\w)\1+", r"\1", word)  # gemination is written inconsistently


def has_arabizi_digit(word: str) -> bool:
    """True for a folded word with a digit glued to letters ("3afak", "m3a"), units and ordinals aside."""
    return bool(_ARABIZI_DIGIT.search(word)) and not _NOT_ARABIZI.match(word)


def looks_arabizi(word: str) -> bool:
    """True when a folded Latin word looks like Darija: a letter-digit mix, a verb shape or a listed word."""
    if has_arabizi_digit(word):
        return True
    darija, french_english = _latin_word_lists()
    if word in french_english:
        return False  # "like" is not "lik" (to you), "tante" is not a verb
    if _DARIJA_SHAPE.match(word) and word not in _DARIJA_SHAPE_EXCEPTIONS:
        return True
    return arabizi_canon(word) in darija


@functools.lru_cache(maxsize=1)
def _latin_word_lists() -> tuple[frozenset[str], frozenset[str]]:
    """Canonical forms of the one-word Darija Latin markers, and the French and English words.

    Both come from the language-marker lexicon that nlu.langid also reads, so that one edit
    serves both.
    """
    path = Path(__file__).parent / "lexicon" / "language_markers.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        return frozenset(), frozenset()  # features degrade to digit and shape rules rather than failing
    darija = frozenset(
        arabizi_canon(fold(str(item)))
        for item in (data.get("ary-Latn") or {}).get("strong") or []
        if len(fold(str(item)).split()) == 1
    )
    french_english = frozenset(
        word
        for lang in ("fr", "en")
        for item in (data.get(lang) or {}).get("words") or []
        for word in fold(str(item)).split()
    )
    return darija, french_english


def normalise_arabizi(token: str) -> str:
    """Canonical form of a Latin-script token for features.

    Every token is folded (lower case, no accents, long repeats collapsed). Tokens that look like
    Darija (see `looks_arabizi`) are further unified: 5/8/9 → kh/gh/q, sh/x → ch, o/ou → u, y → i,
    optional schwas and doubled letters dropped, so "5ouya", "khouya" and "khoya" meet. French and
    English words ("pour", "she", "book") are left as folded.
    """
    return " ".join(arabizi_canon(w) if looks_arabizi(w) else w for w in fold(token).split())


def normalise_token(token: str) -> str:
    """Canonical form of any token for features, choosing the rules by script."""
    if _ARABIC_LETTER.search(token):
        return normalise_arabic(token)
    folded = fold(token)
    if _LATIN_LETTER.search(folded):
        return normalise_arabizi(token)
    return folded or token.strip()  # digits as folded; a lone emoji is its own feature
