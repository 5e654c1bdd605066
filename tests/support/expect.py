"""What the bot should say, read from domain.yml and bot/texts.yml, so tests check her language."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

from core.settings import PROJECT_ROOT

CONVERSATIONS = PROJECT_ROOT / "tests" / "data" / "conversations"
LANG_FILES = ("ar", "ary", "ary_latn", "fr", "en")


@lru_cache(maxsize=1)
def _responses() -> dict[str, list[dict[str, Any]]]:
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


@lru_cache(maxsize=1)
def _gateway_texts() -> dict[str, dict[str, str]]:
    return yaml.safe_load((PROJECT_ROOT / "bot" / "texts.yml").read_text(encoding="utf-8"))


def response_template(name: str, lang: str) -> str:
    """The text of response `name` in `lang` (Darija in Arabic script is the default variation)."""
    default = None
    for variation in _responses()[name]:
        values = [c.get("value") for c in variation.get("condition", [])]
        if not values:
            default = variation["text"]
        elif lang in values:
            return variation["text"]
    assert default is not None
    return default


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{[a-z_]+\}", template)
    return re.compile(".*".join(re.escape(p) for p in parts), re.DOTALL)


def said(replies: list[dict[str, Any]], name: str, lang: str) -> bool:
    """True when one reply is response `name` in language `lang` (variables filled)."""
    pattern = _pattern(response_template(name, lang))
    return any(pattern.fullmatch(r.get("text") or "") for r in replies)


def said_text(replies: list[dict[str, Any]], key: str, lang: str) -> bool:
    """True when one reply is the gateway's own text `key` in `lang`."""
    pattern = _pattern(_gateway_texts()[key][lang])
    return any(pattern.fullmatch(r.get("text") or "") for r in replies)


def conversation(lang_file: str) -> dict[str, str]:
    return yaml.safe_load((CONVERSATIONS / f"{lang_file}.yml").read_text(encoding="utf-8"))
