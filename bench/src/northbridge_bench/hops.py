"""Each hop alone, then the whole pipeline, on a running local stack.

Every hop is measured with the others stopped, so it has both cores to itself (with Kafka,
Redis and the SMTP sink, which it needs), and its output is the next hop's input:

* **gateway**: wrk posts events for a fixed time; what the gateway wrote to Kafka is
  then the backlog of
* **bridge**: Redis flushed, the bridge's group rewound to the start of both topics; the
  bridge turns the whole backlog into jobs, timed from its first job to its last; then
  again with 2, 3 ... bridges of the group (``Plan.bridges``), timed from the first job
  once every one of them has joined; those jobs are the queue of
* **workers**: the email workers mail for a fixed time; counted by the ledger's ``sent``;
* **end to end**: everything runs, vegeta offers a steady rate, and each event's time from
  202 to mail comes from its receipt (``accepted`` is Kafka's timestamp of the record,
  ``sent`` the moment the SMTP server's reply was read).
"""

import asyncio
import json
import os
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil
from aiokafka import TopicPartition

from northbridge_bench import load_tools, profiles
from northbridge_bench.probes import TOPICS, Probe, Sample
from northbridge_bench.processes import Usage, machine_busy_s, snapshot, spent
from northbridge_shared.contracts import BRIDGE_GROUP
from northbridge_shared.receipts import PREFIX
from northbridge_stack import services
from northbridge_stack.errors import StackError
from northbridge_stack.layout import StackLayout
from northbridge_stack.ports import LOOPBACK

Say = Callable[[str], None]
Profiling = asyncio.Task[dict[str, Path]]
READY_S = 60.0
PROFILE_S = 10.0  # of the bridge, whose round has no fixed length
FIRST_WORK_S = 60.0  # from a start to its first job or mail: a cold start plus a group join


@dataclass(frozen=True)
class Plan:
    """How long and how hard; the defaults finish within about 10 minutes."""

    rounds: int = 3
    gateway_s: float = 10.0
    connections: int = 64
    # Senders wrk's events name in turn, so their keys spread over the partitions (1: one
    # partition, as the bench was before the bridges' scaling was measured).
    keys: int = 10_000
    bridge_timeout_s: float = 120.0
    workers_s: float = 15.0
    e2e_rate: int = 500
    e2e_s: float = 30.0
    drain_s: float = 120.0
    workers: int = 2
    # Bridges of one group to measure, each count in every round: how far they scale.
    bridges: tuple[int, ...] = (1, 2, 3)
    # Kafka's nodes (make up KAFKA_NODES): 3 costs each write its replication to two more.
    kafka_nodes: int = 1
    profile: Path | None = None  # a folder: py-spy profiles of each hop's first round


@dataclass
class Round:
    """One timed run of one hop."""

    hop: str
    rate: float  # of its output, per second
    count: int  # of its output, in the timed window
    seconds: float
    cpu_s: dict[str, float]  # per part of the stack, in the timed window
    rss: dict[str, int]  # per part, at the end
    samples: list[Sample]
    percentiles: list[tuple[float, float]] = field(default_factory=list)  # latency, ms
    load_cpu_s: float = 0.0  # the load tool's own
    notes: list[str] = field(default_factory=list)
    profile: dict[str, list[str]] = field(default_factory=dict)  # process: top functions
    redis_calls: dict[str, int] = field(default_factory=dict)  # commands run in the window
    processes: int = 1  # of the measured part (bridges of one group)
    shares: dict[str, int] = field(default_factory=dict)  # each process's output in the window
    machine_cpu_s: float = 0.0  # every core's busy time in the window, whoever's
    load_average: float = 0.0  # the machine's, over the last minute, at the window's end


