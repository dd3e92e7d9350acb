"""The whole local stack under supervisord: up in stages, down in reverse, and what runs now.

``up`` is idempotent: supervisord is started if it is not running, the programs are brought
to what is asked for (the number of bridges and of email workers up or down; a changed
setting restarts only the programs it reaches), and each part is waited for until its own
readiness check passes. supervisord restarts any program that exits, so a killed part comes
back by itself.
"""

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from northbridge_stack import mailpit
from northbridge_stack.errors import StackError
from northbridge_stack.jars import kafka_classpath, kafka_jars_cached, kafka_version
from northbridge_stack.kafka import KafkaBroker, replication_factor
from northbridge_stack.layout import StackLayout
from northbridge_stack.ports import LOOPBACK, is_free
from northbridge_stack.processes import Server
from northbridge_stack.services import (
    BRIDGE,
    DASHBOARD,
    GATEWAY,
    WORKER,
    Service,
    metrics_port,
    pipeline,
    program,
    serving,
)
from northbridge_stack.supervisor import Program, State, Supervisor
from northbridge_stack.tool_scripts import write_tool_scripts
from northbridge_stack.topics import create_topics, pipeline_topics

Say = Callable[[str], None]
INFRA = "infra"
SERVICES = "services"
INFRA_READY_S = 120.0  # a cold JVM on a busy 2-core machine
SERVICE_READY_S = 60.0
POLL_S = 0.2
TAIL_LINES = 30


def up(
    layout: StackLayout, *, workers: int, infra_only: bool, bridges: int = 1, say: Say = print
) -> None:
    """Start what is missing (infrastructure, then services) and wait until each serves."""
    began = time.monotonic()
    supervisor = layout.supervisor()
    _check_ports(layout, supervisor, with_gateway=not infra_only)
    _ensure_jars(say)
    _ensure_mailpit(say)
    brokers = layout.kafka_brokers()
    servers: dict[str, tuple[Server, str]] = {
        **{broker.process.name: (broker, broker.bootstrap_servers) for broker in brokers},
        "redis": (layout.redis(), layout.redis().url),
        "mailpit": (layout.mailpit(), layout.mailpit().url),
    }
    supervisor.sync(INFRA, [_infra_program(name, s) for name, (s, _) in servers.items()])
    if not supervisor.running:
        # A new supervisord starts every program it is configured with at once; the
        # services of the last run are added only once Kafka serves and the topics exist.
        supervisor.sync(SERVICES, [])
    _start_supervisor(supervisor, say)
    layout.remember_kafka_nodes()
    readiness = _Readiness(supervisor, supervisor.states(), say)
    supervisor.update()
    for name, (server, where) in servers.items():
        readiness.wait(name, server.serving, INFRA_READY_S, where)
        if server is brokers[-1]:  # every node serves: a cluster can place the replicas
            _create_topics(layout, say)
    scripts = write_tool_scripts(layout.kafka(), layout.bin)
    say(_line("kafka tools", f"{shown(layout.bin)}/ ({', '.join(p.name for p in scripts)})"))
    if not infra_only:
        _start_services(layout, supervisor, pipeline(workers, bridges), say)
    say(f"stack up in {time.monotonic() - began:.1f} s; see make ps, make logs, make down")


def down(layout: StackLayout, say: Say = print) -> None:
    """Stop the services together, then Mailpit and Redis, then Kafka, then supervisord."""
    supervisor = layout.supervisor()
    if not supervisor.running:
        say("nothing was running")
        return
    states = supervisor.states()
    kafka = [broker.process.name for broker in layout.kafka_brokers()]
    stop_order = [["mailpit", "redis"], kafka]  # stopped last to first: the pipeline first
    infra = {name for tier in stop_order for name in tier}
    tiers = [[n for n in states if n not in infra], *stop_order]
    for tier in tiers:
        running = [n for n in tier if n in states and states[n].pid]
        began = time.monotonic()
        supervisor.stop(running, timeout=75)
        for name in running:
            say(_line(name, f"stopped ({time.monotonic() - began:.1f} s)"))
    supervisor.shutdown()
    layout.forget_kafka_nodes()
    say(_line("supervisord", "stopped"))


