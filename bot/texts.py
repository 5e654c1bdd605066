"""The texts the gateway says itself (bot/texts.yml), in her language."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Mapping

import yaml

from core.languages import DEFAULT_LANG, LANGS
from facts import default_facts

TEXTS_FILE = Path(__file__).with_name("texts.yml")


class Texts:
    """Looks up a text by key and language; `{numbers}` is filled from facts/numbers.yml."""

    def __init__(self, texts: Mapping[str, Mapping[str, str]]) -> None:
        for key, variants in texts.items():
            missing = [lang for lang in LANGS if not variants.get(lang)]
            if missing:
                raise ValueError(f"{TEXTS_FILE.name}: text {key!r} has no {', '.join(missing)} version")
        self._texts = texts

    def get(self, key: str, lang: str | None, *, self_harm: bool = False, **values: object) -> str:
        """The text; with `self_harm`, its numbers are those for self-harm (medical help first)."""
        variants = self._texts[key]
        template = variants.get(lang or DEFAULT_LANG) or variants[DEFAULT_LANG]
        if "{numbers}" in template and "numbers" not in values:
            values["numbers"] = default_facts().render_numbers(lang or DEFAULT_LANG, self_harm=self_harm)
        return template.format(**values)


@lru_cache(maxsize=1)
def default_texts() -> Texts:
    return Texts(yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8")))
