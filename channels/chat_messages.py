"""The ids of the messages in each chat, hers and the bot's, kept so that a quick exit can delete them.

In this process on the embedded default; in Redis when there are several gateway replicas, so the
quick exit handled by one replica also deletes what went through another. Either way an id is
kept for as long as the platform lets a bot delete it, and no longer.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Iterable, Protocol

import redis.asyncio as aioredis

from core.privacy import keyed_hash

# Telegram lets a bot delete its own message for 48 hours after sending it.
DELETABLE_SECONDS = 48 * 3600
PER_CHAT = 300


class ChatMessages(Protocol):
    """Where the message ids of each chat are kept."""

    async def record(self, chat_id: str, message_ids: Iterable[int]) -> None:
        """Remember messages just sent or received in `chat_id`."""

    async def take(self, chat_id: str) -> list[int]:
        """The ids still deletable in `chat_id`, oldest first, forgotten as they are returned."""



class MemoryChatMessages:
    """`ChatMessages` in this process, bounded: the most recent chats, the last ids of each, 48 hours."""

    def __init__(self, max_chats: int = 5000, per_chat: int = PER_CHAT, keep_seconds: float = DELETABLE_SECONDS) -> None:
        self._chats: OrderedDict[str, deque[tuple[int, float]]] = OrderedDict()
        self._max_chats = max_chats
        self._per_chat = per_chat
        self._keep = keep_seconds

    async def record(self, chat_id: str, message_ids: Iterable[int]) -> None:
        now = time.monotonic()
        ids = self._chats.pop(chat_id, None) or deque(maxlen=self._per_chat)
        ids.extend((message_id, now) for message_id in message_ids)
        self._chats[chat_id] = ids
        self._expire(now)

    async def take(self, chat_id: str) -> list[int]:
        self._expire(time.monotonic())
        ids = self._chats.pop(chat_id, None) or ()
        horizon = time.monotonic() - self._keep
        return [message_id for message_id, sent in ids if sent > horizon]

    def _expire(self, now: float) -> None:
        # Least recently written first: a chat whose newest message is past 48 hours has nothing left to delete.
        while self._chats:
            oldest = next(iter(self._chats.values()))
            if len(self._chats) <= self._max_chats and oldest and oldest[-1][1] > now - self._keep:
                break
            self._chats.popitem(last=False)


class RedisChatMessages:
    """`ChatMessages` shared by every replica: a sorted set per chat (id by send time), expiring.

    The key is an HMAC of the chat id, so Redis never holds her chat id, only message numbers.
    """

    def __init__(
        self, client: aioredis.Redis, prefix: str, pepper: bytes,
        per_chat: int = PER_CHAT, keep_seconds: int = DELETABLE_SECONDS,
    ) -> None:
        # The gateway's one client, which connects on first use: Redis down fails a call, not the start.
        self._redis = client
        self._prefix = prefix
        self._pepper = pepper
        self._per_chat = per_chat
        self._keep = keep_seconds

    def key(self, chat_id: str) -> str:
        return self._prefix + keyed_hash(self._pepper, chat_id)

    async def record(self, chat_id: str, message_ids: Iterable[int]) -> None:
        key, now = self.key(chat_id), time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {str(message_id): now for message_id in message_ids})
            pipe.zremrangebyrank(key, 0, -self._per_chat - 1)
            pipe.expire(key, self._keep)
            await pipe.execute()

    async def take(self, chat_id: str) -> list[int]:
        key = self.key(chat_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrangebyscore(key, time.time() - self._keep, "+inf")
            pipe.delete(key)
            ids, _ = await pipe.execute()
        # A chat's message ids grow with time: numeric order is oldest first.
        return sorted(int(message_id) for message_id in ids)
