"""The anonymous web chat as an attacker meets it: one WebSocket frame cannot cost the gateway
its memory, however large it says it is, compressed or not; a socket cannot collect rooms; and
random Socket.IO events and payloads (hypothesis) crash nothing and lose no well-formed message.

The gateway runs in the test's process, so that what it allocates is traced; the frames are
written by hand on a raw socket, as no well-behaved client would write them.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import time
import tracemalloc
import zlib
from typing import AsyncIterator

import aiohttp
import pytest
import requests
import socketio
from aiohttp import web
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.app import CHANNELS, STORE, create_app
from channels.base import OutboundMessage
from channels.webchat.socket import MAX_IN_FLIGHT, MAX_PACKET_BYTES
from core.privacy import Cipher, conversation_id
from core.settings import load_settings
from tests.support.expect import said_text
from tests.support.fakes import FakeRasa, ServedInThread, serve
from tests.support.gateway import served_gateway
from tools.clients import ChatClient, texts
from tools.stack import free_port

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


EVENTS = st.sampled_from(["user_uttered", "session_request", "bot_uttered", "session_confirm", "no_such_event"])
FIELDS = st.sampled_from(["message", "session_id", "seen", "metadata", "language", "customData"]) | st.text(max_size=8)
PAYLOADS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300) | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(FIELDS, inner, max_size=4),
    max_leaves=12,
)


def test_random_events_crash_nothing_and_lose_no_message(tmp_path, caplog):
    caplog.set_level(logging.ERROR)
    rasa = FakeRasa()
    client_loop = asyncio.new_event_loop()
    client_thread = threading.Thread(target=client_loop.run_forever, daemon=True)
    client_thread.start()

    def run(coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, client_loop).result(timeout)

    with ServedInThread(rasa.app()) as fake_rasa:
        settings = load_settings({
            "MAAK_VAR_DIR": str(tmp_path / "var"), "MAAK_PORT": str(free_port()),
            "MAAK_INTERNAL_PORT": str(free_port()), "MAAK_RASA_PORT": fake_rasa.url.rsplit(":", 1)[1],
            "MAAK_SECRET": "fuzz", "MAAK_DATA_KEY": "fuzz", "MAAK_RATE_LIMIT_MESSAGES": "100000",
            "MAAK_CHAT_LIMITS_EXEMPT": "127.0.0.1",
        })
        with ServedInThread(create_app(settings)) as gateway:
            chat = ChatClient(gateway.url)
            run(chat.open())
            sent = 0
            marker = 0

            @hypothesis_settings(max_examples=60, deadline=None, database=None,
                                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(batch=st.lists(st.tuples(EVENTS, PAYLOADS), min_size=3, max_size=6), at=st.integers(0, 6))
            def fuzz(batch: list[tuple[str, object]], at: int) -> None:
                nonlocal sent, marker
                marker += 1
                for event, payload in batch[:at]:
                    run(chat.sio.emit(event, payload))
                run(chat.sio.emit("user_uttered", {"message": f"marker {marker}"}))
                for event, payload in batch[at:]:
                    run(chat.sio.emit(event, payload))
                sent += len(batch)
                deadline = time.monotonic() + 10
                while not any(m.get("message") == f"marker {marker}" for m in rasa.received):
                    assert time.monotonic() < deadline, "a well-formed message was lost"
                    time.sleep(0.01)

            fuzz()
            assert sent >= 180, sent
            assert chat.sio.connected  # nothing it sent closed its own socket
            assert requests.get(f"{gateway.url}/health", timeout=5).json()["parts"]["store"]
            run(chat.close())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    client_loop.call_soon_threadsafe(client_loop.stop)
    client_thread.join(timeout=10)


async def _new_conversations(url: str, *words: str) -> list[tuple[str, list[dict]]]:
    """Each of `words` sent on a new conversation from this address; her session id and the replies."""
    said = []
    for text in words:
        async with ChatClient(url) as chat:
            said.append((chat.session_id, await chat.say(text)))
    return said


@pytest.fixture
async def limited(request, tmp_path):
    """A gateway answering `request.param[0]` new conversations per address per hour, exempting
    `request.param[1]`, with the other settings of `request.param[2:]` (a dict) if any; yields its
    URL, settings, app and fake Rasa."""
    per_hour, exempt, *others = request.param
    rasa = FakeRasa()
    async for rasa_url in serve(rasa.app()):
        env = {"MAAK_CHAT_NEW_CONVERSATIONS_PER_HOUR": per_hour, "MAAK_CHAT_LIMITS_EXEMPT": exempt,
               **(others[0] if others else {})}
        async with served_gateway(tmp_path / "var", "sqlite", rasa_url, env) as (url, settings, app):
            yield url, settings, app, rasa


@pytest.mark.parametrize("limited", [("3", "")], indirect=True)
async def test_past_its_new_conversations_an_address_is_kept_for_a_human_never_refused(limited):
    url, settings, app, rasa = limited
    first = await _new_conversations(url, "bonjour", "salam", "hello")
    assert [texts(replies) for _, replies in first] == ["bot reply"] * 3
    # The fourth and fifth from the same address (a flood, or many women behind one carrier
    # address): the bot is not spent, but each is answered with the numbers and kept.
    (job, job_replies), (danger, danger_replies) = await _new_conversations(
        url, "je cherche du travail à Fès", "il va me tuer ce soir, il a un couteau")
    assert said_text(job_replies, "busy_kept", "fr"), texts(job_replies)
    assert said_text(danger_replies, "urgent_fallback", "fr"), texts(danger_replies)
    assert len(rasa.received) == 3
    store, cipher = app[STORE], Cipher(settings.data_key)
    kept = store.open_case_for(conversation_id(settings.secret, "webchat", job))
    assert [cipher.decrypt(m["text_enc"]) for m in store.case_messages(kept["id"])] == ["je cherche du travail à Fès"]
    urgent = store.open_case_for(conversation_id(settings.secret, "webchat", danger))
    assert urgent["priority"] == "urgent"  # never held back from the counsellors


@pytest.mark.parametrize("limited", [("1", "127.0.0.0/8")], indirect=True)
async def test_exempt_addresses_have_no_limit(limited):
    said = await _new_conversations(limited[0], "bonjour", "salam", "hello")
    assert [texts(replies) for _, replies in said] == ["bot reply"] * 3


async def _open_within(chat: ChatClient, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await chat.open()
        except socketio.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.mark.parametrize("limited", [("100", "", {"MAAK_CHAT_CONNECTIONS_PER_ADDRESS": "2"})], indirect=True)
async def test_past_its_open_sockets_an_address_waits_at_the_handshake_and_gets_in_when_one_leaves(limited):
    url = limited[0]
    first, second = ChatClient(url), ChatClient(url)
    await first.open()
    await second.open()
    # A third socket from the same address is refused before any session exists for it.
    async with aiohttp.ClientSession() as http, http.get(f"{url}/socket.io/?EIO=4&transport=polling") as handshake:
        assert handshake.status == 401
    third = ChatClient(url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await third.open()
    # One of the others leaves: her next try (the page retries every few seconds) gets in.
    await first.close()
    await _open_within(third, seconds=5)
    assert texts(await third.say("salam")) == "bot reply"
    assert texts(await second.say("bonjour")) == "bot reply"
    await second.close()
    await third.close()
    # Every socket that closed was counted out: two new ones open again.
    async with ChatClient(url) as again, ChatClient(url) as more:
        assert texts(await again.say("hello")) == "bot reply" and more.session_id


@pytest.mark.parametrize("limited", [("100", "127.0.0.0/8", {"MAAK_CHAT_CONNECTIONS_PER_ADDRESS": "1"})],
                         indirect=True)
async def test_exempt_addresses_open_as_many_sockets_as_they_need(limited):
    async with ChatClient(limited[0]) as one, ChatClient(limited[0]) as two:
        assert texts(await one.say("salam")) == texts(await two.say("hello")) == "bot reply"


@pytest.mark.parametrize("limited", [("100", "127.0.0.0/8", {"MAAK_RATE_LIMIT_MESSAGES": "1000"})], indirect=True)
async def test_a_socket_that_sends_without_waiting_is_closed_and_what_it_sent_is_handled(limited):
    url, _, _, rasa = limited
    rasa.delay = 0.05  # each turn takes a moment: messages sent without pause pile up
    flooder = ChatClient(url)
    await flooder.open()
    session_id = flooder.session_id
    for number in range(MAX_IN_FLIGHT * 3):
        await flooder.send({"message": f"message {number}"})
    deadline = time.monotonic() + 10
    while flooder.sio.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not flooder.sio.connected  # closed by the server, not by the client
    # Every message that reached the gateway still has its turn.
    deadline = time.monotonic() + 30
    while len(rasa.received) <= MAX_IN_FLIGHT and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert len(rasa.received) > MAX_IN_FLIGHT
    # Her page comes back to the same conversation and is answered.
    again = ChatClient(url)
    again.session_id = session_id
    async with again:
        assert again.session_id == session_id
        assert "bot reply" in texts(await again.say("salam"))


@pytest.mark.parametrize("limited", [("100", "127.0.0.0/8")], indirect=True)
async def test_a_woman_writing_several_messages_in_a_row_is_never_closed(limited):
    url, _, _, rasa = limited
    rasa.delay = 0.2
    async with ChatClient(url) as chat:  # 10 in a row is past the rate limit too: none is lost
        for number in range(10):
            await chat.send({"message": f"et aussi {number}"})
        await chat.replies_since(0)
        assert chat.sio.connected and len(chat.received) >= 10
