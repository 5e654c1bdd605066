"""Every Redis key and channel Maak uses, named in one place.

Socket.IO's own Redis manager (the web chat across replicas) uses python-socketio's default
channel, `socketio`; Rasa's lock store uses its own `lock:` prefix.
"""

# Pub/sub channel of console events (case opened, updated, message, closed), all replicas.
CONSOLE_EVENTS = "maak:console-events"
