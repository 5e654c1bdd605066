"""The anonymous web chat as an attacker meets it: one WebSocket frame cannot cost the gateway
its memory, however large it says it is, compressed or not.

The gateway runs in the test's process, so that what it allocates is traced; the frames are
written by hand on a raw socket, as no well-behaved client would write them.
"""

from __future__ import annotations

import asyncio
import struct
import tracemalloc
import zlib
from typing import AsyncIterator

import pytest
from aiohttp import web

from bot.app import CHANNELS
from channels.base import OutboundMessage
from channels.webchat.socket import MAX_PACKET_BYTES
from tests.support.fakes import FakeRasa, serve
from tests.support.gateway import served_gateway
from tools.clients import ChatClient

MESSAGE_TOO_BIG = 1009


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[tuple[str, web.Application]]:
    async for rasa_url in serve(FakeRasa().app()):
        async with served_gateway(tmp_path / "var", "sqlite", rasa_url) as (url, _, app):
            yield url, app


@pytest.fixture
def gateway(served) -> str:
    return served[0]


async def _upgrade(url: str, deflate: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    """A WebSocket to the Socket.IO endpoint; returns the streams and the server's handshake."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    extension = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    writer.write(
        f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"{extension}\r\n".encode()
    )
    handshake = (await reader.readuntil(b"\r\n\r\n")).decode()
    assert handshake.startswith("HTTP/1.1 101"), handshake
    return reader, writer, handshake


def _frame_header(length: int, compressed: bool = False) -> bytes:
    """A final text frame's header declaring `length` bytes, masked with a zero key (payload as is)."""
    first = 0x81 | (0x40 if compressed else 0)
    if length < 126:
        sized = struct.pack("!BB", first, 0x80 | length)
    elif length < 65536:
        sized = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        sized = struct.pack("!BBQ", first, 0x80 | 127, length)
    return sized + b"\x00\x00\x00\x00"


async def _close_code(reader: asyncio.StreamReader) -> int | None:
    """Read the server's frames until its close frame; its code (None if the socket just ends)."""
    while True:
        try:
            head = await asyncio.wait_for(reader.readexactly(2), 10)
        except asyncio.IncompleteReadError:
            return None
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if head[0] & 0x0F == 0x8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


async def _still_chats(url: str) -> None:
    async with ChatClient(url) as chat:
        assert await chat.say("salam")


async def test_a_frame_declaring_150_mb_is_refused_before_it_is_read(gateway):
    tracemalloc.start()
    try:
        reader, writer, _ = await _upgrade(gateway, deflate=False)
        writer.write(_frame_header(150 * 1024 * 1024))
        # The first megabyte of the body, and no more: the answer must not wait for the rest.
        writer.write(b"4" * 1024 * 1024)
        try:
            await writer.drain()
        except ConnectionError:
            pass  # closed while it was sent: refused, as it should be
        code = await _close_code(reader)
        writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code in (MESSAGE_TOO_BIG, None)
    assert peak < 20 * 1024 * 1024, f"{peak / 2**20:.0f} MB"
    await _still_chats(gateway)


async def test_a_compressed_frame_is_capped_by_what_it_inflates_to(gateway):
    # 40 MB of one byte deflates to about 40 KB: under the cap as sent, far over it inflated.
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = deflate.compress(b"4" + b"a" * (40 * 1024 * 1024)) + deflate.flush(zlib.Z_SYNC_FLUSH)
    bomb = bomb.removesuffix(b"\x00\x00\xff\xff")  # as permessage-deflate sends a message's end
    assert len(bomb) < MAX_PACKET_BYTES
    tracemalloc.start()
    try:
        reader, writer, handshake = await _upgrade(gateway, deflate=True)
        assert "permessage-deflate" in handshake  # the compressed path is the one under test
        writer.write(_frame_header(len(bomb), compressed=True) + bomb)
        await writer.drain()
        code = await _close_code(reader)
        writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == MESSAGE_TOO_BIG
    assert peak < 20 * 1024 * 1024, f"{peak / 2**20:.0f} MB"
    await _still_chats(gateway)


async def test_a_socket_that_asks_again_leaves_its_former_conversation(served):
    url, app = served
    webchat = app[CHANNELS]["webchat"]
    async with ChatClient(url) as chat:
        first = chat.session_id
        await chat.sio.emit("session_request", {})  # a new conversation on the same socket
        while chat.session_id == first:
            await asyncio.sleep(0.05)
        await webchat.send(first, OutboundMessage(text="to the conversation it left"))
        await webchat.send(chat.session_id, OutboundMessage(text="to its conversation"))
        await asyncio.sleep(0.5)
        assert [m.get("text") for m in chat.received] == ["to its conversation"]
