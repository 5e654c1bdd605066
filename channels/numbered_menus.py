"""The last menu sent to each address as numbered text, so that her answer "2" is that choice.

In this process on the embedded default; in Redis when there are several gateway replicas, so her
answer is understood whichever gateway receives it. A menu is kept for a day (WhatsApp's service
window); a newer message to her replaces or clears it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Protocol, Sequence

import redis.asyncio as aioredis

from core.privacy import keyed_hash

KEEP_SECONDS = 24 * 3600


class NumberedMenus(Protocol):
    """Where the numbered menus are kept, per address."""

    async def remember(self, address: str, payloads: Sequence[str]) -> None:
        """The menu just sent to `address`, its choices' payloads in order."""

    async def forget(self, address: str) -> None:
        """A message without a numbered menu went to `address`: a number no longer means a choice."""

    async def get(self, address: str) -> list[str] | None:
        """The payloads of the last numbered menu sent to `address`, if it still stands."""



class MemoryNumberedMenus:
    """`NumberedMenus` in this process, bounded (the least recently sent go first)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._menus: OrderedDict[str, list[str]] = OrderedDict()
        self._capacity = capacity

    async def remember(self, address: str, payloads: Sequence[str]) -> None:
        self._menus[address] = list(payloads)
        self._menus.move_to_end(address)
        while len(self._menus) > self._capacity:
            self._menus.popitem(last=False)

    async def forget(self, address: str) -> None:
        self._menus.pop(address, None)

    async def get(self, address: str) -> list[str] | None:
        return self._menus.get(address)



class RedisNumberedMenus:
    """`NumberedMenus` shared by every replica; the key is an HMAC of her address, never the address."""

    def __init__(self, client: aioredis.Redis, prefix: str, pepper: bytes, keep_seconds: int = KEEP_SECONDS) -> None:
        # The gateway's one client, which connects on first use: Redis down fails a call, not the start.
        self._redis = client
        self._prefix = prefix
        self._pepper = pepper
        self._keep = keep_seconds

    def key(self, address: str) -> str:
        return self._prefix + keyed_hash(self._pepper, address)

    async def remember(self, address: str, payloads: Sequence[str]) -> None:
        await self._redis.set(self.key(address), json.dumps(list(payloads)), ex=self._keep)

    async def forget(self, address: str) -> None:
        await self._redis.delete(self.key(address))

    async def get(self, address: str) -> list[str] | None:
        stored = await self._redis.get(self.key(address))
        if stored is None:
            return None
        payloads = json.loads(stored)
        return payloads if isinstance(payloads, list) and all(isinstance(p, str) for p in payloads) else None
