"""Whole-message commands (stop, forget_me, ask_emergency_numbers) recognised without the NLU.

The gateway uses `command` while a counsellor is live, or when the NLU is down, so that a woman
can always end the conversation, erase her data or get the emergency numbers. It is strict on
purpose: only a short message that is, as a whole, one of the phrases of
`nlu/lexicon/commands.yml` (give or take punctuation, case, accents, Arabizi spelling and a
courtesy word such as "svp" or "عافاك") is a command; "stop hitting me" or "les numéros de
l'ANAPEC ?" are not.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from nlu.normalise import fold, normalise_token

COMMANDS: tuple[str, ...] = ("stop", "forget_me", "ask_emergency_numbers")
COMMANDS_PATH = Path(__file__).parent / "lexicon" / "commands.yml"
# Longer messages are conversation, not commands; checked before any folding work.
MAX_WORDS = 8

Words = tuple[str, ...]


def _words(text: str) -> Words:
    """Canonical words of a text: folded, then one spelling per Arabizi or Arabic variant."""
    return tuple(n for w in fold(text).split() for n in normalise_token(w).split())


class CommandLexicon:
    """Command phrases and courtesy words, in canonical form."""

    def __init__(
        self, phrases: dict[Words, str], courtesy: frozenset[Words], erase_openers: frozenset[str] = frozenset()
    ) -> None:
        self._phrases = phrases
        self._courtesy = sorted(courtesy, key=len, reverse=True)  # longest first: "s il vous plait"
        self._erase_openers = erase_openers

    @classmethod
    def load(cls, path: Path | None = None) -> CommandLexicon:
        """Read and validate the command lexicon; a phrase listed under two commands is an error."""
        data: Any = yaml.safe_load((path or COMMANDS_PATH).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("commands"), dict):
            raise ValueError("commands lexicon: expected a 'commands' mapping")
        unknown = set(data["commands"]) - set(COMMANDS)
        if unknown:
            raise ValueError(f"commands lexicon: unknown commands {sorted(unknown)}")
        phrases: dict[Words, str] = {}
        for name in COMMANDS:
            items = data["commands"].get(name)
            if not isinstance(items, list) or not items:
                raise ValueError(f"commands lexicon: {name} needs a non-empty list of phrases")
            for item in items:
                words = _words(str(item))
                if not words or len(words) > MAX_WORDS:
                    raise ValueError(f"commands lexicon: {name}: {item!r} must have 1 to {MAX_WORDS} words")
                if phrases.get(words, name) != name:
                    raise ValueError(f"commands lexicon: {item!r} is listed under {phrases[words]} and {name}")
                phrases[words] = name
        courtesy = frozenset(w for w in (_words(str(c)) for c in data.get("courtesy") or []) if w)
        openers = frozenset(word for o in data.get("erase_openers") or [] for word in _words(str(o))[:1])
        return cls(phrases, courtesy, openers)

    def _strip_courtesy(self, words: Words) -> Words:
        changed = True
        while changed and words:
            changed = False
            for polite in self._courtesy:
                n = len(polite)
                if len(words) > n and words[:n] == polite:
                    words, changed = words[n:], True
                elif len(words) > n and words[-n:] == polite:
                    words, changed = words[:-n], True
        return words

    def command(self, text: str) -> str | None:
        """The command the whole message is, or None."""
        if not text or len(text.split()) > MAX_WORDS:
            return None
        words = _words(text)
        if not words:
            return None
        return self._phrases.get(words) or self._phrases.get(self._strip_courtesy(words))

    def opens_with_erase(self, text: str) -> bool:
        """Whether the message opens (after a courtesy word) with a request to erase the chat."""
        words = _words(" ".join(text.split()[:MAX_WORDS]))
        for polite in self._courtesy:  # "3afak m7i kolchi"
            if words[: len(polite)] == polite:
                words = words[len(polite) :]
                break
        return bool(words) and words[0] in self._erase_openers


@functools.lru_cache(maxsize=1)
def default_lexicon() -> CommandLexicon:
    """The command lexicon shipped with Maak, loaded once."""
    return CommandLexicon.load()


def command(text: str) -> str | None:
    """`stop`, `forget_me` or `ask_emergency_numbers` when the whole short message is that command."""
    return default_lexicon().command(text)


def opens_with_erase(text: str) -> bool:
    """Whether the message opens with a request to erase the chat ("delete it all, he is here")."""
    return default_lexicon().opens_with_erase(text)
