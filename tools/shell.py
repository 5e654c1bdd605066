"""`maak shell`: talk to a running Maak in the terminal, through its web chat socket."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import socketio


async def shell(url: str) -> int:
    client = socketio.AsyncClient(reconnection=False)
    buttons: list[dict[str, Any]] = []
    replied = asyncio.Event()

    async def _on_reply(data: dict[str, Any]) -> None:
        nonlocal buttons
        if data.get("text"):
            print(f"maak> {data['text']}")
        buttons = data.get("quick_replies") or buttons
        for number, button in enumerate(data.get("quick_replies") or [], 1):
            print(f"  {number}. {button['title']}")
        replied.set()

    client.on("bot_uttered", _on_reply)
    try:
        await client.connect(url, socketio_path="socket.io", transports=["websocket"])
    except socketio.exceptions.ConnectionError:
        print(f"maak: nothing answers at {url}; start Maak with `maak run` first", file=sys.stderr)
        return 2
    # A new conversation: the server issues its id and keeps it bound to this socket.
    await client.emit("session_request", {})
    print("Write to Maak (a number picks a button; Ctrl-D leaves).")
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        text = line.strip()
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        replied.clear()
        await client.emit("user_uttered", {"message": text})
        try:
            await asyncio.wait_for(replied.wait(), timeout=30)
            await asyncio.sleep(0.3)  # the rest of a multi-message reply
        except asyncio.TimeoutError:
            print("maak: no answer yet", file=sys.stderr)
    await client.disconnect()
    return 0
