"""Language identification for Maak's five tags: ar, ary, ary-Latn, fr and en.

Generic detectors know neither Darija nor Arabizi and are unreliable on chat-length messages, so
the decision rests on our own signals, read from `nlu/lexicon/language_markers.yml`:

* the script (Arabic letters against Latin letters) picks the family: ar/ary or ary-Latn/fr/en;
* in Arabic script, Darija words and verb shapes (ديال، بغيت، كيضربني، ماكنعرفش) against MSA ones
  (هل، أريد، سوف، الآن) and MSA spelling habits (tanween, written hamza); a message with none of
  them is read by the dialect model (`nlu.dialect`);
* in Latin script, Darija words (compared by canonical Arabizi spelling), digits inside words
  (3afak, m3a, sm7li) and Darija verb shapes against French and English word lists, elisions
  (j'ai, l'homme) and contractions (don't).

Words that no list knows are judged by their letters, against langdetect's French and English
trigram profiles: Arabizi spellings (khd, bgh, zwj) are unlikely in both. langdetect itself, seeded
so that it is deterministic and limited to French and English, is only asked when the lists leave
French against English open, which keeps most messages well under a millisecond.

Darija mixed with French ("rajli kaydrebni w j'ai peur") is Darija: a message that carries Darija
grammar is answered in Darija.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from core.languages import LANGS
from nlu.dialect import default_model as default_dialect_model
from nlu.normalise import ARABIC_VARIANTS, arabizi_canon, fold, has_arabizi_digit

TAGS: tuple[str, ...] = LANGS
MARKERS_PATH = Path(__file__).parent / "lexicon" / "language_markers.yml"

# A guess whose confidence is below this is returned with reliable=False.
RELIABLE_CONFIDENCE = 0.65
_STRONG, _WEAK = 2.0, 1.0
# Darija content words are far less covered by the lists than French or English function words,
# so a strong Darija sign counts double when the two compete in one code-switched message. The same
# holds against MSA: Darija writers borrow MSA words (في، هذا، لكن) all the time, MSA writers hardly
# ever write ديال or كيدير, so one strong Darija sign outweighs a couple of MSA ones.
_DARIJA_BOOST = 2.0
# Mean trigram log-probability below which a word looks neither French nor English. Measured on
# words absent from every list: about 2 Arabizi words in 3 fall below, 1 French or English in 9.
_ARABIZI_LIKELIHOOD = -12.5
_UNSEEN_TRIGRAM = -20.0
_LIKELIHOOD_MARGIN = 0.5
# Two consonants opening a word in a way French and English never do (bgh, drb, khd, mz, nk, lb):
# a fifth of unlisted Arabizi words, hardly any French or English one.
_DARIJA_ONSET = re.compile(r"^[bcdfghjklmnpqrstvwxz]{2}")
_LEGAL_ONSETS = (
    "bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "ph", "pl", "pr", "qu", "sc", "sh", "sk", "sl",
    "sm", "sn", "sp", "st", "sw", "th", "tr", "tw", "wh", "wr", "ps", "gn", "kn", "sq", "vr", "ts", "ct", "rh",
    "sch", "pn", "mc",
)

_ARABIC_LETTER = re.compile("[\u0620-\u064a\u0671-\u06d3\u06fa-\u06ff]")
_LATIN_LETTER = re.compile(r"[a-zA-Z\u00c0-\u024f]")
_TANWEEN = re.compile("[\u064b-\u064d]")
_HAMZA_SEAT_START = re.compile(r"(?<![\w])[أإ]\w{2,}")
_PAYLOAD = re.compile(r"^/\w+")
_APOSTROPHES = str.maketrans({"’": "'", "`": "'", "´": "'", "ʼ": "'"})
# Latin tokens keep their apostrophes so that elisions and contractions can be seen.
_LATIN_TOKEN = re.compile(r"[\w']+")
_FR_ELISION = re.compile(r"^(?:j|l|d|qu|n|s|m|t|c|jusqu|lorsqu|puisqu|aujourd)'\w")
_EN_CONTRACTION = re.compile(r"^\w+'(?:m|s|t|re|ve|ll|d)$")
_FR_ACCENT = re.compile("[àâçéèêëîïôûùœ]")


@dataclass(frozen=True)
class LangGuess:
    """The language tag of a message, how sure the guess is (0.5–1.0), and whether to trust it."""

    tag: str
    confidence: float
    reliable: bool


@dataclass(frozen=True)
class Markers:
    """Marker lists, folded and ready to compare."""

    ambiguous: frozenset[str]
    # Ambiguous words that still lean to one tag ("salam" → ary-Latn, "hello" → en): the best guess
    # for a first message that says nothing else, never a reason to switch a conversation.
    leanings: dict[str, str]
    neutral: frozenset[str]
    arabic: dict[str, dict[str, float]]  # "ar"/"ary" → folded word or two-word phrase → weight
    arabic_patterns: dict[str, tuple[tuple[re.Pattern[str], float], ...]]
    # Patterns over two consecutive words ("أن تقوم"): a grammar sign no single word shows.
    arabic_pair_patterns: dict[str, tuple[tuple[re.Pattern[str], float], ...]]
    # One-letter words glued to the next (و، ف، ب، ل): فهاد، لديك، وكيدير are looked up without them.
    arabic_prefixes: tuple[str, ...]
    darija_latin: dict[str, float]  # folded word or two-word phrase, as listed → weight
    darija_latin_canon: dict[str, float]  # canonical Arabizi spelling of the one-word entries → weight
    darija_latin_patterns: tuple[tuple[re.Pattern[str], float], ...]
    french: frozenset[str]
    english: frozenset[str]


def _fold_arabic(text: str) -> str:
    return fold(text.translate(ARABIC_VARIANTS))


def _words(section: dict[str, Any], key: str, where: str) -> list[str]:
    items = section.get(key) or []
    if not isinstance(items, list):
        raise ValueError(f"language markers: {where}.{key} must be a list")
    return [str(item) for item in items]


def _patterns(
    section: dict[str, Any], where: str, key: str = "patterns"
) -> tuple[tuple[re.Pattern[str], float], ...]:
    out = []
    for item in section.get(key) or []:
        try:
            out.append((re.compile(item["regex"]), float(item["weight"])))
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise ValueError(f"language markers: bad pattern in {where}: {item!r} ({exc})") from exc
    return tuple(out)


def _weighted(section: dict[str, Any], where: str, norm: Any) -> dict[str, float]:
    weights: dict[str, float] = {}
    # Weak first so that a word listed in both keeps the strong weight.
    for key, weight in (("weak", _WEAK), ("strong", _STRONG)):
        for item in _words(section, key, where):
            folded = " ".join(norm(item).split())
            if not folded or folded.count(" ") > 1:
                raise ValueError(f"language markers: {where}.{key}: {item!r} must be one or two words")
            weights[folded] = weight
    return weights


def load_markers(path: Path | None = None) -> Markers:
    """Read and fold the marker lists; errors name the section at fault."""
    data = yaml.safe_load((path or MARKERS_PATH).read_text(encoding="utf-8")) or {}
    for section in LANGS:
        if not isinstance(data.get(section), dict):
            raise ValueError(f"language markers: section {section!r} is missing")
    latin = _weighted(data["ary-Latn"], "ary-Latn", fold)
    return Markers(
        ambiguous=frozenset(w for item in data.get("ambiguous") or [] for w in _fold_arabic(str(item)).split()),
        leanings={
            _fold_arabic(str(word)): tag
            for tag, words in (data.get("leanings") or {}).items()
            if tag in LANGS
            for word in words or []
        },
        neutral=frozenset(w for item in data.get("neutral") or [] for w in _fold_arabic(str(item)).split()),
        arabic={tag: _weighted(data[tag], tag, _fold_arabic) for tag in ("ar", "ary")},
        arabic_patterns={tag: _patterns(data[tag], tag) for tag in ("ar", "ary")},
        arabic_pair_patterns={tag: _patterns(data[tag], tag, "pair_patterns") for tag in ("ar", "ary")},
        arabic_prefixes=tuple(_fold_arabic(str(p)) for p in data.get("arabic_prefixes") or []),
        darija_latin=latin,
        darija_latin_canon={arabizi_canon(w): weight for w, weight in latin.items() if " " not in w},
        darija_latin_patterns=_patterns(data["ary-Latn"], "ary-Latn"),
        french=frozenset(w for item in _words(data["fr"], "words", "fr") for w in fold(item).split()),
        english=frozenset(w for item in _words(data["en"], "words", "en") for w in fold(item).split()),
    )


@functools.lru_cache(maxsize=1)
def default_markers() -> Markers:
    """The marker lists shipped with Maak, read once."""
    return load_markers()


def _confidence(top: float, second: float) -> float:
    # 0.5 with no evidence, rising with the lead: 2 points to none → 0.75, 4 to none → 0.83.
    return round((top + 1.0) / (top + second + 2.0), 3)


def _unreliable(tag: str, confidence: float = 0.5) -> LangGuess:
    return LangGuess(tag, confidence, False)


def _arabic_candidates(word: str, prefixes: tuple[str, ...]) -> list[str]:
    """The word, then the word without one or two glued one-letter words (وفهاد → فهاد → هاد)."""
    candidates = [word]
    for _ in range(2):
        last = candidates[-1]
        if len(last) > 3 and last[0] in prefixes:
            candidates.append(last[1:])
        else:
            break
    return candidates


def _arabic_word_score(word: str, markers: Markers) -> dict[str, float]:
    candidates = _arabic_candidates(word, markers.arabic_prefixes)
    for candidate in candidates:
        found = {tag: markers.arabic[tag].get(candidate, 0.0) for tag in ("ar", "ary")}
        if any(found.values()):
            return found
    for candidate in candidates:
        for tag in ("ary", "ar"):
            for pattern, weight in markers.arabic_patterns[tag]:
                if pattern.search(candidate):
                    return {"ar": 0.0, "ary": 0.0, tag: weight}
    return {"ar": 0.0, "ary": 0.0}


def _pair_score(previous: str, word: str, markers: Markers) -> dict[str, float] | None:
    """Weights of a listed two-word phrase or a two-word pattern, None when neither applies."""
    pair = f"{previous} {word}"
    if any(pair in markers.arabic[tag] for tag in ("ar", "ary")):
        return {tag: markers.arabic[tag].get(pair, 0.0) for tag in ("ar", "ary")}
    for tag in ("ary", "ar"):
        for pattern, weight in markers.arabic_pair_patterns[tag]:
            if pattern.search(pair):
                return {"ar": 0.0, "ary": 0.0, tag: weight}
    return None


def _score_arabic(text: str, markers: Markers) -> dict[str, float]:
    scores = {"ar": 0.0, "ary": 0.0}
    previous = ""
    for word in _fold_arabic(text).split():
        if not _ARABIC_LETTER.search(word) or word in markers.neutral:
            previous = ""
            continue
        found = _pair_score(previous, word, markers) if previous else None
        if found is None:
            found = _arabic_word_score(word, markers)
        scores["ar"] += found["ar"]
        # A Darija sign beyond a weak word (a listed word, a verb shape) is rare in MSA, an MSA word
        # common in Darija: see _DARIJA_BOOST.
        scores["ary"] += found["ary"] * _DARIJA_BOOST if found["ary"] > _WEAK else found["ary"]
        previous = word
    # MSA spelling habits that Darija chat rarely shows: case endings and hamza seats.
    if _TANWEEN.search(text):
        scores["ar"] += 1.5
    seats = [w for w in _HAMZA_SEAT_START.findall(text) if w not in ("أنا", "إلى", "أو")]
    scores["ar"] += 0.5 * min(len(seats), 3)
    return scores


def _identify_arabic(text: str, markers: Markers) -> LangGuess:
    scores = _score_arabic(text, markers)
    if max(scores.values()) < _WEAK:
        # No listed word, at most a spelling habit: short comments ("الله يخلف عليك سيدي محمد") are
        # as often Darija as MSA, so the dialect model, which has read every Arabic-script message
        # of the training data, decides instead of a default.
        darija = default_dialect_model().darija_probability(text)
        confidence = round(max(darija, 1.0 - darija), 3)
        return LangGuess("ary" if darija >= 0.5 else "ar", confidence, confidence >= RELIABLE_CONFIDENCE)
    # A tie goes to Darija: its writers mix in MSA words, not the reverse.
    if scores["ary"] >= scores["ar"]:
        tag, top, second = "ary", scores["ary"], scores["ar"]
    else:
        tag, top, second = "ar", scores["ar"], scores["ary"]
    confidence = _confidence(top, second)
    return LangGuess(tag, confidence, confidence >= RELIABLE_CONFIDENCE)


def _latin_tokens(text: str) -> list[str]:
    return _LATIN_TOKEN.findall(unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES))


@functools.lru_cache(maxsize=1)
def _trigram_profiles() -> dict[str, tuple[dict[str, int], int]]:
    """langdetect's French and English trigram counts, to judge words no list knows."""
    from langdetect.detector_factory import PROFILES_DIRECTORY

    profiles = {}
    for lang in ("fr", "en"):
        data = json.loads((Path(PROFILES_DIRECTORY) / lang).read_text(encoding="utf-8"))
        profiles[lang] = ({k: v for k, v in data["freq"].items() if len(k) == 3}, data["n_words"][2])
    return profiles


