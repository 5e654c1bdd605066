"""Where she is: the town or region named in her words, in any script and spelling.

The places and their spellings are facts (`facts/regions.yml`); recognising them in free text is
NLU, on the same folded words as the rest of the pipeline.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable

from facts import REGIONS_FILE, Facts, FactsError, Place, default_facts
from nlu.normalise import fold

_ARABIC_GLUED = "وفبلك"  # wa, fa, bi, li, ka: written glued to the next word
_LATIN_GLUED = "fbl"  # Arabizi "fkaza", "brbat", "l3youn"
_PLACE_GLUED = frozenset("فبfb")  # glued letters that mean "in"
_ARABIC_SCRIPT = ("\u0600", "\u06ff")


@dataclass(frozen=True)
class _Spelling:
    tokens: tuple[str, ...]
    place: Place
    guarded: bool


class Places:
    """Finds the place named in a text; built once from the facts, whose spellings it checks."""

    def __init__(self, facts: Facts) -> None:
        self._place_words = frozenset(_place_words(facts.place_words))
        spellings: dict[tuple[str, ...], _Spelling] = {}
        origins: dict[tuple[str, ...], str] = {}
        for where, place, words, guarded in _named_places(facts):
            guarded_keys = {tuple(fold(word).split()) for word in guarded}
            for word in [*words, *guarded]:
                key = tuple(fold(word).split())
                if not key:
                    raise FactsError(f"{REGIONS_FILE}: {where}: spelling {word!r} has no letters")
                previous = spellings.get(key)
                if previous is not None and previous.place != place:
                    raise FactsError(
                        f"{REGIONS_FILE}: {where}: spelling {word!r} also names {_describe(previous.place)} "
                        f"(in {origins[key]}); a spelling may point to one place only"
                    )
                spellings[key] = _Spelling(key, place, key in guarded_keys)
                origins[key] = where
        self._by_first: dict[str, list[_Spelling]] = {}
        for spelling in spellings.values():
            self._by_first.setdefault(spelling.tokens[0], []).append(spelling)
        for candidates in self._by_first.values():
            candidates.sort(key=lambda s: -len(s.tokens))

    def find(self, text: str, *, expecting: bool = False) -> Place | None:
        """The town or region she names anywhere in ``text``, or None.

        Matching works on folded words, so it ignores case, accents and punctuation and never
        matches inside a word ("sla" is not found in "islam"). Arabic letters glued to a word
        (ف ب ل و ك: "فالدار البيضاء") and Arabizi f/b/l ("fkaza") are understood. Where spellings
        overlap the longest wins ("fes meknes" is the region, not Fès); otherwise the first place
        named wins. Guarded spellings (also everyday words: "safi", "الجديدة") count only after a
        place word ("f", "à", "في"...) or a glued ف/ب/f/b, or anywhere when ``expecting`` is true.

        Args:
            text: What she wrote.
            expecting: True when her message answers a question about where she is.
        """
        tokens = fold(text).split()
        for i, token in enumerate(tokens):
            after_place_word = i > 0 and tokens[i - 1] in self._place_words
            best: _Spelling | None = None
            for variant, glued_place in _variants(token):
                for spelling in self._by_first.get(variant, ()):
                    size = len(spelling.tokens)
                    if best is not None and size <= len(best.tokens):
                        break
                    if tuple(tokens[i + 1 : i + size]) != spelling.tokens[1:]:
                        continue
                    if spelling.guarded and not (expecting or glued_place or after_place_word):
                        continue
                    best = spelling
                    break
            if best is not None:
                return best.place
        return None


@functools.lru_cache(maxsize=1)
def default_places() -> Places:
    """The shipped places, built and checked once."""
    return Places(default_facts())


def find_place(text: str, *, expecting: bool = False) -> Place | None:
    """The place named in ``text`` among the shipped facts (see `Places.find`)."""
    return default_places().find(text, expecting=expecting)


def _place_words(words: Iterable[str]) -> list[str]:
    folded = [fold(word) for word in words]
    for word, one in zip(words, folded):
        if " " in one:
            raise FactsError(f"{REGIONS_FILE}: section 'place_words': {word!r} should be a single word")
    return folded


def _named_places(facts: Facts) -> Iterable[tuple[str, Place, list[str], tuple[str, ...]]]:
    """Each town then its region, as (where in the file, place, its names and spellings, guarded ones)."""
    for region in facts.regions.values():
        for french in region.cities:
            city = facts.cities[french]
            where = f"region {region.code}, town {french}"
            yield where, Place(region.code, french), [*city.name.values(), *city.spellings], city.guarded
        yield f"region {region.code}", Place(region.code), [*region.names.values(), *region.spellings], region.guarded


def _describe(place: Place) -> str:
    return f"town {place.city} ({place.region})" if place.city else f"region {place.region}"


def _variants(token: str) -> list[tuple[str, bool]]:
    """The word itself and the words it may hide behind glued letters, each with "glued 'in'"."""
    variants = [(token, False)]
    if _ARABIC_SCRIPT[0] <= token[0] <= _ARABIC_SCRIPT[1]:
        rest, place = token, False
        for _ in range(2):
            if len(rest) < 3 or rest[0] not in _ARABIC_GLUED:
                break
            place = place or rest[0] in _PLACE_GLUED
            rest = rest[1:]
            variants.append((rest, place))
        # After a glued letter the article often loses its alef: "فلبيضا", "للرباط".
        variants += [("ا" + word, place) for word, place in variants if word.startswith("ل") and not word.startswith("لا")]
    elif token[0] in _LATIN_GLUED and len(token) >= 4:
        variants.append((token[1:], token[0] in _PLACE_GLUED))
    return variants
