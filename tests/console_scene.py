"""A console with something to protect, shared by the console security tests of two tiers
(tests/integration/test_console_security.py in-process, tests/security/test_console.py
against the app's own process).

Agents alice and bruno, supervisor sam (all with PASSWORD), and three conversations: one
waiting in the queue, one bruno holds, one the bot handled alone (never escalated).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from handoff.accounts import add_agent
from handoff.intake import open_escalation
from handoff.queue import claim
from relais.core.brand import load_brand
from relais.core.handoff import HandoffPayload
from relais.core.types import Role, utcnow
from relais.storage.db import session_scope
from relais.storage.messages import conversation_for

PASSWORD = "a-long-password-for-these-tests"
WAITING = "web:waiting-customer"
BRUNOS = "web:brunos-customer"
BOT_ONLY = "web:bot-only-customer"


@dataclass(frozen=True)
class Scene:
    waiting: int  #: the escalation id of WAITING
    brunos: int  #: the escalation id of BRUNOS, which bruno holds


def build_scene(engine: Engine) -> Scene:
    now = utcnow()
    payload = HandoffPayload(
        reasons=("anger",), priority=1, summary="refund", language="en", intent="complaint"
    )
    with session_scope(engine) as s:
        add_agent(s, "alice", PASSWORD)
        bruno = add_agent(s, "bruno", PASSWORD)
        add_agent(s, "sam", PASSWORD, role=Role.SUPERVISOR)
        waiting, _ = open_escalation(
            s, conversation_for(s, "web", "waiting-customer"), payload, now, load_brand()
        )
        held, _ = open_escalation(
            s, conversation_for(s, "web", "brunos-customer"), payload, now, load_brand()
        )
        conversation_for(s, "web", "bot-only-customer")
        s.flush()
        claim(s, bruno, held.id, now)
        return Scene(waiting=waiting.id, brunos=held.id)
