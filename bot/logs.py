"""Logging: one line per event, with the event's name and no personal data.

Message text, platform addresses and conversation ids are never passed to a logger; the
formatter prints only the fields listed here, so an `extra` cannot leak more by accident.
"""

from __future__ import annotations

import logging

_FIELDS = ("event", "channel", "chars", "status", "case_id", "alerted")


class EventFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{f}={getattr(record, f)}" for f in _FIELDS if hasattr(record, f))
        return f"{line} {extras}".rstrip()


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(EventFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers that would print request details at INFO.
    for noisy in ("aiohttp.access", "engineio", "socketio", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def silence_rasa_structlog() -> None:
    """Rasa's structured logs print message texts at DEBUG; keep only warnings, on stderr."""
    import sys

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
