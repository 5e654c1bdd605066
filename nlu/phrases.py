"""A small phrase matcher over folded text, shared by the violence-type and command lexicons.

Phrase syntax (phrases are folded like the text, so accents, case and letter forms never matter):

* words separated by spaces match whole words in that order: "va me tuer";
* `*` at the end of a word stands for one or more further word characters: "frapp*" matches
  "frappe" and "frappait" (not "frapp");
* `...` between words stands for a gap of up to four words: "kaydrebni ... daba" matches
  "kaydrebni hna daba";
* `^` as the first token and `$` as the last anchor the phrase to the start and end of the message:
  "^ help $" matches the message "help!" and not "I need help with my CV";
* Arabic-script words also match with the one-letter prefixes و ف ب ل glued to them (up to two:
  "وبالموس"), and a word starting with ال also matches the ل+ال contraction "لل…".

Each phrase is tried on the folded text and on its canonical form (nlu.normalise.normalise_token
word by word), so one Arabizi spelling in the lexicon also covers the others: "khayfa" meets
"5ayfa", "kaydrebni" meets "kaydrbni".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nlu.normalise import fold, normalise_token

GAP = "..."
MAX_GAP_WORDS = 4
_ARABIC = re.compile("[\u0600-\u06ff]")
_ARABIC_PREFIXES = "(?:[وفبل]){0,2}"


class PhraseError(ValueError):
    """A phrase that cannot be compiled (empty, or a wildcard or gap in the wrong place)."""


@dataclass(frozen=True)
class PreparedText:
    """A message folded once, and its canonical form, ready for many matchers."""

    folded: str
    canonical: str


def prepare(text: str) -> PreparedText:
    """Fold a message once for every matcher that will look at it."""
    folded = fold(text or "")
    return PreparedText(folded, " ".join(normalise_token(word) for word in folded.split()))


def _word_regex(word: str, wildcard: bool) -> str:
    body = re.escape(word) + (r"\w+" if wildcard else "")
    if _ARABIC.search(word):
        alternatives = [body]
        if word.startswith("ال") and len(word) > 2:
            alternatives.append("لل" + re.escape(word[2:]) + (r"\w+" if wildcard else ""))
        return _ARABIC_PREFIXES + "(?:" + "|".join(alternatives) + ")"
    return body


def _needle(word: str) -> str:
    # The part of a word that any match must contain verbatim: "لل" may replace a leading "ال".
    return word[2:] if word.startswith("ال") and len(word) > 2 else word


def _phrase_regex(phrase: str, normalise: bool) -> tuple[str, str]:
    """The regex of one phrase and its needle, the longest literal every match contains."""
    parts: list[str] = []
    needle = ""
    pending_gap = False
    tokens = phrase.split()
    start = r"(?<!\S)"
    end = r"(?!\S)"
    if tokens and tokens[0] == "^":
        start, tokens = "^", tokens[1:]
    if tokens and tokens[-1] == "$":
        end, tokens = "$", tokens[:-1]
    for raw in tokens:
        if raw in ("^", "$"):
            raise PhraseError(f"phrase {phrase!r}: '^' may only start and '$' only end a phrase")
        if raw == GAP:
            if not parts or pending_gap:
                raise PhraseError(f"phrase {phrase!r}: '...' must sit between two words")
            pending_gap = True
            continue
        wildcard = raw.endswith("*")
        stem = raw.rstrip("*")
        if "*" in stem:
            raise PhraseError(f"phrase {phrase!r}: '*' may only end a word")
        words = fold(stem).split()
        if normalise:
            words = [n for w in words for n in normalise_token(w).split()]
        if not words:
            raise PhraseError(f"phrase {phrase!r}: {raw!r} has no letters or digits")
        needle = max([needle] + [_needle(w) for w in words], key=len)
        regexes = [_word_regex(w, False) for w in words[:-1]] + [_word_regex(words[-1], wildcard)]
        if parts:
            parts.append(rf" (?:\S+ ){{0,{MAX_GAP_WORDS}}}" if pending_gap else " ")
        parts.append(" ".join(regexes))
        pending_gap = False
    if pending_gap:
        raise PhraseError(f"phrase {phrase!r}: '...' must sit between two words")
    if not parts:
        raise PhraseError(f"phrase {phrase!r} is empty")
    return start + "".join(parts) + end, needle


@dataclass(frozen=True)
class CompiledPhrase:
    """One phrase as written and its two compiled forms (folded text, canonical text).

    Each form has a needle, a literal that every match contains: a substring test on it skips
    the regex for the many phrases that cannot match, which keeps a lexicon of a thousand
    phrases well under a millisecond a message.
    """

    source: str
    folded: re.Pattern[str]
    canonical: re.Pattern[str]
    folded_needle: str
    canonical_needle: str

    def search(self, text: PreparedText) -> bool:
        return bool(
            (self.folded_needle in text.folded and self.folded.search(text.folded))
            or (self.canonical_needle in text.canonical and self.canonical.search(text.canonical))
        )


def compile_phrase(phrase: str) -> CompiledPhrase:
    """Compile one phrase; raises PhraseError with the phrase in the message when it is malformed."""
    if not isinstance(phrase, str):
        raise PhraseError(f"phrase {phrase!r} is not text")
    folded, folded_needle = _phrase_regex(phrase, normalise=False)
    canonical, canonical_needle = _phrase_regex(phrase, normalise=True)
    return CompiledPhrase(phrase, re.compile(folded), re.compile(canonical), folded_needle, canonical_needle)


class PhraseMatcher:
    """Named groups of phrases; `match` tells which groups occur in a text.

    Groups keep the order in which they were given, so results are stable.
    """

    def __init__(self, groups: Mapping[str, Iterable[str]]) -> None:
        self._groups: dict[str, tuple[CompiledPhrase, ...]] = {}
        for key, phrases in groups.items():
            if isinstance(phrases, str):
                raise PhraseError(f"group {key!r}: phrases must be a list, not one text")
            compiled = tuple(compile_phrase(p) for p in phrases)
            if not compiled:
                raise PhraseError(f"group {key!r} has no phrases")
            self._groups[key] = compiled

    @property
    def keys(self) -> list[str]:
        return list(self._groups)

    def match(self, text: str | PreparedText) -> list[str]:
        """Keys of the groups with at least one phrase in the text."""
        prepared = text if isinstance(text, PreparedText) else prepare(text)
        return [key for key, compiled in self._groups.items() if any(c.search(prepared) for c in compiled)]

    def find(self, text: str | PreparedText) -> list[tuple[str, str]]:
        """(key, phrase) for every phrase found in the text: to explain a match."""
        prepared = text if isinstance(text, PreparedText) else prepare(text)
        return [(key, c.source) for key, compiled in self._groups.items() for c in compiled if c.search(prepared)]
