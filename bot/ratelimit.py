"""A per-conversation rate limit that slows her down instead of dropping anything; and the count
of new web-chat conversations per address, past which the bot is not spent on them.

At most `limit` messages per `window` seconds go on to Rasa; beyond that, her next messages wait
their turn (she is told once, kindly). Counters live in Redis when configured, so the limit holds
across gateway replicas; otherwise, or while Redis is unreachable, in this process.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.privacy import keyed_hash
from core.proxies import Network, in_networks
from core.redis_keys import rate_window

logger = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, limit: int, window_seconds: int, redis: aioredis.Redis | None = None) -> None:
        self.limit = limit
        self.window = window_seconds
        self._redis = redis
        self._local: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str) -> tuple[int, float]:
        """Count one message; returns (messages in the current window, seconds until it ends)."""
        if self._redis is not None:
            try:
                return await self._hit_redis(self._redis, rate_window(key))
            except (RedisError, OSError):
                logger.warning("Redis unreachable: rate limit counted in this process",
                               extra={"event": "ratelimit_local"})
        return self._hit_here(key)

    async def _hit_redis(self, redis: aioredis.Redis, key: str) -> tuple[int, float]:
        async with redis.pipeline(transaction=True) as pipe:
            # The window starts with her first message in it; INCR keeps the expiry.
            pipe.set(key, 0, nx=True, px=self.window * 1000)
            pipe.incr(key)
            pipe.pttl(key)
            _, count, ttl_ms = await pipe.execute()
        return int(count), max(ttl_ms, 0) / 1000

    async def forget(self, key: str) -> None:
        """She asked to be forgotten: her window's count goes too."""
        self._local.pop(key, None)
        if self._redis is not None:
            try:
                await self._redis.delete(rate_window(key))
            except (RedisError, OSError):
                logger.warning("Redis unreachable: a rate window is left to expire",
                               extra={"event": "ratelimit_local"})

    def _hit_here(self, key: str) -> tuple[int, float]:
        now = time.monotonic()
        if len(self._local) > 10_000:
            self._local = {k: v for k, v in self._local.items() if v[0] > now}
        ends, count = self._local.get(key, (now + self.window, 0))
        if ends <= now:
            ends, count = now + self.window, 0
        self._local[key] = (ends, count + 1)
        return count + 1, ends - now


class NewConversations:
    """How many new web-chat conversations each client address starts per hour, and whether the
    bot answers one more (`admit`). The address is kept only as an HMAC; exempt ones always pass."""

    def __init__(self, secret: bytes, per_hour: int, exempt: tuple[Network, ...],
                 redis: aioredis.Redis | None = None) -> None:
        self._secret = secret
        self._exempt = exempt
        self._counter = RateLimiter(per_hour, 3600, redis)

    async def admit(self, address: str) -> bool:
        if in_networks(address, self._exempt):
            return True
        key = "chat-address:" + keyed_hash(self._secret, address)
        count, _ = await self._counter.hit(key)
        if count == self._counter.limit + 1:
            logger.warning("new conversations from one address past the limit: kept for a human",
                           extra={"event": "chat_limited"})
        return count <= self._counter.limit