def _word_likelihoods(word: str) -> dict[str, float]:
    """Mean log-probability of the word's letter trigrams in French and in English."""
    padded = f" {word} "
    trigrams = [padded[i : i + 3] for i in range(len(padded) - 2)]
    out = {}
    for lang, (freq, total) in _trigram_profiles().items():
        out[lang] = sum(math.log(freq[t] / total) if t in freq else _UNSEEN_TRIGRAM for t in trigrams) / len(trigrams)
    return out


def _score_latin(text: str, markers: Markers) -> tuple[dict[str, float], int]:
    """Scores for ary-Latn/fr/en, and the number of words that were scored."""
    scores = {"ary-Latn": 0.0, "fr": 0.0, "en": 0.0}
    words = 0
    previous = ""
    for raw in _latin_tokens(text):
        if "'" in raw.strip("'"):
            if _FR_ELISION.match(raw):
                scores["fr"] += 1
            elif _EN_CONTRACTION.match(raw):
                scores["en"] += 1
        if _FR_ACCENT.search(raw):
            scores["fr"] += 0.5
        for word in fold(raw).split():
            if not _LATIN_LETTER.search(word) or word in markers.neutral:
                previous = ""
                continue
            words += 1
            known = False
            if word in markers.french:
                scores["fr"] += 1
                known = True
            if word in markers.english:
                scores["en"] += 1
                known = True
            pair = f"{previous} {word}"
            darija = markers.darija_latin.get(pair) or markers.darija_latin.get(word, 0.0)
            if not darija and not known:
                # Spelling variants only for words that are not French or English: "like" must
                # not meet "lik" (to you).
                darija = markers.darija_latin_canon.get(arabizi_canon(word), 0.0)
            if not darija and has_arabizi_digit(word):
                darija = _STRONG
            if not darija and previous == "ma" and len(word) > 3 and word.endswith(("ch", "sh")):
                darija = _STRONG  # split negation: ma bghitch, ma kaynch
            if not darija and not known:
                for pattern, weight in markers.darija_latin_patterns:
                    if pattern.search(word):
                        darija = weight
                        break
            if darija:
                scores["ary-Latn"] += darija * _DARIJA_BOOST if darija >= _STRONG else darija
                known = True
            if not known and len(word) > 2:
                # A word no list knows: its letters tell French from English, and Arabizi spellings
                # (khd, bgh, zwj …) are unlikely in both.
                like = _word_likelihoods(word)
                if _DARIJA_ONSET.match(word) and not word.startswith(_LEGAL_ONSETS):
                    scores["ary-Latn"] += _WEAK
                elif max(like.values()) < _ARABIZI_LIKELIHOOD:
                    scores["ary-Latn"] += 0.6
                elif like["fr"] - like["en"] > _LIKELIHOOD_MARGIN:
                    scores["fr"] += 0.5
                elif like["en"] - like["fr"] > _LIKELIHOOD_MARGIN:
                    scores["en"] += 0.5
            previous = word
    return scores, words


