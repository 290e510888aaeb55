"""The designers' review inbox in a real browser (Debian's Chromium, headless), on the whole
stack: a customer's conversation handed over, resolved by an agent who says the bot should
have handled it, then reviewed by a designer: the bot's parse read from Rasa's own tracker, an
intent set on the customer's message, the conversation marked done."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from sqlalchemy import select

from handoff.auth import hash_password
from relais.core.types import Role
from relais.storage.db import make_engine, session_scope
from relais.storage.escalations import Agent, Escalation
from relais.storage.review import ReviewDone, ReviewLabel
from tests.e2e.servers import AGENT_PASSWORD, eventually

# The browser fixture and Selenium's names, as the other browser test has them (it skips
# when Selenium is missing).
from tests.e2e.test_browser import SHOTS, By, browser, ec, webdriver  # noqa: F401
from tests.e2e.test_handoff_loop import console
from tests.e2e.webchat import conversation_id, visitor

pytestmark = pytest.mark.slow


def settled(driver: webdriver.Chrome, seconds: float = 30) -> WebDriverWait:
    """A wait that looks again when the page re-rendered what it was reading (a saved label
    redraws the messages): a stale element is not yet the answer."""
    return WebDriverWait(
        driver, seconds, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    )


#: Accounts of this test's own: the session's demo agents may hold conversations of other tests.
DESIGNER, AGENT = "dora", "rene"
REQUEST = "I want to talk to a human please"


def _accounts(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as s:
            for username, role in ((DESIGNER, Role.DESIGNER), (AGENT, Role.AGENT)):
                if s.execute(select(Agent).where(Agent.username == username)).first():
                    continue
                s.add(
                    Agent(
                        username=username,
                        display_name=username.title(),
                        role=role,
                        password_hash=hash_password(AGENT_PASSWORD),
                    )
                )
    finally:
        engine.dispose()


def test_a_designer_labels_a_handed_over_conversation_and_marks_it_done(
    browser: webdriver.Chrome,  # noqa: F811 (the fixture imported above)
    app_url: str,
    seeded_sqlite_url: str,
) -> None:
    _accounts(seeded_sqlite_url)
    # A customer asks for a person; the agent resolves it, saying the bot should have coped.
    customer = visitor(app_url)
    said = customer.post(
        f"{app_url}/api/chat/messages", json={"text": REQUEST, "client_id": "review-1"}, timeout=60
    )
    assert said.status_code == 201, said.text
    conversation = conversation_id(customer)
    agent = console(app_url, AGENT)
    queued: list[dict[str, Any]] = []

    def handed_over() -> bool:
        waiting = agent.get(f"{app_url}/api/console/queue", timeout=30).json()["waiting"]
        queued[:] = [e for e in waiting if e["conversation_id"] == conversation]
        return bool(queued)

    eventually(handed_over)
    escalation = queued[0]
    act = f"{app_url}/api/console/escalations/{escalation['id']}"
    assert agent.post(f"{act}/claim", timeout=30).status_code == 200
    resolved = agent.post(
        f"{act}/resolve",
        json={"customer_wanted": "to travel with her dog", "bot_should_handle": True},
        timeout=60,
    )
    assert resolved.status_code == 200, resolved.text

    browser.get(f"{app_url}/console")
    settled(browser).until(ec.visibility_of_element_located((By.ID, "username"))).send_keys(
        DESIGNER
    )
    browser.find_element(By.ID, "password").send_keys(AGENT_PASSWORD + "\n")
    # A designer's console is the review inbox.
    settled(browser).until(lambda b: b.current_url.endswith("/console/review"))
    in_inbox = f'#inbox .row[data-conversation="{conversation}"]'
    row = settled(browser).until(lambda b: b.find_elements(By.CSS_SELECTOR, in_inbox))[0]
    assert "to travel with her dog" in row.text and "flagged by an agent" in row.text
    row.click()
    message = settled(browser).until(
        lambda b: [
            m
            for m in b.find_elements(By.CSS_SELECTOR, "#messages .labelling")
            if REQUEST in m.find_element(By.CSS_SELECTOR, ".bubble.customer").text
        ]
    )[0]
    # The bot's parse, from Rasa's tracker: the intent it chose, with its confidence.
    assert "Bot: " in message.text and " %)" in message.text
    assert "The customer wanted: to travel with her dog" in browser.find_element(By.ID, "why").text
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "5-review-conversation.png"))

    message.find_element(By.CSS_SELECTOR, "input.intent").send_keys("pet_travel")
    message.find_element(By.CSS_SELECTOR, "button.set-intent").click()
    settled(browser).until(
        lambda b: any(
            "Label: intent pet_travel" in m.text
            for m in b.find_elements(By.CSS_SELECTOR, "#messages .labelling")
        )
    )
    # An entity: words selected in the message (with the space after them), then named.
    browser.execute_script(
        """
        const bubble = [...document.querySelectorAll("#messages .bubble.customer")]
          .find((b) => b.textContent === arguments[0]);
        const text = bubble.firstChild, start = text.textContent.indexOf("human");
        const range = document.createRange();
        range.setStart(text, start); range.setEnd(text, start + 6);
        document.getSelection().removeAllRanges(); document.getSelection().addRange(range);
        """,
        REQUEST,
    )
    message = next(
        m
        for m in browser.find_elements(By.CSS_SELECTOR, "#messages .labelling")
        if REQUEST in m.text
    )
    message.find_element(By.CSS_SELECTOR, "input[list=entities]").send_keys("person")
    message.find_element(By.CSS_SELECTOR, "button.mark-entity").click()
    settled(browser).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, '#messages mark[title="person"]')
    )
    assert browser.find_element(By.CSS_SELECTOR, '#messages mark[title="person"]').text == "human"
    browser.find_element(By.ID, "done").click()
    settled(browser).until(lambda b: not b.find_elements(By.CSS_SELECTOR, in_inbox))
    assert "Done" in browser.find_element(By.ID, "empty").text

    engine = make_engine(seeded_sqlite_url)
    try:
        with session_scope(engine) as s:
            label = s.execute(
                select(ReviewLabel).where(ReviewLabel.conversation_id == conversation)
            ).scalar_one()
            assert label.intent == "pet_travel" and label.language == "en"
            start = REQUEST.index("human")
            assert label.entities == [
                {"start": start, "end": start + 5, "entity": "person", "value": "human"}
            ]
            assert s.get(ReviewDone, conversation) is not None
            closed = s.get(Escalation, escalation["id"])
            assert closed.bot_should_handle and closed.customer_wanted == "to travel with her dog"
    finally:
        engine.dispose()
