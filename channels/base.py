"""The message types every channel speaks, and the one small outbound contract.

A channel turns its platform's payloads into `InboundMessage`s and hands them to the `on_message`
callback it was given; it knows nothing of Rasa, cases or the store.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Awaitable, Callable, Mapping, Sequence

from aiohttp import web

logger = logging.getLogger(__name__)


class ChannelError(Exception):
    """A channel could not do what was asked."""


class DeliveryFailed(ChannelError):
    """A message could not be delivered to her; the caller records it for a human."""


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class InboundMessage:
    """One message from her, whatever the channel.

    `sender` is the platform address (phone number, chat id, web session id): it is never logged
    and leaves the gateway only encrypted.
    """

    channel: str
    sender: str
    text: str
    message_id: str | None = None
    # What the platform sent that was not text (a photo, a sticker…); answered politely.
    unsupported: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    """One message to her: text, optionally with buttons, or a control instruction for the channel."""

    text: str = ""
    buttons: Sequence[Button] = ()
    # Channel-side actions with no text, e.g. {"maak": "quick_exit"}.
    custom: Mapping[str, Any] | None = None
    # The stored case message this carries (a counsellor's words). A channel whose client can drop
    # off unnoticed (the web chat) passes it on, so what was missed can be sent again on return.
    seq: int | None = None


OnMessage = Callable[[InboundMessage], Awaitable[None]]
# A message the platform accepted and later reported undeliverable: its `seq` and a short reason.
OnUndelivered = Callable[[int, str], Awaitable[None]]


class Channel(ABC):
    """One messaging channel. Subclasses implement `_send`; everything goes out through `send`.

    Lifecycle: `attach(app)` adds the channel's routes before the app starts; `start()` opens its
    clients when the app starts (never in `__init__`); `close()` closes them.
    """

    name: str = "channel"
    # How long after her last message the platform lets us write to her (WhatsApp: 24 hours).
    service_window: timedelta | None = None

    def attach(self, app: web.Application) -> None:
        """Add the channel's webhook routes to the gateway app."""

    async def start(self) -> None:
        """Open the channel's clients (HTTP sessions, bot objects)."""

    async def close(self) -> None:
        """Close what `start` opened."""

    async def forget(self, address: str) -> None:
        """She asked to be forgotten: erase what the channel keeps about `address` (menus, message ids)."""

    async def send(self, address: str, message: OutboundMessage) -> None:
        """Deliver one message to `address`, enforcing the rules shared by every channel.

        Raises:
            DeliveryFailed: the platform refused or could not be reached.
        """
        if not message.text.strip() and not message.buttons and not message.custom:
            return
        try:
            await self._send(address, message)
        except DeliveryFailed:
            raise
        except Exception as exc:  # a platform error must reach a human, not vanish
            raise DeliveryFailed(f"{self.name}: {type(exc).__name__}") from exc

    @abstractmethod
    async def _send(self, address: str, message: OutboundMessage) -> None:
        """Send through the platform."""
