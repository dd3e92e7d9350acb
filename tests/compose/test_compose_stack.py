"""The pipeline as compose.yaml runs it: real containers, mail read back through Mailpit's API."""

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from aiokafka import TopicPartition
from rq import Worker

from northbridge_shared.contracts import EMAIL_QUEUE, NORTH_TOPIC, NOTIFICATION_QUEUE
from tests.integration.support import commit_offsets, drained, end_offsets, group_state, wait_for

from .conftest import ComposeStack

# The first test also waits for the images to build and the stack to become healthy.
pytestmark = [pytest.mark.compose, pytest.mark.timeout(1200)]

DOMAIN = "northbridge.local"  # MAIL_MESSAGE_ID_DOMAIN's default
BURST = 300
QUEUES = (NOTIFICATION_QUEUE, EMAIL_QUEUE)
MAIL_TIMEOUT_S = 180.0


def post_burst(stack: ComposeStack, count: int, accepted: list[str]) -> list[int]:
    """POST ``count`` South events from 8 threads; collect the ids of the 202s in ``accepted``."""
    run = uuid.uuid4().hex[:8]

    def post(number: int) -> int:
        answer = stack.post("/v1/South", {"name": f"burst-{run}-{number}", "loc": "compose"})
        if answer.status_code == 202:
            accepted.append(answer.json()["id"])
        return answer.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(post, range(count)))


def assert_mailed_once(stack: ComposeStack, ids: list[str]) -> None:
    """Every id has exactly one mail in Mailpit, counted once nothing more can arrive.

    Waiting only for the first copy of each would miss a late second one (a retried job, a
    re-read record), so the count is taken when the bridge has committed every record and the
    queues and their started and scheduled registries are empty.
    """
    wanted = {f"{event_id}@{DOMAIN}" for event_id in ids}
    wait_for(
        lambda: wanted <= stack.message_ids().keys(),
        timeout=MAIL_TIMEOUT_S,
        what=f"{len(wanted)} mails in Mailpit",
    )
    wait_for(
        lambda: drained(stack.kafka, stack.redis, QUEUES),
        timeout=MAIL_TIMEOUT_S,
        what="every record committed and every job done",
    )
    counts = stack.message_ids()
    assert {
        message_id: counts[message_id] for message_id in wanted if counts[message_id] != 1
    } == {}


@pytest.mark.parametrize("path", ["/v1/North", "/v1/South"])
def test_seed_payload_becomes_one_mail(stack: ComposeStack, path: str) -> None:
    answer = stack.post(path, {"name": "ada", "loc": "london"})
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["id"]

    assert_mailed_once(stack, [event_id])


def test_receipt_metrics_and_dashboard_answer_in_compose(stack: ComposeStack) -> None:
    """A mailed event's receipt says sent; the bridge's and a worker's /metrics count it."""
    answer = stack.post("/v1/North", {"name": "ada", "loc": "observed"})
    event_id = answer.json()["id"]
    assert_mailed_once(stack, [event_id])
    receipt = wait_for(
        lambda: (r := stack.http.get(f"/v1/events/{event_id}").json()).get("state") == "sent" and r,
        timeout=MAIL_TIMEOUT_S,
        what="the receipt to say sent",
    )
    assert [hop["hop"] for hop in receipt["hops"]][-1] == "sent"
    for service, port in (("bridge", 9101), ("email-worker", 9102)):
        where = stack.compose("port", service, str(port)).strip()
        assert "northbridge_events_total" in httpx.get(f"http://{where}/metrics").text
    dashboard = f"http://127.0.0.1:{stack.env['PUBLISH_DASHBOARD_PORT']}"
    overview = httpx.get(f"{dashboard}/api/overview", timeout=30).json()
    assert overview["actions"] is False
    assert overview["ledger"][NORTH_TOPIC]["sent"] >= 1


