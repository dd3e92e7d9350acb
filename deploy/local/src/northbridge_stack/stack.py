"""The whole local stack: up in dependency order, down in reverse, and what runs now.

``up`` is idempotent: what runs is reported and left alone, what is missing is started, and
the number of email workers is brought to the one asked for.
"""

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from northbridge_stack.errors import StackError
from northbridge_stack.jars import kafka_classpath, kafka_jars_cached, kafka_version
from northbridge_stack.layout import StackLayout
from northbridge_stack.ports import LOOPBACK, is_free
from northbridge_stack.processes import ManagedProcess, stop_all
from northbridge_stack.server import Server
from northbridge_stack.services import (
    GATEWAY,
    Service,
    gateway,
    gateway_ready,
    pipeline,
    service_env,
    started_workers,
    worker,
)
from northbridge_stack.tool_scripts import write_tool_scripts
from northbridge_stack.topics import create_topics

Say = Callable[[str], None]
SERVICE_STOP_S = 35.0  # the gateway drains for up to GATEWAY_GRACEFUL_TIMEOUT_S (30 s)
SERVICE_READY_S = 60.0


def up(layout: StackLayout, *, workers: int, infra_only: bool, say: Say = print) -> None:
    """Start what is missing (infrastructure, then services) and wait until it serves."""
    began = time.monotonic()
    kafka, redis, sink = layout.kafka(), layout.redis(), layout.smtp_sink()
    _check_ports(layout, with_gateway=not infra_only)
    _ensure_jars(say)
    _start("kafka", kafka, kafka.bootstrap_servers, say)
    _create_topics(kafka.bootstrap_servers, say)
    _start("redis", redis, redis.url, say)
    _start("smtp-sink", sink, f"{LOOPBACK}:{sink.port}, mail in {shown(sink.maildir)}", say)
    scripts = write_tool_scripts(kafka, layout.bin)
    say(_line("kafka tools", f"{shown(layout.bin)}/ ({', '.join(p.name for p in scripts)})"))
    if not infra_only:
        _start_services(layout, workers, say)
    say(f"stack up in {time.monotonic() - began:.1f} s; see make ps, make logs, make down")


def down(layout: StackLayout, say: Say = print) -> None:
    """Stop services first (in parallel), then the sink, Redis and Kafka; data is kept."""
    stopped = _stop(_known_services(layout), SERVICE_STOP_S, say)
    for server in (layout.smtp_sink(), layout.redis(), layout.kafka()):
        stopped += _stop([server.process], 30.0, say)
    if not stopped:
        say("nothing was running")


