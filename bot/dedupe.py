"""Platforms redeliver a message when they are unsure it arrived: each is handled once.

With Redis the memory is shared by every gateway replica (SET NX with an expiry); without it, or
while Redis is unreachable, each process remembers the recent ids itself. When in doubt a message
is handled rather than dropped: a rare duplicate is better than a lost message.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.privacy import keyed_hash
from core.redis_keys import seen_message

logger = logging.getLogger(__name__)

REMEMBER_SECONDS = 24 * 3600  # Meta retries for up to a day
LOCAL_CAPACITY = 100_000


class Dedupe:
    """`first_time(channel, message_id)` is True once per message id."""

    def __init__(self, secret: bytes, redis: aioredis.Redis | None = None) -> None:
        self._secret = secret
        self._redis = redis
        self._local: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, channel: str, message_id: str) -> bool:
        key = seen_message(channel, keyed_hash(self._secret, message_id))
        if self._redis is not None:
            try:
                return bool(await self._redis.set(key, b"1", nx=True, ex=REMEMBER_SECONDS))
            except (RedisError, OSError):
                logger.warning("Redis unreachable: duplicates checked in this process only",
                               extra={"event": "dedupe_local"})
        return self._first_time_here(key)

    def _first_time_here(self, key: str) -> bool:
        now = time.monotonic()
        while self._local and (len(self._local) >= LOCAL_CAPACITY or next(iter(self._local.values())) < now):
            self._local.popitem(last=False)
        if key in self._local:
            return False
        self._local[key] = now + REMEMBER_SECONDS
        return True