def ps(layout: StackLayout, say: Say = print) -> None:
    """A table of every component: state, pid, uptime, restarts, port and log."""
    supervisor = layout.supervisor()
    states = supervisor.states() if supervisor.running else {}
    ports = {
        **{b.process.name: f"{b.port},{b.controller_port}" for b in layout.kafka_brokers()},
        "redis": str(layout.redis_port),
        "mailpit": f"{layout.smtp_port} (SMTP),{layout.mailpit_port} (UI)",
        GATEWAY: str(layout.gateway_port),
        DASHBOARD: str(layout.dashboard_port),
    }
    consumers = {BRIDGE: layout.bridge_metrics_port}
    consumers |= {n: metrics_port(n, layout) or 0 for n in states if n.startswith((BRIDGE, WORKER))}
    # Bridges, then workers, each in their number's order (bridge-10 after bridge-9).
    for name in sorted(consumers, key=lambda n: (n.startswith(WORKER), consumers[n])):
        ports[name] = f"{consumers[name]} (metrics)"
    names = [*ports, *sorted(n for n in states if n not in ports)]
    rows = [("component", "state", "pid", "uptime", "restarts", "port", "log")]
    now = time.time()
    for name in names:
        state = states.get(name)
        rows.append(
            (
                name,
                state.state.lower() if state else "stopped",
                str(state.pid) if state and state.pid else "-",
                _uptime(now - state.started) if state and state.pid else "-",
                str(state.restarts) if state else "-",
                ports.get(name, "-"),
                shown(layout.log(name)),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not supervisor.running:
        say("supervisord is not running: make up")


def fetch(say: Say = print) -> None:
    """Kafka's jars (Maven) and Mailpit (built) unless cached; quiet when both are."""
    if not kafka_jars_cached():
        _ensure_jars(say)
    if not mailpit.cached():
        _ensure_mailpit(say)


def shown(path: Path) -> str:
    """``path`` relative to the working directory when below it (shorter to read)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _line(name: str, message: str) -> str:
    return f"{name:<14} {message}"


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _infra_program(name: str, server: Server) -> Program:
    argv, env = server.command()
    # Kafka needs seconds to come up; the others one.
    is_kafka = isinstance(server, KafkaBroker)
    return Program(name, argv, 10, 30, dict(env or {}), start_s=5 if is_kafka else 1)


def _start_supervisor(supervisor: Supervisor, say: Say) -> None:
    running = supervisor.running
    pid = supervisor.start()
    how = "running" if running else "started"
    say(_line("supervisord", f"{how} (pid {pid}); supervisorctl -c {shown(supervisor.conf)}"))


def _start_services(
    layout: StackLayout, supervisor: Supervisor, services: Sequence[Service], say: Say
) -> None:
    supervisor.sync(SERVICES, [program(service, layout) for service in services])
    readiness = _Readiness(supervisor, supervisor.states(), say)
    supervisor.update()
    for service in services:
        where = {
            GATEWAY: f"http://{LOOPBACK}:{layout.gateway_port}",
            DASHBOARD: f"http://{LOOPBACK}:{layout.dashboard_port}",
        }.get(service.name, "")

        readiness.wait(service.name, partial(serving, service, layout), SERVICE_READY_S, where)


@dataclass(frozen=True)
class _Readiness:
    """Waits for programs of one ``supervisorctl update``, knowing what ran before it."""

    supervisor: Supervisor
    before: dict[str, State]
    say: Say

    def wait(self, name: str, serving: Callable[[], bool], timeout: float, where: str) -> None:
        """Wait until supervisord has ``name`` RUNNING (past its startsecs) and it serves.

        A crash loop never gets there: it fails here with its state and restarts, not "ready".
        """
        began = time.monotonic()
        at = f" on {where}" if where else ""
        was, now = self.before.get(name), self.supervisor.states().get(name)
        # The same process as before the update (a changed setting restarts it: a new pid).
        if was and now and was.state == now.state == "RUNNING" and was.pid == now.pid and serving():
            self.say(_line(name, f"already running (pid {was.pid}){at}"))
            return
        while True:
            state = self.supervisor.states().get(name)
            if state and state.state == "RUNNING" and serving():
                break
            if time.monotonic() > began + timeout:
                raise self._not_ready(name, state, timeout)
            time.sleep(POLL_S)
        self.say(_line(name, f"ready{at} (pid {state.pid}, {time.monotonic() - began:.1f} s)"))

    def _not_ready(self, name: str, state: State | None, timeout: float) -> StackError:
        how = f"{state.state}, restarted {state.restarts} times" if state else "not started"
        log = self.supervisor.logs / f"{name}.log"
        try:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-TAIL_LINES:])
        except FileNotFoundError:
            tail = f"(no log at {log})"
        return StackError(
            f"{name} is not ready after {timeout:.0f} s ({how})\n"
            f"--- last lines of {shown(log)} ---\n{tail}\n---"
        )


def _check_ports(layout: StackLayout, supervisor: Supervisor, *, with_gateway: bool) -> None:
    """Fail before starting anything if a port we need is held by a process we did not start."""
    ours = {n for n, s in supervisor.states().items() if s.pid} if supervisor.running else set()
    wanted = {
        **{
            f"{_kafka_variable(b.node_id)}_{what}PORT": (b.process.name, port)
            for b in layout.kafka_brokers()
            for what, port in (("", b.port), ("CONTROLLER_", b.controller_port))
        },
        "STACK_REDIS_PORT": ("redis", layout.redis_port),
        "STACK_SMTP_PORT": ("mailpit", layout.smtp_port),
        "STACK_MAILPIT_PORT": ("mailpit", layout.mailpit_port),
    }
    if with_gateway:
        wanted["GATEWAY_PORT"] = (GATEWAY, layout.gateway_port)
        wanted["DASHBOARD_PORT"] = (DASHBOARD, layout.dashboard_port)
    clashes = [
        _clash(variable, name, port)
        for variable, (name, port) in wanted.items()
        if name not in ours and not is_free(port)
    ]
    if clashes:
        raise StackError("\n".join(clashes))


def _kafka_variable(node_id: int) -> str:
    """How PORT_VARIABLES name a node's ports: STACK_KAFKA_PORT, STACK_KAFKA_2_PORT, ..."""
    return "STACK_KAFKA" if node_id == 1 else f"STACK_KAFKA_{node_id}"


def _clash(variable: str, name: str, port: int) -> str:
    hint = " (a system redis-server? stop it: service redis-server stop)" if name == "redis" else ""
    return (
        f"port {port} for {name} is in use by a process this stack did not start{hint}.\n"
        f"  who holds it: ss -ltnp 'sport = :{port}'; or pick another: {variable}=<port> make up"
    )


def _ensure_jars(say: Say) -> None:
    cached = kafka_jars_cached()
    began = time.monotonic()
    jars = len(kafka_classpath().split(os.pathsep))
    how = "cached" if cached else f"fetched with Maven in {time.monotonic() - began:.1f} s"
    say(_line("kafka jars", f"Kafka {kafka_version()}, {jars} jars in Maven's cache, {how}"))


def _ensure_mailpit(say: Say) -> None:
    cached = mailpit.cached()
    if not cached:
        say(_line("mailpit", f"building Mailpit {mailpit.VERSION} once (go, npm: minutes)..."))
    began = time.monotonic()
    built = mailpit.build()
    how = "cached" if cached else f"built in {time.monotonic() - began:.1f} s"
    say(_line("mailpit", f"Mailpit {mailpit.VERSION} at {shown(built)}, {how}"))


def _create_topics(layout: StackLayout, say: Say) -> None:
    began = time.monotonic()
    create_topics(layout.kafka_bootstrap_servers, nodes=layout.kafka_nodes)
    took = time.monotonic() - began
    replicas = replication_factor(layout.kafka_nodes)
    say(_line("topics", f"{', '.join(pipeline_topics())}, {replicas} replicas ({took:.1f} s)"))