@functools.lru_cache(maxsize=1)
def _french_english_factory() -> Any:
    """A langdetect factory that knows only French and English: every other profile only adds noise."""
    from langdetect import DetectorFactory
    from langdetect.detector_factory import PROFILES_DIRECTORY

    DetectorFactory.seed = 0  # deterministic answers
    factory = DetectorFactory()
    profiles = [(Path(PROFILES_DIRECTORY) / lang).read_text(encoding="utf-8") for lang in ("fr", "en")]
    factory.load_json_profile(profiles)
    factory.set_seed(0)
    return factory


def _langdetect_fr_en(text: str) -> dict[str, float]:
    """Probabilities of French and English for text the word lists could not settle."""
    from langdetect.lang_detect_exception import LangDetectException

    detector = _french_english_factory().create()
    detector.append(text)
    try:
        return {p.lang: p.prob for p in detector.get_probabilities()}
    except LangDetectException:
        return {}


def _identify_latin(text: str, markers: Markers) -> LangGuess:
    scores, words = _score_latin(text, markers)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], TAGS.index(kv[0])))
    (tag, top), (_, second) = ranked[0], ranked[1]
    guessed = False
    if top < 2 or top < 1.5 * second:
        # Not settled by the lists: let langdetect weigh French against English on the letters.
        probs = _langdetect_fr_en(text)
        if probs:
            guessed = True
            scores["fr"] += probs.get("fr", 0.0)
            scores["en"] += probs.get("en", 0.0)
            ranked = sorted(scores.items(), key=lambda kv: (-kv[1], TAGS.index(kv[0])))
            (tag, top), (_, second) = ranked[0], ranked[1]
    confidence = _confidence(top, second)
    # One or two words that only langdetect could place ("avocat") are a guess, not a fact.
    reliable = confidence >= RELIABLE_CONFIDENCE and not (guessed and words <= 2)
    return LangGuess(tag, confidence, reliable)


