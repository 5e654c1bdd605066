"""The gateway app served in the test's own process (so its memory can be traced), with a fake Rasa."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Mapping

from aiohttp import web

from bot.app import create_app
from core.settings import Settings, load_settings
from core.store import Store
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL
from tools.stack import free_port

BACKENDS = ["sqlite", "postgresql+redis"]


@asynccontextmanager
async def served_gateway(
    var_dir: Path, backend: str, rasa_url: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[str, Settings, web.Application]]:
    """The gateway on `backend` (one of BACKENDS; PostgreSQL starts empty), on free loopback ports.

    Yields its base URL, its settings and the running app.
    """
    settings_env = {
        "MAAK_VAR_DIR": str(var_dir),
        "MAAK_PORT": str(free_port()),
        "MAAK_INTERNAL_PORT": str(free_port()),
        "MAAK_RASA_PORT": rasa_url.rsplit(":", 1)[1],
        # The tests' many chats all come from loopback; the test of the limit itself sets its own.
        "MAAK_CHAT_LIMITS_EXEMPT": "127.0.0.0/8",
        **(env or {}),
    }
    if backend != "sqlite":
        settings_env.update(DATABASE_URL=TEST_DATABASE_URL, REDIS_URL=TEST_REDIS_URL)
        store = Store(TEST_DATABASE_URL)
        store.drop_schema()
        store.dispose()
    settings = load_settings(settings_env)
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", settings.port).start()
        yield f"http://127.0.0.1:{settings.port}", settings, app
    finally:
        await runner.cleanup()
