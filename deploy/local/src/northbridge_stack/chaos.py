"""``northbridge-stack chaos`` (``make chaos``): kill every part under load; it must heal itself.

A stack of its own (a temporary folder, free loopback ports, under supervisord as ``make
up`` runs it) gets a steady load of events with unique tokens while, on a schedule, the
bridge, an email worker, a gateway worker, Redis and Kafka are SIGKILLed in turn, and
nothing but the stack itself brings them back. Then it waits until every 202 is mailed and
nothing more can arrive, and prints the ledger (see ``ledger.py``); it exits 1 on a lost
202, a doubled mail, a killed job not run again within 2 minutes, or a part left down.
"""

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from redis import Redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from northbridge_ops.load import post_events
from northbridge_shared.contracts import BRIDGE_GROUP, EMAIL_QUEUE, NORTH_TOPIC, NOTIFICATION_QUEUE
from northbridge_stack import services, stack
from northbridge_stack.layout import PORT_VARIABLES, StackLayout
from northbridge_stack.ledger import LOC, Kill, Ledger, subject_token
from northbridge_stack.mailbox import Mailbox
from northbridge_stack.ports import LOOPBACK, free_port
from northbridge_stack.processes import Server
from northbridge_stack.supervisor import Supervisor

# Round and round: each part in turn, a worker twice per round (there are two).
VICTIMS: Final = ("bridge", "email-worker-1", "gateway-worker", "redis", "email-worker-2", "kafka")
POLL_S: Final = 1.0
# A worker is killed as soon as it holds a job, or after this if it holds none.
AIM_S: Final = 3.0
AIM_POLL_S: Final = 0.01
READY_WAIT_S: Final = 60.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """How long, how hard, how often."""

    seconds: float = 120.0  # of load; the kills fall within it
    rate: float = 40.0  # events a second
    kill_every: float = 10.0
    drain: float = 150.0  # at most, after the load, for every 202 to be mailed
    workers: int = 2


def run(plan: Plan, say: Say = print) -> Ledger:
    """Bring a stack of its own up, run the plan against it, take it down; the ledger."""
    home = Path(tempfile.mkdtemp(prefix="nb-chaos-"))
    ports = {name: str(free_port()) for name in PORT_VARIABLES}
    # Mailpit keeps every mail: the ledger counts them all.
    layout = StackLayout.from_env({"STACK_HOME": str(home), "MAILPIT_MAX_MESSAGES": "0", **ports})
    say(f"chaos: a stack of its own in {home}, gateway on port {layout.gateway_port}")
    began = time.monotonic()
    stack.up(layout, workers=plan.workers, infra_only=False, say=say)
    try:
        ledger = asyncio.run(_against(layout, plan, say))
    finally:
        stack.down(layout, say=say)
    ledger.notes.append(f"run took            {time.monotonic() - began:.0f} s in all")
    if ledger.ok:
        shutil.rmtree(home, ignore_errors=True)
    else:
        ledger.notes.append(f"logs kept in         {home / 'logs'}")
    return ledger


async def _against(layout: StackLayout, plan: Plan, say: Say) -> Ledger:
    supervisor = layout.supervisor()
    redis = Redis.from_url(f"redis://{LOOPBACK}:{layout.redis_port}/0", socket_timeout=5)
    url = f"http://{LOOPBACK}:{layout.gateway_port}/v1/North"
    load = f"{plan.rate:g} events/s for {plan.seconds:g} s"
    say(f"chaos: {load}, a SIGKILL every {plan.kill_every:g} s")
    kills: list[Kill] = []
    killing = asyncio.create_task(_kill_on_schedule(supervisor, redis, plan, kills, say))
    outcomes = await post_events(url, plan.rate, int(plan.rate * plan.seconds), loc=LOC)
    await killing
    say("chaos: load done; waiting until every 202 is mailed and nothing more can arrive")
    mailbox = Arrivals(Mailbox(layout.mailpit().url))
    accepted = {o.token for o in outcomes if o.status == 202}
    with contextlib.suppress(TimeoutError):  # the ledger then says what is missing
        async with asyncio.timeout(plan.drain):
            await _drain(layout, redis, mailbox, accepted, {k.job_id for k in kills if k.job_id})
    mailbox.refresh()
    left_down = await asyncio.to_thread(_left_down, layout, supervisor)
    reruns = {k.job_id: at for k in kills if k.job_id and (at := _finished_at(redis, k.job_id))}
    redis.close()
    restarts = {name: state.restarts for name, state in supervisor.states().items()}
    return Ledger(
        outcomes=outcomes,
        mails=mailbox.tokens,
        first_mail_at=mailbox.first_at,
        kills=kills,
        rerun_at=reruns,
        restarts=restarts,
        left_down=left_down,
    )