@dataclass
class EndToEnd:
    """The whole pipeline at a steady offered rate."""

    offered_rate: int
    seconds: float
    load: load_tools.SteadyLoad
    accepted: int
    mailed: int
    left_queued: int
    drained_s: float  # from the end of the load until every 202 was mailed
    latencies_ms: list[float]  # 202 to mail, each event's, sorted
    cpu_s: dict[str, float]
    rss: dict[str, int]
    samples: list[Sample]


class Bench:
    """The running stack the hops are measured on."""

    def __init__(self, layout: StackLayout, probe: Probe, plan: Plan, say: Say) -> None:
        self.layout = layout
        self.probe = probe
        self.plan = plan
        self.say = say
        self.supervisor = layout.supervisor()
        self.redis = probe.redis
        self.worker_names = [f"{services.WORKER}-{n}" for n in range(1, plan.workers + 1)]
        self.bridge_names = [services.bridge(n).name for n in range(1, max(plan.bridges) + 1)]
        self.url = f"http://{LOOPBACK}:{layout.gateway_port}/v1/North"
        self._profiled: set[str] = set()

    def usage(self) -> dict[str, Usage]:
        """CPU and memory of every running part."""
        return snapshot({name: state.pid for name, state in self.supervisor.states().items()})

    async def start(self, names: Sequence[str]) -> None:
        """Start ``names`` and wait until each one's own health check passes."""
        await asyncio.to_thread(self.supervisor.start_programs, names)
        deadline = time.monotonic() + READY_S
        for name in names:
            service = services.by_name(name)
            while True:
                running = self.supervisor.states()[name].pid
                if running and await asyncio.to_thread(services.serving, service, self.layout):
                    break
                if time.monotonic() > deadline:
                    raise StackError(f"{name} did not become ready within {READY_S:g} s")
                await asyncio.sleep(0.2)

    def profiling(self, hop: str, names: Sequence[str], seconds: float) -> "Profiling | None":
        """py-spy on the Python processes of ``names`` for ``seconds``, once per hop."""
        if self.plan.profile is None or hop in self._profiled:
            return None
        self._profiled.add(hop)
        processes: dict[str, int] = {}
        for name in names:
            pid = self.supervisor.states()[name].pid
            # gunicorn's master only forks: its workers serve.
            children = psutil.Process(pid).children() if name == services.GATEWAY else []
            for number, process in enumerate(children, 1):
                processes[f"{name}-worker-{number}"] = process.pid
            if not children:
                processes[name] = pid
        folder = self.plan.profile / hop
        return asyncio.create_task(profiles.record(processes, seconds, folder))

    async def stop(self, names: Sequence[str]) -> None:
        """Stop ``names`` (SIGTERM: they finish what they hold)."""
        await asyncio.to_thread(self.supervisor.stop, names, 30)

    async def gateway(self) -> Round:
        """Wrk against the gateway for ``gateway_s``; the bridge and workers are stopped."""
        before, calls = self.usage(), await self.probe.redis_calls()
        profiling = self.profiling("gateway", [services.GATEWAY], self.plan.gateway_s - 1)
        async with self.probe.recording() as samples:
            result = await load_tools.saturate(
                self.url, self.plan.gateway_s, self.plan.connections, self.plan.keys
            )
        after = self.usage()
        notes = []
        if result.errors or result.refused:
            notes.append(f"{result.errors} connection errors, {result.refused} 4xx/5xx answers")
        return Round(
            hop="gateway",
            rate=result.rate,
            count=result.requests - result.refused,
            seconds=result.seconds,
            cpu_s=spent(before, after),
            rss={name: u.rss_bytes for name, u in after.items()},
            samples=samples,
            percentiles=result.percentiles,
            load_cpu_s=result.cpu_s,
            notes=notes,
            profile=await summed(profiling),
            redis_calls=await self._calls_since(calls),
        )

    async def bridge(self, count: int = 1) -> Round:
        """The whole backlog in Kafka into jobs by ``count`` bridges, from a first job to the last.

        The window opens at the first job seen once the group is Stable with all ``count``
        members: the first bridge to join works alone until the others' joins rebalance the
        group, which is not what ``count`` bridges do. CPU is counted in the window only, so a
        bridge's start (imports, joining) is not charged to the events.
        """
        names = self.bridge_names[:count]
        await self.redis.flushdb()
        await self._rewind()
        backlog = await self.probe.backlog()
        total = sum(backlog.values())
        async with self.probe.recording() as samples:
            await self.start(names)
            await self._group_of(count)
            first = await self.probe.wait_for(lambda s: s.enqueued > 0, FIRST_WORK_S)
            before, calls, busy = self.usage(), await self.probe.redis_calls(), machine_busy_s()
            shares = await asyncio.to_thread(self._enqueued_by, names)
            profiling = self.profiling("bridge", names, PROFILE_S)
            last = await self.probe.wait_for(
                lambda s: s.enqueued >= total, self.plan.bridge_timeout_s
            )
            after, busy = self.usage(), machine_busy_s() - busy
            used = await self._calls_since(calls)
            ended = await asyncio.to_thread(self._enqueued_by, names)
        await self.stop(names)
        shares = {name: ended[name] - shares[name] for name in names}  # in the window
        notes = [_spread(backlog)]
        if last.enqueued - first.enqueued < total / 2:
            notes.append("over half the backlog was done before the group settled: too small")
        if last.enqueued < total:
            notes.append(f"only {last.enqueued} of {total} enqueued in time")
        return Round(
            hop="bridge",
            rate=(last.enqueued - first.enqueued) / max(last.at - first.at, 1e-9),
            count=last.enqueued - first.enqueued,
            seconds=last.at - first.at,
            cpu_s=spent(before, after),
            rss={name: u.rss_bytes for name, u in after.items()},
            samples=samples,
            notes=notes,
            profile=await summed(profiling),
            redis_calls=used,
            processes=count,
            shares=shares,
            machine_cpu_s=busy,
            load_average=os.getloadavg()[0],
        )

    async def workers(self) -> Round:
        """The email workers mail from the queues the bridge filled, for ``workers_s``."""
        async with self.probe.recording() as samples:
            await self.start(self.worker_names)
            first = await self.probe.wait_for(lambda s: s.sent > 0, FIRST_WORK_S)
            before, calls = self.usage(), await self.probe.redis_calls()
            profiling = self.profiling("workers", self.worker_names, self.plan.workers_s - 1)
            await asyncio.sleep(self.plan.workers_s)  # a fixed window, not a synchronisation
            last = await self.probe.read()
            after, used = self.usage(), await self._calls_since(calls)
        await self.stop(self.worker_names)
        notes = []
        if last.queued == 0:
            notes.append("the queues ran dry within the window: the rate is a lower bound")
        return Round(
            hop="workers",
            rate=(last.sent - first.sent) / (last.at - first.at),
            count=last.sent - first.sent,
            seconds=last.at - first.at,
            cpu_s=spent(before, after),
            rss={name: u.rss_bytes for name, u in after.items()},
            samples=samples,
            notes=notes,
            profile=await summed(profiling),
            redis_calls=used,
        )

    async def end_to_end(self) -> EndToEnd:
        """Everything running, vegeta at ``e2e_rate`` for ``e2e_s``, then drained."""
        await self.redis.flushdb()  # the workers' leftover queue
        await self.start([services.BRIDGE, *self.worker_names])
        before = self.usage()
        async with self.probe.recording() as samples:
            start = await self.probe.read()
            load = await load_tools.steady(self.url, self.plan.e2e_rate, self.plan.e2e_s)
            load_ended = time.monotonic()
            accepted = load.status_codes.get("202", 0)
            last = await self.probe.wait_for(
                lambda s: s.sent - start.sent >= accepted, self.plan.drain_s
            )
        after = self.usage()
        latencies = await self._latencies()
        return EndToEnd(
            offered_rate=self.plan.e2e_rate,
            seconds=self.plan.e2e_s,
            load=load,
            accepted=accepted,
            mailed=last.sent - start.sent,
            left_queued=last.queued,
            drained_s=last.at - load_ended,
            latencies_ms=latencies,
            cpu_s=spent(before, after),
            rss={name: u.rss_bytes for name, u in after.items()},
            samples=samples,
        )

    async def _calls_since(self, before: dict[str, int]) -> dict[str, int]:
        """The Redis commands run since ``before`` (the probe's own included: a few a second)."""
        now = await self.probe.redis_calls()
        return {name: n - before.get(name, 0) for name, n in now.items() if n > before.get(name, 0)}

    async def _group_of(self, count: int) -> None:
        """Wait until the bridges' group is Stable with ``count`` members."""
        deadline = time.monotonic() + FIRST_WORK_S
        while await self.probe.group_members() != count:
            if time.monotonic() > deadline:
                raise StackError(f"the group did not settle with {count} bridges in time")
            await asyncio.sleep(0.1)

    def _enqueued_by(self, names: Sequence[str]) -> dict[str, int]:
        """Each bridge's jobs since it started: ``northbridge_events_total{hop="enqueued"}``."""
        found = {}
        # No proxy: an http_proxy in the environment must not carry a loopback request away.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for name in names:
            url = f"http://{LOOPBACK}:{services.metrics_port(name, self.layout)}/metrics"
            with opener.open(url, timeout=5) as answer:
                lines = answer.read().decode().splitlines()
            found[name] = sum(
                int(float(line.rsplit(" ", 1)[1]))
                for line in lines
                if line.startswith("northbridge_events_total{") and 'hop="enqueued"' in line
            )
        return found

    async def _rewind(self) -> None:
        """Move the bridge's group back to the start of both topics (the bridge is stopped)."""
        tool = self.layout.root / "bin" / "kafka-consumer-groups.sh"
        topics = [arg for topic in TOPICS for arg in ("--topic", topic)]
        argv = [str(tool), "--bootstrap-server", f"{LOOPBACK}:{self.layout.kafka_port}"]
        argv += ["--group", BRIDGE_GROUP, "--reset-offsets", "--to-earliest", "--execute"]
        process = await asyncio.create_subprocess_exec(
            *argv, *topics, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise StackError(f"kafka-consumer-groups failed:\n{output.decode()}")

    async def _latencies(self) -> list[float]:
        """Each mailed event's time from 202 (Kafka's timestamp) to the SMTP reply, in ms."""
        keys = [key async for key in self.redis.scan_iter(match=f"{PREFIX}*", count=1000)]
        found: list[float] = []
        for chunk in range(0, len(keys), 1000):
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys[chunk : chunk + 1000]:
                    pipe.hmget(key, ["accepted", "sent"])
                rows = await pipe.execute()
            found += [_between(accepted, sent) for accepted, sent in rows if accepted and sent]
        return sorted(found)


async def summed(profiling: "Profiling | None") -> dict[str, list[str]]:
    """The top functions of each profiled process, once the profiles are written."""
    if profiling is None:
        return {}
    return {path.stem: profiles.top_functions(path) for path in (await profiling).values()}


def _spread(backlog: dict[TopicPartition, int]) -> str:
    """Where the backlog lies: its partitions and their sizes (a bridge reads whole ones)."""
    topics = sorted({tp.topic for tp in backlog})
    sizes = backlog.values()
    return (
        f"backlog: {sum(sizes):,} events in {len(backlog)} partitions of {', '.join(topics)}"
        f" ({min(sizes, default=0):,} to {max(sizes, default=0):,} each)"
    )


def _between(accepted: bytes, sent: bytes) -> float:
    return (_at(sent) - _at(accepted)) * 1000


def _at(hop: bytes) -> float:
    return datetime.fromisoformat(json.loads(hop)["at"]).timestamp()
