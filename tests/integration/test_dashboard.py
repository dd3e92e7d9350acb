"""The dashboard in a real headless Chromium: events appear, a failed job retried, a replay."""

import shutil
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from northbridge_shared.contracts import DELIVER_JOB, EMAIL_QUEUE, SOUTH_TOPIC
from northbridge_shared.identity import derived_event_id
from northbridge_stack.ports import free_port
from northbridge_stack.processes import ManagedProcess

from .conftest import Pipeline, status
from .support import produce, wait_for_mail
from .test_receipts import receipt_in

WAIT_MS = 30_000  # a row appears on the page's next refresh (every 2 s), under load later


def start_dashboard(pipeline: Pipeline, name: str, *, actions: bool) -> tuple[ManagedProcess, str]:
    """``northbridge dashboard`` on a free port, answering; and its URL."""
    port = free_port()
    env = pipeline.env | {
        "DASHBOARD_HOST": "127.0.0.1",
        "DASHBOARD_PORT": str(port),
        "DASHBOARD_ACTIONS": "true" if actions else "false",
    }
    process = ManagedProcess(name, log_file=pipeline.home / f"{name}.log")
    process.spawn([sys.executable, "-m", "northbridge_ops", "dashboard"], env=env)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=5) as http:
        process.wait_until(lambda: status(http, "/") == 200, timeout=60, what="the dashboard")
    return process, url


@pytest.fixture(scope="module")
def dashboard(pipeline: Pipeline) -> Iterator[str]:
    process, url = start_dashboard(pipeline, "dashboard", actions=True)
    yield url
    process.stop()


@pytest.fixture
def page(dashboard: str, tmp_path: Path) -> Iterator[Page]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed: make test installs it (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(dashboard)
        page.wait_for_selector("body[data-refreshed]", timeout=WAIT_MS)
        yield page
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        browser.close()


def test_a_posted_event_appears_with_its_receipt(pipeline: Pipeline, page: Page) -> None:
    """The event shows in the recent list; a click opens its receipt, ending in sent."""
    event_id = pipeline.post("/v1/North", '{"name": "ada", "loc": "dashboard"}').json()["id"]
    wait_for_mail(pipeline.mail, event_id)
    receipt_in(pipeline, event_id, "sent")
    link = page.wait_for_selector(f'a.event[data-id="{event_id}"]', timeout=WAIT_MS)
    assert link is not None
    link.click()
    opened = page.wait_for_selector("tr.receipt", timeout=WAIT_MS)
    assert opened is not None
    assert "message_id" in opened.inner_text()
    assert page.locator("#ledger").inner_text().count("north-updates") == 1


def test_a_failed_job_is_retried_from_the_page(pipeline: Pipeline, page: Page) -> None:
    """A job in the failed registry, one click on Retry, and it is mailed."""
    event_id = f"evt-{uuid.uuid4()}"
    payload = {
        "event_id": event_id,
        "topic": SOUTH_TOPIC,
        "mail": "direct",
        "event": {"name": "ada", "loc": "retried-from-the-page"},
    }
    queue = Queue(EMAIL_QUEUE, connection=pipeline.redis, serializer=JSONSerializer)
    job = Job.create(
        DELIVER_JOB,
        args=[payload],
        id=event_id,
        connection=pipeline.redis,
        serializer=JSONSerializer,
        origin=EMAIL_QUEUE,
    )
    job.save()
    FailedJobRegistry(queue=queue).add(job, exc_string="SMTPServerDisconnected: gone")
    button = page.wait_for_selector(
        f'button[data-retry="{EMAIL_QUEUE}/{event_id}"]', timeout=WAIT_MS
    )
    assert button is not None
    button.click()
    wait_for_mail(pipeline.mail, event_id)
    hops = [h["hop"] for h in receipt_in(pipeline, event_id, "sent")["hops"]]
    assert hops[0] == "requeued"


def test_a_dead_letter_is_replayed_from_the_page(pipeline: Pipeline, page: Page) -> None:
    """A record refused for its header: Replay sends it under its position id, and it is mailed."""
    body = f'{{"name": "replayed-{uuid.uuid4().hex[:8]}", "loc": "page"}}'.encode()
    bad_id = [("event-id", b"not valid")]
    # In a thread: Playwright's sync API keeps an event loop running on this one.
    with ThreadPoolExecutor(1) as thread:
        kafka = pipeline.kafka.bootstrap_servers
        partition, offset = thread.submit(
            produce, kafka, SOUTH_TOPIC, body, headers=bad_id
        ).result()
    event_id = derived_event_id(SOUTH_TOPIC, partition, offset)
    receipt_in(pipeline, event_id, "dead_lettered")
    row = page.locator("#dead-letters tr", has_text=event_id)
    row.locator("button[data-replay]").click(timeout=WAIT_MS)
    wait_for_mail(pipeline.mail, event_id)
    hops = [h["hop"] for h in receipt_in(pipeline, event_id, "sent")["hops"]]
    assert "replayed" in hops


def test_actions_are_refused_unless_enabled(pipeline: Pipeline) -> None:
    """A read-only dashboard shows, and answers every action 403 with a problem."""
    process, url = start_dashboard(pipeline, "dashboard-read-only", actions=False)
    try:
        refused = httpx.post(f"{url}/api/failed/retry-all", timeout=10)
        shown = httpx.get(f"{url}/api/overview", timeout=10)
    finally:
        process.stop()
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert shown.json()["actions"] is False
