"""The one client the actions use to reach the gateway's internal API, over HTTP only."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)


class GatewayUnavailable(Exception):
    """The gateway did not accept the request; the action tells her and gives the numbers."""


@dataclass(frozen=True)
class GatewaySettings:
    """Where the gateway is and how to prove it is us; set by `maak run` for the action server."""

    url: str
    token: str

    @classmethod
    def from_environment(cls) -> "GatewaySettings":
        return cls(
            url=os.environ.get("MAAK_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/"),
            token=os.environ.get("MAAK_INTERNAL_TOKEN", ""),
        )


class GatewayClient:
    """Handoff requests and case-card updates for one conversation."""

    def __init__(self, settings: GatewaySettings | None = None, timeout: float = 5.0) -> None:
        self._settings = settings or GatewaySettings.from_environment()
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._settings.token}"}
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session:
                async with session.post(self._settings.url + path, json=body, headers=headers) as response:
                    if response.status >= 300:
                        raise GatewayUnavailable(f"{path}: HTTP {response.status}")
                    return await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GatewayUnavailable(f"{path}: {type(exc).__name__}") from exc

    async def request_handoff(self, conversation_id: str, **case: Any) -> dict[str, Any]:
        """Open (or raise) her case; returns `{"case_id", "status", "position"}`."""
        return await self._post("/internal/handoff", {"conversation_id": conversation_id, **case})

    async def update_case(self, conversation_id: str, **changes: Any) -> None:
        """Add what she just answered to her open case card, if she has one."""
        try:
            await self._post(f"/internal/conversations/{conversation_id}/case", changes)
        except GatewayUnavailable:
            # The answer stays in the Rasa tracker; the counsellor can still read it there.
            logger.warning("case update not delivered to the gateway", extra={"event": "case_update_failed"})
