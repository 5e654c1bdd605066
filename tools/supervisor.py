"""`maak run`: starts the action server, the Rasa server and the gateway, and keeps them running.

A process that dies is reported and restarted (with a growing pause if it keeps dying); Ctrl-C or
SIGTERM stops all of them, the gateway first so no new message arrives while the others stop.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Coroutine

from core.settings import PROJECT_ROOT

STOP_GRACE_SECONDS = 10
# A process that ran this long before dying is restarted at once; earlier deaths back off.
STABLE_AFTER_SECONDS = 60
MAX_BACKOFF_SECONDS = 30


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]


def say(message: str) -> None:
    print(f"maak: {message}", file=sys.stderr, flush=True)


class Supervisor:
    """Runs services as child processes until `stop()`."""

    def __init__(self, services: list[Service]) -> None:
        self._services = services
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._stopping = asyncio.Event()

    async def run(self, when_ready: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop)
        keepers = [asyncio.create_task(self._keep_running(service)) for service in self._services]
        watcher = asyncio.create_task(when_ready()) if when_ready else None
        await self._stopping.wait()
        if watcher:
            watcher.cancel()
        await self._stop_all()
        for keeper in keepers:
            keeper.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)

    def stop(self) -> None:
        if not self._stopping.is_set():
            say("stopping…")
            self._stopping.set()

    async def _keep_running(self, service: Service) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                *service.argv,
                cwd=PROJECT_ROOT,
                env=service.env,
                # Own process group: the terminal's Ctrl-C reaches only us, and we stop children in order.
                start_new_session=True,
            )
            self._processes[service.name] = process
            code = await process.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            backoff = 1.0 if ran > STABLE_AFTER_SECONDS else min(backoff * 2, MAX_BACKOFF_SECONDS)
            say(f"{service.name} stopped (exit code {code}) after {ran:.0f} s; restarting in {backoff:.0f} s")
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
            except asyncio.TimeoutError:
                pass

    async def _stop_all(self) -> None:
        for service in reversed(self._services):
            process = self._processes.get(service.name)
            if process is None or process.returncode is not None:
                continue
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=STOP_GRACE_SECONDS)
            except asyncio.TimeoutError:
                say(f"{service.name} did not stop in {STOP_GRACE_SECONDS} s; killing it")
                process.kill()
                await process.wait()
        say("stopped")
