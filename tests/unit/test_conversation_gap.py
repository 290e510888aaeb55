"""The gap after which a conversation counts as a new contact is Rasa's session expiration."""

from __future__ import annotations

from datetime import timedelta

import yaml

from relais.core.policy import Thresholds
from relais.storage.queries import CONVERSATION_GAP
from tests.paths import ROOT


def test_the_contacts_gap_is_rasas_session_expiration() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    rasa = timedelta(minutes=domain["session_config"]["session_expiration_time"])
    configured = Thresholds.from_file(ROOT / "escalation.yml").conversation_gap_minutes
    assert CONVERSATION_GAP == rasa == timedelta(minutes=configured)
