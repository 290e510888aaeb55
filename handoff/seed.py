"""Demo agents and canned replies (`relais seed` adds them; idempotent).

The demo agents are for demos only: `relais seed` creates them in demo mode (RELAIS_DEMO=1,
as `make run` sets), never otherwise; real agents come from `relais agent add`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.auth import generate_password, hash_password
from relais.core.config import settings
from relais.core.types import Role
from relais.storage.escalations import Agent, CannedResponse

DEMO_AGENTS = (
    ("alice", "Alice Martin", Role.AGENT, 3),
    ("bruno", "Bruno Lefèvre", Role.AGENT, 3),
    ("sam", "Sam Okafor", Role.SUPERVISOR, 2),
)
CANNED = (
    (
        "Looking into it",
        "en",
        "Thanks for your patience — I'm checking this with the team now and will come back to "
        "you here.",
    ),
    (
        "Need the reference",
        "en",
        "Could you send me your booking reference (6 characters, starting with XY)?",
    ),
    (
        "Bag claim",
        "en",
        "I've added your details to the baggage file; the courier will contact you before "
        "delivery.",
    ),
    (
        "Je regarde",
        "fr",
        "Merci de votre patience — je vérifie avec l'équipe et je reviens vers vous ici.",
    ),
    (
        "Référence",
        "fr",
        "Pouvez-vous m'envoyer votre référence de réservation (6 caractères, commençant par XY) ?",
    ),
    (
        "Dossier bagage",
        "fr",
        "J'ai complété votre dossier bagage ; le livreur vous contactera avant la livraison.",
    ),
)


def seed_agents(session: Session, password: str | None = None) -> list[str]:
    """Creates the demo agents and canned replies that are missing; returns the usernames
    created. Their password: `password`, else RELAIS_DEMO_PASSWORD, else a random one (which
    the caller cannot show: pass one to show it)."""
    password = password or settings().demo_password or generate_password()
    created = []
    for username, name, role, capacity in DEMO_AGENTS:
        if session.execute(select(Agent).where(Agent.username == username)).scalars().first():
            continue
        session.add(
            Agent(
                username=username,
                display_name=name,
                role=role,
                capacity=capacity,
                password_hash=hash_password(password),
            )
        )
        created.append(username)
    if not session.execute(select(CannedResponse)).first():
        session.add_all(
            CannedResponse(title=t, language=lang, text=text) for t, lang, text in CANNED
        )
    return created
