"""The designers' review loop end to end: a conversation the bot got wrong is handed over,
labelled, exported with `relais review export` (trackers from the real Rasa server), accepted
by `rasa data validate` and `rasa test core`, and a fresh `rasa train nlu` classifies the
message right."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import requests
import yaml
from sqlalchemy.engine import Engine

from relais.core.config import settings
from relais.core.types import Author, State, utcnow
from relais.storage.conversations import Conversation, Message
from relais.storage.db import create_all, make_engine, session_scope
from relais.storage.review import ReviewLabel, ReviewStory
from tests.e2e.servers import MODEL, ROOT, Servers, relais_app
from tests.e2e.webchat import conversation_id, visitor

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
DAY = date(2026, 12, 4)
#: A request to check in bags that the trained model reads as lost baggage.
MISREAD = "where do i drop my bags at orly"
RIGHT_INTENT = "check_in"
#: Then a person is asked for, and the customer signs.
ASK_PERSON = "can I talk to a person please? thanks"
#: The components that do not decide the intent (anger, knowledge passages): left out of the
#: fresh training, which gives the same intents in a third of the time.
NOT_INTENT = ("relais.nlu.anger.AngerDetector", "relais.nlu.knowledge.KnowledgeRetriever")


def environment(**extra: str) -> dict[str, str]:
    # The secrets `make train` used: a model is signed with, and loaded by, RELAIS_MODEL_KEY.
    return {
        **os.environ,
        **settings().shared_environment(),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **extra,
    }


def run(command: list[str], cwd: Path, timeout: float, **env: str) -> str:
    result = subprocess.run(
        command,
        cwd=cwd,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


@dataclass(frozen=True)
class Exported:
    project: Path  #: a copy of the Rasa project with the exported files in it
    output: str  #: what `relais review export` printed
    personal: str  #: the surname the customer gave


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, servers: Servers) -> Iterator[Exported]:
    """A visitor asks where to drop their bags (misread), signs, and asks for a person; a
    designer labels the message check_in and makes the conversation a story; the export
    writes into a copy of the project."""
    work = tmp_path_factory.mktemp("review-loop")
    database = f"sqlite:///{work / 'relais.db'}"
    engine = make_engine(database)
    create_all(engine)
    surname = "Vandersteen"
    with relais_app(work, database, servers.rasa_url) as app:
        customer = visitor(app)
        conversation = conversation_id(customer)
        for text in (MISREAD, f"{ASK_PERSON}, Marc {surname}"):
            sent = customer.post(
                f"{app}/api/chat/messages", json={"text": text, "client_id": uuid.uuid4().hex}
            )
            assert sent.status_code in (200, 201), sent.text
            deadline = time.monotonic() + 60
            while not _answered(engine, conversation):
                assert time.monotonic() < deadline, "the bot did not answer"
                time.sleep(0.3)
        with session_scope(engine) as session:
            assert session.get(Conversation, conversation).state != State.BOT  # handed over
            message = (
                session.query(Message)
                .filter_by(conversation_id=conversation, author=Author.CUSTOMER, text=MISREAD)
                .one()
            )
            session.add(
                ReviewLabel(
                    message_id=message.id,
                    conversation_id=conversation,
                    intent=RIGHT_INTENT,
                    entities=[],
                    excluded=False,
                    language="en",
                )
            )
            session.add(
                ReviewStory(
                    conversation_id=conversation, name="bag drop at Orly", created_at=utcnow()
                )
            )
    engine.dispose()

    project = work / "project"
    project.mkdir()
    for name in ("config.yml", "domain.yml"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "data", project / "data")
    output = run(
        [str(BIN / "relais"), "review", "export", "--day", DAY.isoformat(), "--root", str(project)],
        cwd=ROOT,
        timeout=120,
        DATABASE_URL=database,
        RASA_URL=servers.rasa_url,
    )
    yield Exported(project=project, output=output, personal=surname)


def _answered(engine: Engine, conversation: str) -> bool:
    """Every message of the visitor handled by the router."""
    with session_scope(engine) as session:
        messages = session.query(Message).filter_by(conversation_id=conversation).all()
        customer = [m for m in messages if m.author == Author.CUSTOMER]
        return bool(customer) and all(m.processed_at is not None for m in customer)


def test_the_export_is_accepted_by_rasa_and_its_story_passes(
    exported: Exported, tmp_path: Path
) -> None:
    project = exported.project
    nlu = project / "data" / "nlu" / "review" / f"{DAY.isoformat()}.yml"
    stories = project / "tests" / "stories" / "review" / f"{DAY.isoformat()}.yml"
    assert f"written: {nlu.relative_to(project)} (+1)" in exported.output
    assert f"written: {stories.relative_to(project)} (+1)" in exported.output
    assert "flagged" not in exported.output

    (block,) = yaml.safe_load(nlu.read_text(encoding="utf-8"))["nlu"]
    assert block == {
        "intent": RIGHT_INTENT,
        "metadata": {"lang": "en"},
        "examples": f"- {MISREAD}\n",
    }
    (story,) = yaml.safe_load(stories.read_text(encoding="utf-8"))["stories"]
    steps = story["steps"]
    assert steps[:2] == [
        {"user": f"{MISREAD}\n", "intent": RIGHT_INTENT},
        {"action": "action_check_in"},  # what check_in gets, not the lost-baggage answer
    ]
    assert steps[2]["user"].startswith(f"{ASK_PERSON}, ") and steps[2]["intent"] == "human_request"
    assert steps[-1] == {"action": "action_escalate"}
    for personal in ("Marc", exported.personal):
        assert personal not in stories.read_text(encoding="utf-8")

    run(
        [
            str(BIN / "rasa"), "data", "validate", "--fail-on-warnings",
            "--data", "data", "--domain", "domain.yml", "--config", "config.yml",
        ],
        cwd=project,
        timeout=600,
    )  # fmt: skip
    out = tmp_path / "core"
    result = subprocess.run(
        [
            str(BIN / "rasa"), "test", "core", "--stories", str(stories.parent),
            "--model", str(MODEL), "--fail-on-prediction-errors", "--out", str(out),
        ],
        cwd=project,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    failed = out / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, (details + result.stdout + result.stderr)[-6000:]


def test_a_fresh_training_on_the_export_classifies_the_message_right(
    exported: Exported, servers: Servers, tmp_path: Path
) -> None:
    # Today's model gets it wrong: that is why the designer labelled it.
    parse = requests.post(
        f"{servers.rasa_url}/model/parse",
        params={"token": servers.rasa_token},
        json={"text": MISREAD},
        timeout=30,
    )
    parse.raise_for_status()
    assert parse.json()["intent"]["name"] != RIGHT_INTENT

    config = yaml.safe_load((exported.project / "config.yml").read_text(encoding="utf-8"))
    config["pipeline"] = [c for c in config["pipeline"] if c["name"] not in NOT_INTENT]
    config.pop("policies")
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run(
        [
            str(BIN / "rasa"), "train", "nlu", "--config", str(tmp_path / "config.yml"),
            "--nlu", str(exported.project / "data"), "--out", str(tmp_path),
            "--fixed-model-name", "reviewed",
        ],
        cwd=exported.project,
        timeout=1200,
    )  # fmt: skip
    triage = subprocess.run(
        [str(BIN / "relais"), "triage", "--model", str(tmp_path / "reviewed.tar.gz")],
        input=json.dumps({"text": MISREAD}) + "\n",
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert triage.returncode == 0, triage.stderr[-3000:]
    decision = json.loads(triage.stdout.splitlines()[0])
    assert decision["intent"] == RIGHT_INTENT, decision
