"""The gateway's client for the Rasa server: its REST channel and its parse endpoint."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from channels.base import Button, OutboundMessage

logger = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer; the router falls back so that no message is lost."""


class RasaClient:
    """Talks to one Rasa server (or a load balancer in front of several)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str, timeout: float = 30.0) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(
        self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None, within: float | None = None
    ) -> list[OutboundMessage]:
        """One message from her; Rasa's replies, in order. Retried once on a connection error;
        `within` bounds the whole wait, retry included (RasaUnavailable past it)."""
        try:
            return await asyncio.wait_for(self._send(conversation_id, text, metadata), within)
        except asyncio.TimeoutError as exc:
            raise RasaUnavailable(f"no answer within {within:g} s") from exc

    async def _send(self, conversation_id: str, text: str, metadata: dict[str, Any] | None) -> list[OutboundMessage]:
        body = {"sender": conversation_id, "message": text, "metadata": metadata or {}}
        for attempt in (1, 2):
            try:
                async with self._session.post(
                    f"{self._base}/webhooks/rest/webhook", json=body, timeout=self._timeout
                ) as response:
                    if response.status != 200:
                        raise RasaUnavailable(f"HTTP {response.status}")
                    return [to_outbound(m) for m in await response.json()]
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                if attempt == 2:
                    raise RasaUnavailable(type(exc).__name__) from exc
                await asyncio.sleep(0.5)
            except (aiohttp.ClientError, ValueError) as exc:
                raise RasaUnavailable(type(exc).__name__) from exc
        raise AssertionError("unreachable")

    async def parse(self, text: str) -> dict[str, Any]:
        """NLU only (intent, language, urgency); touches no conversation."""
        try:
            async with self._session.post(
                f"{self._base}/model/parse", params={"token": self._token}, json={"text": text}, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"HTTP {response.status}")
                parsed = await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        if not isinstance(parsed, dict):
            raise RasaUnavailable("parse answer is not an object")
        return parsed

    async def end_questions(self, conversation_id: str) -> None:
        """Stop any form that was asking her questions: a counsellor has taken over.

        Without this, the first message after the counsellor closes would answer a question
        asked before the counsellor came. A failure is logged only: the case goes on regardless.
        """
        events = [{"event": "active_loop", "name": None}, {"event": "slot", "name": "requested_slot", "value": None}]
        try:
            async with self._session.post(
                f"{self._base}/conversations/{conversation_id}/tracker/events",
                params={"token": self._token}, json=events, timeout=self._timeout,
            ) as response:
                if response.status != 200:
                    raise RasaUnavailable(f"HTTP {response.status}")
        except (aiohttp.ClientError, asyncio.TimeoutError, RasaUnavailable) as exc:
            logger.warning("could not end the questions in Rasa: %s", type(exc).__name__,
                           extra={"event": "rasa_end_questions_failed"})

    async def ready(self) -> bool:
        """True when the server answers and has a model loaded."""
        try:
            async with self._session.get(
                f"{self._base}/status", params={"token": self._token}, timeout=aiohttp.ClientTimeout(total=3)
            ) as response:
                if response.status != 200:
                    return False
                return bool((await response.json()).get("model_file"))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return False


def to_outbound(message: dict[str, Any]) -> OutboundMessage:
    """One of Rasa's REST replies as an `OutboundMessage` (images and attachments become links)."""
    text = message.get("text") or ""
    for extra in ("image", "attachment"):
        if message.get(extra):
            text = f"{text}\n{message[extra]}".strip()
    buttons = tuple(
        Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
        for b in message.get("buttons") or []
        if isinstance(b, dict)
    )
    custom = message.get("custom") if isinstance(message.get("custom"), dict) else None
    return OutboundMessage(text=text, buttons=buttons, custom=custom)
