"""Rasa's own command line (`python -m tools.rasa_server run …`), with two changes made at start-up.

- Logs that never carry her words: Rasa configures its structured logs when its command starts,
  and its error events include the message and the traceback's local variables. That
  configuration is replaced by `core.logs.silence_rasa_structlog`: warnings and errors still
  reach the log, as an event name and an exception type.
- The HTTP API's token is read from `MAAK_RASA_TOKEN` and given to Rasa's `--auth-token` inside
  the process, so that it is never on the command line (which `ps` shows to every account).
- Each action server reply is checked against Rasa's response schema, as before, but with the
  validator built once: Rasa's own check rebuilds and re-checks the schema on every call
  (≈ 50 ms of CPU, twice per urgent turn), which made an urgent turn wait behind others under load.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Dict, Optional

from core.logs import silence_dependency_deprecations, silence_rasa_structlog


def _configure_structlog(log_level: Optional[int] = None) -> None:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    silence_rasa_structlog(logging.WARNING)


def _validate_action_results_with_one_validator() -> None:
    from jsonschema import ValidationError, validators
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def validate(self: RemoteAction, result: Dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError as exc:
            exc.message += ". Failed to validate Action server response from API."
            raise
        return True

    RemoteAction._validate_action_result = validate  # type: ignore[method-assign]


def main() -> None:
    silence_dependency_deprecations()
    import rasa.__main__ as rasa_main
    import rasa.utils.common as rasa_common

    rasa_main.configure_structlog = _configure_structlog
    rasa_filter_warnings = rasa_common._filter_warnings

    def filter_warnings(log_level: Optional[int] = None, warn_only_once: bool = True) -> None:
        # Rasa shows every UserWarning once, which brings back its dependencies' deprecations.
        rasa_filter_warnings(log_level, warn_only_once)
        silence_dependency_deprecations()

    rasa_common._filter_warnings = filter_warnings
    _validate_action_results_with_one_validator()
    token = os.environ.pop("MAAK_RASA_TOKEN", "")
    if token:
        sys.argv += ["--auth-token", token]
    rasa_main.main()


if __name__ == "__main__":
    main()
