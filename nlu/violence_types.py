"""Which forms of violence a message describes: the values of the `violence_type` entity.

Phrases per type and language live in `nlu/lexicon/violence_types.yml`; matching is done by
nlu.phrases over every language at once, since messages mix them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from core.languages import LANGS
from nlu.phrases import PhraseError, PhraseMatcher

VIOLENCE_TYPES: tuple[str, ...] = ("physical", "sexual", "psychological", "economic", "digital", "forced_marriage")
VIOLENCE_TYPES_PATH = Path(__file__).parent / "lexicon" / "violence_types.yml"


class ViolenceTypesLexicon:
    """Phrases per violence type, compiled, with the examples each type must recognise."""

    def __init__(self, phrases: dict[str, list[str]], examples: dict[str, list[str]]) -> None:
        self.examples = examples
        try:
            self._matcher = PhraseMatcher(phrases)
        except PhraseError as exc:
            raise ValueError(f"violence types lexicon: {exc}") from exc

    @classmethod
    def load(cls, path: Path | None = None) -> ViolenceTypesLexicon:
        """Read and validate the lexicon; errors name the type and language at fault."""
        data: Any = yaml.safe_load((path or VIOLENCE_TYPES_PATH).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("violence types lexicon: expected a mapping of types")
        unknown = set(data) - set(VIOLENCE_TYPES)
        if unknown:
            raise ValueError(f"violence types lexicon: unknown types {sorted(unknown)}")
        phrases: dict[str, list[str]] = {}
        examples: dict[str, list[str]] = {}
        for vtype in VIOLENCE_TYPES:
            section = data.get(vtype)
            if not isinstance(section, dict):
                raise ValueError(f"violence types lexicon: type {vtype!r} is missing")
            extra = set(section) - set(LANGS) - {"examples"}
            if extra:
                raise ValueError(f"violence types lexicon: {vtype}: unknown keys {sorted(extra)}")
            phrases[vtype] = []
            for lang in LANGS:
                items = section.get(lang)
                if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
                    raise ValueError(f"violence types lexicon: {vtype}.{lang} must be a non-empty list of texts")
                phrases[vtype].extend(items)
            examples[vtype] = list(section.get("examples") or [])
            if not examples[vtype]:
                raise ValueError(f"violence types lexicon: {vtype} needs at least one example")
        return cls(phrases, examples)

    def match(self, text: str) -> list[str]:
        """Violence types named in the text, in the order of VIOLENCE_TYPES."""
        return self._matcher.match(text or "")


@functools.lru_cache(maxsize=1)
def default_lexicon() -> ViolenceTypesLexicon:
    """The violence-types lexicon shipped with Maak, loaded once."""
    return ViolenceTypesLexicon.load()


def violence_types(text: str) -> list[str]:
    """Violence types (physical, sexual, psychological, economic, digital, forced_marriage) in a message."""
    return default_lexicon().match(text)
