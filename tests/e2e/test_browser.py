"""The web chat and the agent console in a real browser (Debian's Chromium, headless)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
#: Screenshots of the pages as the test saw them (reports/ is not committed).
SHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.e2e.servers import AGENT_PASSWORD  # noqa: E402


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("chromium and chromedriver are needed (make test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="relais-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    chrome = webdriver.Chrome(
        service=webdriver.ChromeService(executable_path=driver), options=options
    )
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(browser: webdriver.Chrome, seconds: float = 30) -> WebDriverWait:
    return WebDriverWait(browser, seconds, poll_frequency=0.2)


def bubbles(browser: webdriver.Chrome, author: str) -> list[str]:
    return [
        e.text
        for e in browser.find_elements(
            By.CSS_SELECTOR, f"#{'thread' if author != 'system' else 'transcript'} .bubble.{author}"
        )
    ]


def test_customer_and_agent_talk_through_the_pages(browser: webdriver.Chrome, app_url: str) -> None:
    # The agent is logged in and watching the queue before the customer writes.
    browser.get(f"{app_url}/console")
    wait(browser).until(ec.visibility_of_element_located((By.ID, "username"))).send_keys("bruno")
    browser.find_element(By.ID, "password").send_keys(AGENT_PASSWORD + "\n")
    wait(browser).until(ec.visibility_of_element_located((By.ID, "claim-next")))
    console = browser.current_window_handle

    browser.switch_to.new_window("tab")
    browser.get(f"{app_url}/chat?as=demo-sophie")
    chat = browser.current_window_handle
    wait(browser).until(
        lambda b: b.find_element(By.ID, "who").get_attribute("value") == "demo-sophie"
    )
    box = browser.find_element(By.ID, "text")
    box.send_keys("my bag CDGXY10234 is STILL missing after 5 days, this is a disgrace!!\n")
    wait(browser).until(lambda b: len(bubbles(b, "bot")) >= 2)
    told = bubbles(browser, "bot")
    assert "colleague" in told[0]
    assert browser.find_element(By.ID, "status").get_attribute("data-state") == "waiting"
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "1-chat-handed-over.png"))
    # Markup from a customer is shown as text, never run, on both sides.
    box.send_keys('<img src=x onerror="window.pwned=1"><b>hello?</b>\n')
    wait(browser).until(lambda b: "<b>hello?</b>" in bubbles(b, "customer")[-1])

    browser.switch_to.window(console)
    alert = wait(browser).until(ec.visibility_of_element_located((By.ID, "alert")))
    assert "New escalation" in alert.text and "P1" in alert.text
    row = wait(browser).until(
        lambda b: [r for r in b.find_elements(By.CSS_SELECTOR, "#queue .row") if "Sophie" in r.text]
    )[0]
    row.click()
    wait(browser).until(lambda b: "CDGXY10234" in b.find_element(By.ID, "records").text)
    wait(browser).until(
        lambda b: any(
            "<b>hello?</b>" in e.text
            for e in b.find_elements(By.CSS_SELECTOR, "#transcript .bubble.customer")
        )
    )
    assert browser.execute_script("return window.pwned === undefined")
    assert "priority 1" in browser.find_element(By.ID, "view-reasons").text.lower()
    browser.find_element(By.ID, "take").click()
    wait(browser).until(lambda b: b.find_element(By.ID, "send").is_enabled())
    suggestions = browser.find_elements(By.CSS_SELECTOR, "#suggestions button")
    assert any("CDGXY10234" in (s.get_attribute("title") or "") for s in suggestions)
    browser.save_screenshot(str(SHOTS / "2-console-conversation.png"))
    browser.find_element(By.ID, "reply").send_keys(
        "Sophie, I've asked Paris baggage services to call you today."
    )
    browser.find_element(By.ID, "send").click()
    wait(browser).until(
        lambda b: any(
            "baggage services" in e.text
            for e in b.find_elements(By.CSS_SELECTOR, "#transcript .bubble.agent")
        )
    )

    browser.switch_to.window(chat)
    wait(browser).until(lambda b: any("baggage services" in t for t in bubbles(b, "agent")))

    browser.switch_to.window(console)
    browser.find_element(By.ID, "hand-back").click()
    browser.switch_to.window(chat)
    wait(browser).until(lambda b: any("I'm back with you, Sophie" in t for t in bubbles(b, "bot")))
    assert browser.find_element(By.ID, "status").get_attribute("data-state") == "bot"
    # The bot answers the next routine question from Sophie's records.
    browser.find_element(By.ID, "text").send_keys("how many bags can I take on my next trip?\n")
    # Handed over, the wait, the agent's name, back with you, and now the answer.
    wait(browser).until(lambda b: len(bubbles(b, "bot")) >= 5)
    browser.save_screenshot(str(SHOTS / "3-chat-handed-back.png"))
    assert browser.execute_script("return window.pwned === undefined")
    agent_lines = bubbles(browser, "agent")
    assert len(agent_lines) == 1  # the bot never talked over the agent, the agent spoke once


def test_metrics_page_is_for_supervisors(browser: webdriver.Chrome, app_url: str) -> None:
    browser.get(f"{app_url}/console")
    wait(browser).until(ec.visibility_of_element_located((By.ID, "username"))).send_keys("sam")
    browser.find_element(By.ID, "password").send_keys(AGENT_PASSWORD + "\n")
    link = wait(browser).until(ec.visibility_of_element_located((By.ID, "metrics-link")))
    link.click()
    wait(browser).until(lambda b: "Escalations" in b.find_element(By.ID, "figures").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#by-reason rect")
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "4-metrics.png"))
