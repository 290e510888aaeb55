"""A stand-in for an outage: forwards HTTP to a server until `cut()`; then new connections
are refused and requests on connections already open get 502 (as from a load balancer whose
backend died), until `restore()` (same port)."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
from aiohttp import web


class CuttableProxy:
    def __init__(self, target: str, port: int) -> None:
        self.target = target.rstrip("/")
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.down = False
        threading.Thread(target=self._loop.run_forever, daemon=True, name="proxy").start()
        self._call(self._setup())

    def _call(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.down:
            return web.Response(status=502, text="backend unavailable")
        async with aiohttp.ClientSession() as http:
            async with http.request(
                request.method,
                self.target + request.path_qs,
                data=body,
                headers={"Content-Type": request.content_type},
            ) as reply:
                return web.Response(
                    status=reply.status, body=await reply.read(), content_type=reply.content_type
                )

    async def _setup(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await self._start_site()

    async def _start_site(self) -> None:
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    def cut(self) -> None:
        self.down = True
        self._call(self._site.stop())

    def restore(self) -> None:
        self._call(self._start_site())
        self.down = False

    def close(self) -> None:
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
