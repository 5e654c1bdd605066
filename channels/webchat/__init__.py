"""The web / in-app chat: a discreet page and a Rasa-compatible Socket.IO endpoint."""

from channels.webchat.socket import WebChatChannel

__all__ = ["WebChatChannel"]
