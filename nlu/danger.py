"""The danger lexicon and the one decision of "urgent" used by the NLU, the gateway and the CLI.

The intent classifier is the first signal of danger; this lexicon is the second, written for
recall: phrases that say a woman (or someone with her) is in danger now or in the next hours, in
the five language tags. `is_urgent` combines both and is the only place where "urgent" is decided.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlu.phrases import PhraseError, PhraseMatcher, PreparedText, prepare

DANGER_PATH = Path(__file__).parent / "lexicon" / "danger.yml"
LANGS = frozenset({"ar", "ary", "ary-Latn", "fr", "en"})
URGENT_INTENT = "immediate_danger"


class LexiconError(ValueError):
    """The lexicon file is malformed; the message names the entry at fault."""


@dataclass(frozen=True)
class DangerEntry:
    """One group of danger phrases in one language, with the examples it must match."""

    id: str
    lang: str
    phrases: tuple[str, ...]
    examples: tuple[str, ...]
    unless: tuple[str, ...] = ()


def _strings(value: Any, entry_id: str, field: str, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value):
        raise LexiconError(f"danger lexicon entry {entry_id!r}: {field} must be a non-empty list")
    if not all(isinstance(item, str) and item.strip() for item in value):
        raise LexiconError(f"danger lexicon entry {entry_id!r}: every {field} item must be non-empty text")
    return tuple(value)


def _entry(raw: Any, position: int, seen: set[str]) -> DangerEntry:
    if not isinstance(raw, dict):
        raise LexiconError(f"danger lexicon entry #{position} is not a mapping")
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not entry_id.strip():
        raise LexiconError(f"danger lexicon entry #{position} has no id")
    if entry_id in seen:
        raise LexiconError(f"danger lexicon entry {entry_id!r} is defined twice")
    seen.add(entry_id)
    unknown = set(raw) - {"id", "lang", "phrases", "examples", "unless"}
    if unknown:
        raise LexiconError(f"danger lexicon entry {entry_id!r}: unknown fields {sorted(unknown)}")
    if raw.get("lang") not in LANGS:
        raise LexiconError(f"danger lexicon entry {entry_id!r}: lang must be one of {sorted(LANGS)}")
    return DangerEntry(
        id=entry_id,
        lang=raw["lang"],
        phrases=_strings(raw.get("phrases"), entry_id, "phrases", required=True),
        examples=_strings(raw.get("examples"), entry_id, "examples", required=True),
        unless=_strings(raw.get("unless"), entry_id, "unless", required=False),
    )


class DangerLexicon:
    """Danger entries compiled for matching, plus the messages that must never match."""

    def __init__(self, entries: Iterable[DangerEntry], must_not_match: Iterable[str] = ()) -> None:
        self.entries: tuple[DangerEntry, ...] = tuple(entries)
        self.must_not_match: tuple[str, ...] = tuple(must_not_match)
        try:
            self._matcher = PhraseMatcher({e.id: e.phrases for e in self.entries})
        except PhraseError as exc:
            raise LexiconError(f"danger lexicon entry {self._entry_of(str(exc))!r}: {exc}") from exc
        self._unless: dict[str, PhraseMatcher] = {}
        for entry in self.entries:
            if entry.unless:
                try:
                    self._unless[entry.id] = PhraseMatcher({entry.id: entry.unless})
                except PhraseError as exc:
                    raise LexiconError(f"danger lexicon entry {entry.id!r}: unless: {exc}") from exc

    def _entry_of(self, message: str) -> str:
        # PhraseMatcher names the phrase, not the group: find which entry holds it.
        for entry in self.entries:
            if any(repr(p) in message for p in entry.phrases):
                return entry.id
        return "?"

    @classmethod
    def load(cls, path: Path | None = None) -> DangerLexicon:
        """Read and validate a lexicon file (default: the one shipped in nlu/lexicon)."""
        source = path or DANGER_PATH
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise LexiconError(f"danger lexicon {source}: not valid YAML ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise LexiconError(f"danger lexicon {source}: expected a mapping with an 'entries' list")
        seen: set[str] = set()
        entries = [_entry(raw, i, seen) for i, raw in enumerate(data["entries"], start=1)]
        must_not = data.get("must_not_match") or []
        if not isinstance(must_not, list) or not all(isinstance(m, str) for m in must_not):
            raise LexiconError(f"danger lexicon {source}: must_not_match must be a list of texts")
        return cls(entries, must_not)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    def match(self, text: str) -> list[str]:
        """Ids of the entries that match the text, in lexicon order (empty: no danger phrase)."""
        prepared: PreparedText = prepare(text)
        if not prepared.folded:
            return []
        return [
            entry_id
            for entry_id in self._matcher.match(prepared)
            if entry_id not in self._unless or not self._unless[entry_id].match(prepared)
        ]

    def explain(self, text: str) -> list[tuple[str, str]]:
        """(entry id, phrase) pairs behind a match, for logs and reviews of the lexicon."""
        ids = set(self.match(text))
        return [(entry_id, phrase) for entry_id, phrase in self._matcher.find(text) if entry_id in ids]


@functools.lru_cache(maxsize=1)
def default_lexicon() -> DangerLexicon:
    """The lexicon shipped with Maak, loaded once."""
    return DangerLexicon.load()


def is_urgent(intent: str | None, text: str) -> bool:
    """Urgent when the intent is immediate_danger or the danger lexicon matches the text."""
    if intent == URGENT_INTENT:
        return True
    return bool(default_lexicon().match(text or ""))
