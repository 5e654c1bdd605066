"""Everything sent to her, by the bot or by a counsellor, goes out here, on the channel she used
(and what a channel keeps about her address is erased through here when she asks)."""

from __future__ import annotations

import logging
from typing import Mapping

from channels.base import Channel, DeliveryFailed, OutboundMessage
from core.privacy import Cipher
from core.store import Store, utcnow

logger = logging.getLogger(__name__)


class Outbox:
    """Delivers to an address on a channel, or to a conversation through its stored contact."""

    def __init__(self, store: Store, cipher: Cipher, channels: Mapping[str, Channel]) -> None:
        self._store = store
        self._cipher = cipher
        self._channels = channels

    async def send(self, channel_name: str, address: str, reply: OutboundMessage | str) -> str | None:
        """Send one message; returns None when delivered, else a short reason (already logged)."""
        message = OutboundMessage(text=reply) if isinstance(reply, str) else reply
        channel = self._channels.get(channel_name)
        if channel is None:
            error = f"channel {channel_name} is off"
        else:
            try:
                await channel.send(address, message)
                return None
            except DeliveryFailed as exc:
                error = str(exc) or type(exc).__name__
        logger.error("delivery failed: %s", error, extra={"event": "delivery_failed", "channel": channel_name})
        return error

    async def forget(self, channel_name: str, address: str) -> None:
        """She asked to be forgotten: her channel erases what it keeps about her address too."""
        channel = self._channels.get(channel_name)
        if channel is not None:
            await channel.forget(address)

    async def send_to(self, conversation_id: str, reply: OutboundMessage | str) -> str | None:
        """Send to a conversation through its contact; a reason if it cannot be reached."""
        contact = await self._store.run(self._store.get_contact, conversation_id)
        if contact is None:
            return "no contact (erased)"
        channel = self._channels.get(contact["channel"])
        if channel is not None and channel.service_window is not None:
            if utcnow() - contact["last_seen_at"] > channel.service_window:
                # The platform would refuse it (WhatsApp's 24-hour window): say so rather than try.
                logger.warning("outside the channel's service window", extra={"event": "delivery_failed",
                                                                            "channel": contact["channel"]})
                return f"outside the {channel.service_window.total_seconds() / 3600:g}-hour window"
        return await self.send(contact["channel"], self._cipher.decrypt(contact["address_enc"]), reply)

    async def send_counsellor(self, conversation_id: str, text: str, message_id: int) -> str | None:
        """A counsellor's message, marked with its stored id so a channel can resend it if missed."""
        return await self.send_to(conversation_id, OutboundMessage(text=text, seq=message_id))

    async def language_of(self, conversation_id: str) -> str | None:
        contact = await self._store.run(self._store.get_contact, conversation_id)
        return contact["lang"] if contact else None
