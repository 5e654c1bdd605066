"""Rasa's own command line (`python -m bot.rasa_server run …`), with logs that never carry her words.

Rasa configures its structured logs when its command starts, and its error events include the
message and the traceback's local variables. This runs the same command with that configuration
replaced by `bot.logs.silence_rasa_structlog`: warnings and errors still reach the log, as an
event name and an exception type.
"""

from __future__ import annotations

import logging
from typing import Optional

from bot.logs import silence_rasa_structlog


def _configure_structlog(log_level: Optional[int] = None) -> None:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    silence_rasa_structlog(logging.WARNING)


def main() -> None:
    import rasa.__main__ as rasa_main

    rasa_main.configure_structlog = _configure_structlog
    rasa_main.main()


if __name__ == "__main__":
    main()
