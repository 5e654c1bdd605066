"""What the webhook channels (WhatsApp, Telegram) do the same way: read a capped body, hand her
messages over on tasks of their own and drain them within a bound at shutdown, retry a send with
backoff inside a time budget, and cut a long text into pieces the platform accepts."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Coroutine, Sequence, TypeVar

import aiohttp
from aiohttp import web

from channels.base import DeliveryFailed

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BODY_BYTES = 256 * 1024  # far above any one update; a larger body is refused unread
MAX_PENDING = 1000  # messages being handled at once; past it the platform is asked to re-send later


async def read_capped(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, or None when it is larger than `limit`: read no further (a Content-Length may be absent or lie)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    return await read_at_most(request.content, limit)


async def read_at_most(stream: aiohttp.StreamReader, limit: int) -> bytes | None:
    """The whole stream (a request's or a platform's answer), or None past `limit` bytes."""
    body = bytearray()
    async for chunk in stream.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def unread(status: int, text: str | None = None) -> web.Response:
    """An answer that leaves the body unread: the connection closes, or the unread bytes would be
    taken for the next request on it (a keep-alive connection then hangs)."""
    response = web.Response(status=status, text=text)
    response.force_close()
    return response


class HandOver:
    """Her messages handled on tasks of their own, so the webhook answers at once; at shutdown
    the tasks are finished within `close_timeout_seconds`, then cancelled (and logged)."""

    def __init__(self, channel: str, close_timeout_seconds: float = 30.0) -> None:
        self._channel = channel
        self._close_timeout = close_timeout_seconds
        # Strong references: the event loop keeps only weak ones to running tasks.
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False

    @property
    def busy(self) -> bool:
        """Closing, or too much in hand: the platform should keep the update and re-send it."""
        return self.closing or len(self._tasks) >= MAX_PENDING

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def open(self) -> None:
        self.closing = False

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every message handed over so far has been handled."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        self.closing = True
        try:
            await asyncio.wait_for(self.drain(), self._close_timeout)
        except asyncio.TimeoutError:
            logger.error("messages still being handled at shutdown",
                         extra={"event": f"{self._channel}_close_timeout", "channel": self._channel})
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class RetryLater(Exception):
    """A send failed in a way worth retrying: `reason` for her case, `after` as the platform asked."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


async def with_retries(
    send_once: Callable[[float], Awaitable[T]],
    *,
    channel: str,
    attempts: int,
    backoff: Sequence[float],
    budget_seconds: float,
) -> T:
    """`send_once(seconds_left)` until it succeeds, raises DeliveryFailed, or the attempts or the
    time budget run out (then DeliveryFailed with the last reason): a flood wait or an outage
    never holds her conversation longer than the budget."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_seconds
    for attempt in range(attempts):
        try:
            return await send_once(max(0.1, deadline - loop.time()))
        except RetryLater as exc:
            reason, after = exc.reason, exc.after
        delay = after if after is not None else backoff[min(attempt, len(backoff) - 1)]
        if attempt == attempts - 1 or loop.time() + delay > deadline:
            raise DeliveryFailed(reason)
        logger.info("a message to her is retried", extra={"event": f"{channel}_retry", "channel": channel})
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def split_text(text: str, limit: int, units: Callable[[str], int] = lambda char: 1) -> list[str]:
    """Pieces of at most `limit` units (`units(char)` each), cut after a line break or a space
    in the second half of a piece when there is one, else hard; blank pieces are dropped."""
    pieces: list[str] = []
    rest = text
    while rest:
        used, cut = 0, len(rest)
        for index, char in enumerate(rest):
            used += units(char)
            if used > limit:
                cut = index
                break
        if cut < len(rest):
            for separator in ("\n", " "):
                at = rest.rfind(separator, cut // 2, cut)
                if at > 0:
                    cut = at + 1
                    break
        piece, rest = rest[:cut], rest[cut:]
        if piece.strip():
            pieces.append(piece.rstrip())
    return pieces