def identify(text: str, markers: Markers | None = None, default: str = "fr") -> LangGuess:
    """Guess the language tag of one message.

    `reliable` is False for messages that say nothing about their language: empty, digits, emoji,
    "/intent" payloads, or only words shared by several languages ("ok", "merci", "salam", "stop").
    `default` is the tag returned when there is no evidence at all.
    """
    markers = markers or default_markers()
    stripped = (text or "").strip()
    if not stripped or _PAYLOAD.match(stripped):
        return _unreliable(default)
    arabic = len(_ARABIC_LETTER.findall(stripped))
    latin = len(_LATIN_LETTER.findall(stripped))
    if not arabic and not latin:
        return _unreliable(default)
    folded = _fold_arabic(stripped).split()
    lettered = [w for w in folded if _ARABIC_LETTER.search(w) or _LATIN_LETTER.search(w)]
    if all(word in markers.ambiguous for word in lettered):
        leaning = {markers.leanings[w] for w in lettered if w in markers.leanings}
        if len(leaning) == 1:
            return _unreliable(leaning.pop())
        # Keep the caller's default when it is of the right script; else the commonest tag.
        if arabic > latin:
            return _unreliable(default if default in ("ar", "ary") else "ary")
        return _unreliable(default if default in ("ary-Latn", "fr", "en") else "fr")
    if arabic > latin:
        return _identify_arabic(stripped, markers)
    return _identify_latin(stripped, markers)
