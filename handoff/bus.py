"""The console event bus: every case event reaches every connected console, whatever the replica.

`LocalBus` serves the embedded default (one gateway process). `RedisBus` fans events out through
Redis pub/sub to every gateway replica. Events carry her words, so they cross Redis encrypted.
If Redis is unreachable, cases are still written to the database and this replica's consoles
still get the events; when Redis returns, every console is told to `resync` (reload the cases),
so nothing missed in between stays invisible.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.privacy import Cipher
from core.redis_keys import console_events

logger = logging.getLogger(__name__)

Event = dict[str, Any]
Subscriber = Callable[[Event], Awaitable[None]]
RESYNC: Event = {"type": "resync"}


class LocalBus:
    """In-process fan-out, for a single gateway."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def publish(self, event: Event) -> None:
        await self._deliver(event)

    async def _deliver(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                await subscriber(event)
            except Exception:
                logger.exception("console event subscriber failed", extra={"event": "bus_subscriber_failed"})


class RedisBus(LocalBus):
    """Fan-out across replicas through Redis pub/sub, with the payload encrypted."""

    def __init__(self, client: aioredis.Redis, cipher: Cipher, retry_seconds: float = 1.0) -> None:
        super().__init__()
        self._client = client
        self._channel = console_events(int(client.connection_pool.connection_kwargs.get("db", 0)))
        self._cipher = cipher
        self._retry = retry_seconds
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        # Do not hold up start-up when Redis is down: the listener keeps trying.
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout=3)
        except asyncio.TimeoutError:
            logger.warning("Redis unreachable: console events stay on this replica until it returns",
                           extra={"event": "bus_down"})

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except asyncio.CancelledError:
                pass

    async def publish(self, event: Event) -> None:
        payload = self._cipher.encrypt(json.dumps(event, ensure_ascii=False))
        try:
            await self._client.publish(self._channel, payload)
        except (RedisError, OSError):
            # The case is in the database; this replica's consoles see it now, the others on resync.
            logger.warning("Redis unreachable: console event kept local", extra={"event": "bus_publish_failed"})
            await self._deliver(event)

    async def _listen(self) -> None:
        lost = False
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                if lost:
                    logger.info("Redis is back: consoles resync", extra={"event": "bus_up"})
                    await self._deliver(RESYNC)
                    lost = False
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        await self._receive(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                if not lost:
                    logger.warning("Redis connection lost; retrying", extra={"event": "bus_down"})
                lost = True
                await asyncio.sleep(self._retry)
            finally:
                try:
                    await pubsub.aclose()
                except (RedisError, OSError):
                    pass

    async def _receive(self, data: bytes | str) -> None:
        try:
            raw = data.decode() if isinstance(data, bytes) else data
            event = json.loads(self._cipher.decrypt(raw))
        except (ValueError, UnicodeDecodeError):
            logger.warning("unreadable console event ignored", extra={"event": "bus_bad_event"})
            return
        if isinstance(event, dict):
            await self._deliver(event)