def test_console_producer_event_becomes_a_mail(stack: ComposeStack) -> None:
    """Raw JSON through the kafka container's own kafka-console-producer.sh, as the README says."""
    name = f"console-{uuid.uuid4().hex[:8]}"
    stack.compose(
        "exec", "-T", "kafka", "/opt/kafka/bin/kafka-console-producer.sh",
        "--bootstrap-server", "localhost:9092", "--topic", NORTH_TOPIC,
        stdin=f'{{"name": "{name}", "loc": "the console"}}\n',
    )  # fmt: skip

    def mails_about_name() -> list[str] | None:
        subjects = [mail["Subject"] for mail in stack.mails() if name in mail["Subject"]]
        return subjects or None

    subjects = wait_for(mails_about_name, timeout=MAIL_TIMEOUT_S, what=f"a mail about {name}")
    assert subjects == [f"Notification: {name} in the console"]


def test_scaled_workers_share_a_burst(stack: ComposeStack) -> None:
    stack.compose("up", "--detach", "--wait", "--no-build", "--scale", "email-worker=3")

    def three_workers() -> set[str] | None:
        names = {worker.name for worker in Worker.all(connection=stack.redis)}
        return names if len(names) == 3 else None

    workers = wait_for(three_workers, timeout=60, what="3 rq workers registered")

    accepted: list[str] = []
    statuses = post_burst(stack, BURST, accepted)
    assert Counter(statuses) == {202: BURST}
    assert_mailed_once(stack, accepted)
    # The job id is the event id; rq records which worker ran each job.
    done_by = Counter(stack.worker_of(event_id) for event_id in accepted)
    assert set(done_by) == workers, f"jobs per worker: {dict(done_by)}"


def rewind_bridge_group(stack: ComposeStack, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` for the bridge's group once its killed member has been evicted.

    As if the dead bridge had enqueued everything since ``offsets`` but committed none of it:
    the next bridge reads all of that again. A killed member stays in the group until its
    session times out; the group accepts an outside commit only when it is empty.
    """
    wait_for(
        lambda: group_state(stack.kafka) == "Empty",
        timeout=60,
        what="the killed bridge to leave its consumer group",
    )
    commit_offsets(stack.kafka, offsets)


@pytest.mark.parametrize("how", ["restart", "sigkill"])
def test_bridge_stopped_mid_burst_loses_and_doubles_nothing(stack: ComposeStack, how: str) -> None:
    """Events are posted before, during and after the bridge is stopped and started again.

    restart: SIGTERM, the bridge finishes its batch and commits. sigkill: no chance to commit,
    and the group's offsets are rewound to before the burst, so every event enqueued so far is
    read again and must not become a second job or mail.
    """
    run = uuid.uuid4().hex[:8]
    before_burst = end_offsets(stack.kafka)
    accepted: list[str] = []
    statuses: list[int] = []
    back_at: list[int] = []  # how many had been posted when the bridge was back
    after = BURST // 4

    def keep_posting() -> None:
        while not back_at or len(statuses) < back_at[0] + after:
            answer = stack.post("/v1/North", {"name": f"stop-{run}-{len(statuses)}", "loc": "x"})
            statuses.append(answer.status_code)
            if answer.status_code == 202:
                accepted.append(answer.json()["id"])

    poster = threading.Thread(target=keep_posting)
    poster.start()
    try:
        wait_for(lambda: len(accepted) >= BURST // 4, timeout=60, what="a quarter of the burst")
        if how == "restart":
            stack.compose("restart", "--timeout", "30", "bridge")
        else:
            stack.compose("kill", "--signal", "SIGKILL", "bridge")
            rewind_bridge_group(stack, before_burst)
            stack.compose("start", "bridge")
    finally:
        back_at.append(len(statuses))
        poster.join(timeout=120)

    assert not poster.is_alive()
    assert set(statuses) == {202}
    assert len(statuses) >= back_at[0] + after  # the burst went on after the restart
    assert_mailed_once(stack, accepted)