def ps(layout: StackLayout, say: Say = print) -> None:
    """A table of every component: pid, state, port and log."""
    rows = [("component", "pid", "state", "port", "log")]
    rows += [_row(process, ports) for process, ports in _components(layout)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def ensure_jars(say: Say = print) -> None:
    """Fetch Kafka's jars with Maven unless cached; says something only when it fetched."""
    if not kafka_jars_cached():
        _ensure_jars(say)


def shown(path: Path) -> str:
    """``path`` relative to the working directory when below it (shorter to read)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _line(name: str, message: str) -> str:
    return f"{name:<14} {message}"


def _check_ports(layout: StackLayout, *, with_gateway: bool) -> None:
    """Fail before starting anything if a port we need is held by a process we did not start."""
    kafka, redis, sink = layout.kafka(), layout.redis(), layout.smtp_sink()
    wanted: dict[str, tuple[Server, int]] = {
        "STACK_KAFKA_PORT": (kafka, layout.kafka_port),
        "STACK_KAFKA_CONTROLLER_PORT": (kafka, layout.controller_port),
        "STACK_REDIS_PORT": (redis, layout.redis_port),
        "STACK_SMTP_PORT": (sink, layout.smtp_port),
    }
    clashes = [
        _clash(variable, server.process.name, port)
        for variable, (server, port) in wanted.items()
        if not server.running and not is_free(port)
    ]
    if with_gateway and not gateway().process(layout).running and not is_free(layout.gateway_port):
        clashes.append(_clash("GATEWAY_PORT", GATEWAY, layout.gateway_port))
    if clashes:
        raise StackError("\n".join(clashes))


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


def _start(name: str, server: Server, where: str, say: Say) -> None:
    if server.running:
        say(_line(name, f"already running (pid {server.process.pid}) on {where}"))
        return
    began = time.monotonic()
    server.start(detached=True)
    say(_line(name, f"ready on {where} ({time.monotonic() - began:.1f} s)"))


def _create_topics(bootstrap_servers: str, say: Say) -> None:
    began = time.monotonic()
    create_topics(bootstrap_servers)
    took = time.monotonic() - began
    say(_line("topics", f"north-updates, south-updates and their .dlq ({took:.1f} s)"))


def _start_services(layout: StackLayout, workers: int, say: Say) -> None:
    _retire_workers(layout, keep=workers, say=say)
    env = service_env(layout)
    # Spawn all first so they boot in parallel, then wait for each in turn.
    launched = [(service, _launch(service, layout, env, say)) for service in pipeline(workers)]
    for service, process in launched:
        if process is not None:
            took = process.wait_until(
                _readiness(service, process, layout), timeout=SERVICE_READY_S, what="starting"
            )
            where = (
                f" on http://{LOOPBACK}:{layout.gateway_port}" if service.name == GATEWAY else ""
            )
            say(_line(service.name, f"ready{where} (pid {process.pid}, {took:.1f} s)"))


def _launch(
    service: Service, layout: StackLayout, env: dict[str, str], say: Say
) -> ManagedProcess | None:
    """Spawn ``service`` unless it runs; the spawned process, or None."""
    process = service.process(layout)
    if process.running:
        say(_line(service.name, f"already running (pid {process.pid})"))
        return None
    process.spawn(service.argv(), env=env, detached=True)
    return process


def _readiness(
    service: Service, process: ManagedProcess, layout: StackLayout
) -> Callable[[], bool]:
    if service.name == GATEWAY:
        return lambda: gateway_ready(layout.gateway_port)
    return lambda: service.ready_line in process.log_since_spawn()


def _retire_workers(layout: StackLayout, *, keep: int, say: Say) -> None:
    """Stop workers numbered above ``keep`` (``up --workers 2`` after ``--workers 4``)."""
    extra = [worker(number).process(layout) for number in started_workers(layout) if number > keep]
    _stop(extra, SERVICE_STOP_S, say)


def _known_services(layout: StackLayout) -> list[ManagedProcess]:
    """Gateway, bridge and every worker with a pid file: what ``down`` and ``ps`` look at."""
    services = pipeline(0) + [worker(number) for number in started_workers(layout)]
    return [service.process(layout) for service in services]


def _stop(processes: Sequence[ManagedProcess], timeout: float, say: Say) -> int:
    running = [process for process in processes if process.running]
    began = time.monotonic()
    stop_all(processes, timeout=timeout)
    for process in running:
        say(_line(process.name, f"stopped ({time.monotonic() - began:.1f} s)"))
    return len(running)


def _components(layout: StackLayout) -> list[tuple[ManagedProcess, str]]:
    kafka_ports = f"{layout.kafka_port},{layout.controller_port}"
    infra = [
        (layout.kafka().process, kafka_ports),
        (layout.redis().process, str(layout.redis_port)),
        (layout.smtp_sink().process, str(layout.smtp_port)),
    ]
    service_ports = {GATEWAY: str(layout.gateway_port)}
    services = _known_services(layout)
    return infra + [(process, service_ports.get(process.name, "")) for process in services]


def _row(process: ManagedProcess, port: str) -> tuple[str, str, str, str, str]:
    pid = process.pid
    state = "running" if pid else "exited" if process.pid_file.exists() else "stopped"
    return process.name, str(pid or "-"), state, port or "-", shown(process.log_file)
