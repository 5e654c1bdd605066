"""`maak parse`: one JSON line of NLU results (intent, language, urgency) per input line."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from core.logs import silence_rasa_structlog
from core.settings import Settings
from nlu.danger import clears_the_chat
from tools.training import latest_model

INTERNAL_ENTITIES = {"lang"}


def result_of(text: str, parsed: dict[str, Any]) -> dict[str, Any]:
    """CONTRACTS' shape: text, intent, confidence, lang, urgent, entities; and `quick_exit`, whether
    the answer ends with the quick exit."""
    intent = parsed.get("intent") or {}
    return {
        "text": text,
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0.0), 4),
        "lang": parsed.get("lang"),
        "urgent": bool(parsed.get("urgent")),
        "quick_exit": clears_the_chat(intent.get("name"), parsed.get("danger"), text),
        "entities": [
            {"entity": e["entity"], "value": e["value"]}
            for e in parsed.get("entities", [])
            if e.get("entity") not in INTERNAL_ENTITIES
        ],
    }


def load_agent(model: Path) -> Any:
    """The Rasa agent for `model`, loaded in this process (NLU and dialogue)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from rasa.core.agent import Agent

    return Agent.load(str(model))


async def parse_stream(settings: Settings, model: Path | None, stdin: BinaryIO, stdout: TextIO) -> int:
    model = model or latest_model(settings.models_dir)
    if model is None or not model.exists():
        print("maak: no model; run `maak train` first", file=sys.stderr)
        return 2
    silence_rasa_structlog()
    logging.getLogger("rasa").setLevel(logging.ERROR)
    agent = load_agent(model)
    for raw in stdin:
        # Bad bytes become U+FFFD rather than stopping the stream: one line in, one line out.
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        parsed = await agent.parse_message(text) if text.strip() else {}
        stdout.write(json.dumps(result_of(text, parsed), ensure_ascii=False) + "\n")
        stdout.flush()
    return 0
