"""The action server: rasa-sdk's, except that an error never echoes the request back.

rasa-sdk answers an exception with the whole request (the tracker, her messages included), and
Rasa logs that answer; here the answer names only the error's type.
"""

from __future__ import annotations

import argparse
import logging
import os

from core.logs import silence_dependency_deprecations

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description="Maak's action server")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    silence_dependency_deprecations()
    from rasa_sdk import utils
    from rasa_sdk.endpoint import create_app
    from sanic import response
    from sanic.request import Request

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app("actions")

    @app.exception(Exception)
    async def _error(request: Request, exception: Exception) -> response.HTTPResponse:
        logger.error("action request failed: %s", type(exception).__name__)
        return response.json({"error": type(exception).__name__}, status=500)

    app.run(os.environ.get("SANIC_HOST", "127.0.0.1"), args.port, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
