"""Every Redis key and channel Maak uses, named in one place.

Socket.IO's own Redis manager (the web chat across replicas) uses python-socketio's default
channel, `socketio`; Rasa's lock store uses its own `lock:` prefix.
"""

# Pub/sub channel of console events (case opened, updated, message, closed), all replicas.
CONSOLE_EVENTS = "maak:console-events"


def seen_message(channel: str, message_id: str) -> str:
    """A platform message id already handled (expires after a day)."""
    return f"maak:seen:{channel}:{message_id[:200]}"


def rate_window(conversation_id: str) -> str:
    """Messages of one conversation in the current rate-limit window."""
    return f"maak:rate:{conversation_id}"
