"""The web chat's Socket.IO endpoint with the real python-socketio client: protocol and bad input."""

from __future__ import annotations

import asyncio

import requests
import socketio

from channels.webchat.socket import SessionIds
from tests.support.expect import said_text
from tools.clients import ChatClient, texts


async def test_a_session_is_confirmed_with_an_id_the_server_issued_and_kept_on_return(stack):
    chat = ChatClient(stack.url)
    proposed = chat.session_id
    async with chat:
        assert chat.sio.connected
    # The client's own id is replaced by the server's (rasa-webchat and the page adopt it)...
    assert chat.session_id != proposed and SessionIds(stack.settings.secret).issued(chat.session_id)
    # ...which a page coming back keeps.
    again = ChatClient(stack.url)
    again.session_id = chat.session_id
    async with again:
        assert again.session_id == chat.session_id


async def test_the_widget_opening_event_is_not_a_message(stack):
    async with ChatClient(stack.url) as chat:
        await chat.send({"session_id": chat.session_id})  # rasa-webchat 1.0.1 sends this on open
        await asyncio.sleep(1.0)
        assert chat.received == []
        replies = await chat.say("salam")
        assert replies


async def test_an_empty_message_gets_a_clear_reply(stack):
    async with ChatClient(stack.url) as chat:
        replies = await chat.say("")
    assert said_text(replies, "empty_message", "ary"), texts(replies)


async def test_a_10_kb_message_is_answered(stack):
    async with ChatClient(stack.url) as chat:
        replies = await chat.say("je cherche du travail a casa. " * 350)
    assert said_text(replies, "too_long", "fr"), texts(replies)


async def test_binary_and_malformed_events_get_a_reply_and_crash_nothing(stack):
    async with ChatClient(stack.url) as chat:
        start = len(chat.received)
        await chat.send({"message": b"\x00\xff\xfe binary", "session_id": chat.session_id})
        replies = await chat.replies_since(start)
        assert said_text(replies, "not_text", "ary"), texts(replies)
        for malformed in (["a", "list"], 42, {"message": {"nested": True}}, {"message": 3.5}):
            start = len(chat.received)
            await chat.send(malformed)
            assert await chat.replies_since(start)
        await chat.sio.emit("no_such_event", {"x": 1})
        await chat.sio.emit("session_request", "not a dict")
        replies = await chat.say("bonjour")
        assert replies
    assert requests.get(f"{stack.url}/health", timeout=5).status_code == 200


async def test_a_bare_string_event_is_taken_as_her_message(stack):
    async with ChatClient(stack.url) as chat:
        start = len(chat.received)
        await chat.send("bonjour")
        assert await chat.replies_since(start)


async def test_an_oversized_packet_is_refused_without_harm(stack):
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(stack.url, socketio_path="socket.io", transports=["websocket"])
    await client.emit("user_uttered", {"message": "x" * 200_000})
    await asyncio.sleep(1)
    await client.disconnect()
    async with ChatClient(stack.url) as chat:
        assert await chat.say("salam")


def test_health_names_every_part(stack):
    body = requests.get(f"{stack.url}/health", timeout=5).json()
    assert body["status"] == "ok"
    assert set(body["parts"]) >= {"store", "rasa", "actions"}
