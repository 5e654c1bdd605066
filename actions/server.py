"""The action server: rasa-sdk's, except that it answers Rasa only, and an error never echoes the
request back.

Every call but `/health` must carry `Authorization: Bearer $MAAK_ACTION_TOKEN` (Rasa sends it,
endpoints.yml): a forged request from another process on the machine would otherwise open cases
through the actions. rasa-sdk answers an exception with the whole request (the tracker, her
messages included), and Rasa logs that answer; here the answer names only the error's type.
"""

from __future__ import annotations

import argparse
import hmac
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
    expected = f"Bearer {os.environ.get('MAAK_ACTION_TOKEN', '')}".encode()
    if expected == b"Bearer ":
        logger.error("MAAK_ACTION_TOKEN is not set: every action call will be refused")

    @app.on_request
    async def _only_rasa(request: Request) -> response.HTTPResponse | None:
        if request.path == "/health":
            return None
        given = (request.headers.get("Authorization") or "").encode()
        if expected == b"Bearer " or not hmac.compare_digest(given, expected):
            logger.warning("action call without the token refused")
            return response.json({"error": "unauthorised"}, status=401)
        return None

    @app.exception(Exception)
    async def _error(request: Request, exception: Exception) -> response.HTTPResponse:
        logger.error("action request failed: %s", type(exception).__name__)
        return response.json({"error": type(exception).__name__}, status=500)

    app.run(os.environ.get("SANIC_HOST", "127.0.0.1"), args.port, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
