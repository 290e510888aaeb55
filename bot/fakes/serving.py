"""Serving a stand-in's aiohttp app from a background thread (tests and benchmarks)."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class ThreadedServer:
    """Mixin: `app()` served on 127.0.0.1 from its own thread and event loop."""

    url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    def start_in_thread(self, port: int) -> str:
        """Serves on 127.0.0.1:`port`; returns the base URL."""
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self.app())
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", port).start())
            started.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True, name=type(self).__name__).start()
        started.wait(10)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