async def _kill_on_schedule(
    supervisor: Supervisor, redis: Redis, plan: Plan, kills: list[Kill], say: Say
) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    for number in range(1, int(plan.seconds // plan.kill_every)):
        await asyncio.sleep(max(0.0, start + number * plan.kill_every - loop.time()))
        victim = VICTIMS[(number - 1) % len(VICTIMS)]
        kill = await asyncio.to_thread(_kill, supervisor, redis, victim)
        if kill is None:
            say(f"chaos: {victim} not running at its turn; skipped")
            continue
        kills.append(kill)
        held = f", holding job {kill.job_id}" if kill.job_id else ""
        say(f"chaos: SIGKILL {victim} (pid {kill.pid}{held})")


def _kill(supervisor: Supervisor, redis: Redis, victim: str) -> Kill | None:
    """SIGKILL ``victim`` as a crash would: a worker or the bridge with all its processes."""
    states = supervisor.states()
    program = "gateway" if victim == "gateway-worker" else victim
    pid = states[program].pid if program in states else 0
    if not pid:
        return None
    if victim == "gateway-worker":  # one of gunicorn's workers; the master forks anew
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if not children:
            return None
        os.kill(int(children[0]), signal.SIGKILL)
        return Kill(time.time(), victim, int(children[0]))
    job_id = _aim(redis, pid) if victim.startswith(services.WORKER) else ""
    os.killpg(pid, signal.SIGKILL)  # like a container dying: rq's scheduler child too
    return Kill(time.time(), victim, pid, job_id)


def _finished_at(redis: Redis, job_id: str) -> float | None:
    """When the job last ended (its latest result), in epoch seconds; None if never."""
    try:
        result = Job.fetch(job_id, connection=redis, serializer=JSONSerializer).latest_result()
    except NoSuchJobError:
        return None
    return None if result is None else result.created_at.timestamp()


def _aim(redis: Redis, pid: int) -> str:
    """Wait (briefly) for the worker to hold a job, so the kill takes one down with it."""
    deadline = time.monotonic() + AIM_S
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # Redis may be the one down: no job is known
            for worker in Worker.all(connection=redis):
                if worker.pid == pid and (job_id := worker.get_current_job_id()):
                    return job_id
        time.sleep(AIM_POLL_S)
    return ""


async def _drain(
    layout: StackLayout, redis: Redis, mailbox: "Arrivals", tokens: set[str], jobs: set[str]
) -> None:
    """Until every token and every killed job's event is mailed and the pipeline is idle."""
    while True:
        mailbox.refresh()
        mailed = tokens <= set(mailbox.tokens) and jobs <= set(mailbox.ids)
        if mailed and await _idle(layout, redis):
            mailbox.refresh()  # what arrived while the pipeline was checked
            return
        await asyncio.sleep(POLL_S)  # the pipeline is asynchronous: look again


async def _idle(layout: StackLayout, redis: Redis) -> bool:
    """Nothing more can arrive: all records committed, no job queued, running or waiting."""
    try:
        for name in (NOTIFICATION_QUEUE, EMAIL_QUEUE):
            queue = Queue(name, connection=redis)
            registries = (StartedJobRegistry(queue=queue), ScheduledJobRegistry(queue=queue))  # type: ignore[no-untyped-call]
            if len(queue) or any(r.count for r in registries):
                return False
    except Exception:  # noqa: BLE001 - Redis coming back: not idle yet
        return False
    return await _committed_to_the_end(f"{LOOPBACK}:{layout.kafka_port}")


async def _committed_to_the_end(bootstrap: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=BRIDGE_GROUP)
    try:
        await consumer.start()
        partitions = [
            TopicPartition(NORTH_TOPIC, p) for p in consumer.partitions_for_topic(NORTH_TOPIC) or ()
        ]
        ends = await consumer.end_offsets(partitions)
        return all([(await consumer.committed(tp) or 0) >= ends[tp] for tp in partitions])
    except Exception:  # noqa: BLE001 - Kafka coming back: not idle yet
        return False
    finally:
        await consumer.stop()


def _left_down(layout: StackLayout, supervisor: Supervisor) -> list[str]:
    """The parts not running and serving once they had a minute to come back."""
    kafka: dict[str, Server] = {b.process.name: b for b in layout.kafka_brokers()}
    servers = kafka | {"redis": layout.redis(), "mailpit": layout.mailpit()}
    deadline = time.monotonic() + READY_WAIT_S
    down: list[str] = []
    while time.monotonic() < deadline:
        states = supervisor.states()
        down = [
            name
            for name, state in states.items()
            if state.state != "RUNNING"
            or not (
                servers[name].serving()
                if name in servers
                else services.serving(services.by_name(name), layout)
            )
        ]
        if not down:
            return []
        time.sleep(POLL_S)
    return down


class Arrivals:
    """Mailpit's mail, read as it fills: mails per token, first arrivals, event ids."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox
        self._seen: set[str] = set()
        self.tokens: Counter[str] = Counter()
        self.first_at: dict[str, float] = {}
        self.ids: dict[str, float] = {}  # event id (the Message-ID's left half) -> arrival

    def refresh(self) -> None:
        """Read the mails that arrived since the last call."""
        for mail in self._mailbox.all():
            if mail.id in self._seen:
                continue
            self._seen.add(mail.id)
            self.ids.setdefault(mail.event_id, mail.received)
            token = subject_token(mail.subject)
            if token is not None:
                self.tokens[token] += 1
                self.first_at.setdefault(token, mail.received)
