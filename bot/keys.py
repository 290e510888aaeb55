"""The keys under which the app keeps its shared objects (in their own module, so that
`python -m bot.web` and `handoff.web` see the same keys)."""
from __future__ import annotations

from aiohttp import web

from bot.outbox import Outbox
from bot.router import Router
from handoff.desk import Desk

ROUTER = web.AppKey("router", Router)
DESK = web.AppKey("desk", Desk)
OUTBOX = web.AppKey("outbox", Outbox)
