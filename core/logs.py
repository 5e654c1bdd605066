"""Logging: one line per event, with the event's name and no personal data.

Message text, platform addresses and conversation ids are never passed to a logger; the
formatter prints only the fields listed here, so an `extra` cannot leak more by accident.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

_FIELDS = ("event", "channel", "chars", "status", "case_id", "alerted")


class EventFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{f}={getattr(record, f)}" for f in _FIELDS if hasattr(record, f))
        return f"{line} {extras}".rstrip()

    def formatException(self, ei: Any) -> str:
        """Where it failed and the exception's type, never its message: a message can quote data
        (a decoding error shows the bytes, a KeyError the key), and data here may be hers."""
        kind, _error, tb = ei
        frames = "".join(traceback.format_tb(tb))
        return f"Traceback (most recent call last):\n{frames}{kind.__name__ if kind else 'Exception'}"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(EventFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers that would print request details at INFO (httpx: the URL, with the bot token),
    # or at DEBUG (python-telegram-bot: every Bot API call with its parameters, her words included).
    # Alembic: a line per plugin at every start; the store says itself when the schema changes.
    for noisy in ("aiohttp.access", "engineio", "socketio", "urllib3", "httpx", "httpcore", "telegram", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _text_free(_logger: object, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Keep a Rasa log event's name and level, and only the type of an exception: never values.

    Rasa's events carry her text in fields and, on errors, in the traceback's local variables.
    """
    kept = {"event": event_dict.get("event"), "level": event_dict.get("level")}
    error = event_dict.get("exc_info")
    if error is True:
        import sys

        error = sys.exc_info()
    if isinstance(error, BaseException):
        kept["error"] = type(error).__name__
    elif isinstance(error, tuple) and error and error[0] is not None:
        kept["error"] = error[0].__name__
    return kept


def silence_rasa_structlog(level: int = logging.WARNING) -> None:
    """Rasa's structured logs: `level` and above, as text-free JSON lines on stderr.

    Replaces Rasa's own configuration in every process that loads Rasa (`maak parse`, `maak eval`
    and the Rasa server, see `tools.rasa_server`).
    """
    import sys

    import structlog

    structlog.configure(
        processors=[structlog.processors.add_log_level, _text_free, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def silence_dependency_deprecations() -> None:
    """Rasa's pinned dependencies warn of their own deprecations at every start, and nothing in
    Rasa's environment will be upgraded: in `maak run`'s output that is noise. Sanic turns these
    warnings back on when it is imported, so it is imported first."""
    import warnings

    import sanic  # noqa: F401

    warnings.filterwarnings("ignore", category=DeprecationWarning)
