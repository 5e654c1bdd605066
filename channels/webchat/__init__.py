"""The web / in-app chat: a discreet page and a Rasa-compatible Socket.IO endpoint."""

from channels.webchat.socket import Admit, Connections, OnResume, WebChatChannel

__all__ = ["Admit", "Connections", "OnResume", "WebChatChannel"]
