"""The web / in-app chat: a discreet page and a Rasa-compatible Socket.IO endpoint."""

from channels.webchat.socket import Admit, OnResume, WebChatChannel

__all__ = ["Admit", "OnResume", "WebChatChannel"]
