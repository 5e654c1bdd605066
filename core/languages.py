"""The language tags Maak speaks, written once: every list, fallback and default comes from here."""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

LANGS: tuple[str, ...] = ("ar", "ary", "ary-Latn", "fr", "en")
# Darija, until her messages say otherwise: most women who write to Maak write it.
DEFAULT_LANG = "ary"
# When a text is missing in her language, the next one she is most likely to read.
FALLBACKS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "ar": ("ar", "ary", "fr"),
        "ary": ("ary", "ar", "fr"),
        "ary-Latn": ("ary-Latn", "fr", "en"),
        "fr": ("fr", "en", "ar"),
        "en": ("en", "fr", "ar"),
    }
)
