"""Every Redis key and channel Maak uses, named in one place.

Keys live in the database of `REDIS_URL`; pub/sub channels are server-wide in Redis, so their
names carry the database number: two deployments on one Redis server do not hear each other.
Rasa's lock store uses its own `lock:` prefix.
"""


def console_events(db: int) -> str:
    """Pub/sub channel of console events (case opened, updated, message, closed), all replicas."""
    return f"maak:{db}:console-events"


def socketio_channel(db: int) -> str:
    """Pub/sub channel of the web chat's Socket.IO manager, all replicas."""
    return f"maak:{db}:socketio"


def seen_message(channel: str, digest: str) -> str:
    """A platform message already handled, by an HMAC of its id (a WhatsApp id holds her number); a day."""
    return f"maak:seen:{channel}:{digest}"


def rate_window(conversation_id: str) -> str:
    """Messages of one conversation in the current rate-limit window."""
    return f"maak:rate:{conversation_id}"


def telegram_chat_messages() -> str:
    """Prefix of the sets of message ids in each Telegram chat, hers and the bot's (an HMAC of the chat id follows)."""
    return "maak:telegram-chat:"


def whatsapp_numbered_menus() -> str:
    """Prefix of the last numbered menu sent to each WhatsApp contact (an HMAC of the number follows)."""
    return "maak:whatsapp-menu:"
