"""``northbridge-bench`` (``make bench``): each hop's throughput and cost, on a stack of its own.

A temporary local stack (free loopback ports, under supervisord as ``make up`` runs it) is
started, measured hop by hop and end to end (see hops.py), and taken down; the table goes
to the terminal and the report, with plots, to ``--report`` (default ``bench-report/``).
"""

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from northbridge_bench import load_tools, report
from northbridge_bench.hops import Bench, EndToEnd, Plan, Round
from northbridge_bench.probes import probe
from northbridge_stack import services, stack
from northbridge_stack.errors import StackError
from northbridge_stack.layout import PORT_VARIABLES, StackLayout
from northbridge_stack.ports import LOOPBACK, free_port

WARM_UP_S = 3.0
# In the order they run: each hop's output is the next one's input (end to end has its own).
HOPS = ("gateway", "bridge", "workers", "end-to-end")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark; a StackError becomes one readable message and exit code 1."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.keys < 1:
        parser.error("--keys: at least 1")
    for setting in args.set:
        name, _, value = setting.partition("=")
        os.environ[name] = value  # the stack hands settings it knows to the services
    plan = Plan(
        rounds=args.rounds,
        gateway_s=args.gateway_seconds,
        connections=args.connections,
        keys=args.keys,
        workers_s=args.workers_seconds,
        e2e_rate=args.rate,
        e2e_s=args.e2e_seconds,
        workers=args.workers,
        bridges=args.bridges,
        kafka_nodes=args.kafka_nodes,
        profile=Path(args.report) / "profiles" if args.profile else None,
    )
    try:
        run(plan, Path(args.report), args.set, args.only or HOPS)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def run(plan: Plan, folder: Path, settings: Sequence[str], hops: Sequence[str] = HOPS) -> None:
    """Up, measure, down; print the table and write the report."""
    home = Path(tempfile.mkdtemp(prefix="nb-bench-"))
    ports = {name: str(free_port()) for name in PORT_VARIABLES}
    nodes = {"KAFKA_NODES": str(plan.kafka_nodes)}
    layout = StackLayout.from_env({"STACK_HOME": str(home), **ports, **nodes})
    began = time.monotonic()
    print(f"bench: a stack of its own in {home}")
    stack.up(layout, workers=plan.workers, bridges=max(plan.bridges), infra_only=False, say=print)
    try:
        rounds, e2e = asyncio.run(_measure(layout, plan, _with_inputs(hops)))
    finally:
        stack.down(layout, say=print)
    heading = _heading(plan, settings, time.monotonic() - began)
    summary = report.table(rounds, e2e, heading)
    index = report.write(folder, rounds, e2e, summary)
    print("\n".join(["", *summary, "", f"report: {index}"]))
    shutil.rmtree(home, ignore_errors=True)


async def _measure(
    layout: StackLayout, plan: Plan, hops: Sequence[str]
) -> tuple[list[Round], EndToEnd | None]:
    kafka = f"{LOOPBACK}:{layout.kafka_port}"
    async with probe(kafka, f"redis://{LOOPBACK}:{layout.redis_port}/0") as reader:
        bench = Bench(layout, reader, plan, print)
        # Each hop alone: the gateway's rounds first, with only Kafka and Redis beside it.
        await bench.stop([services.DASHBOARD, *bench.bridge_names, *bench.worker_names])
        rounds: list[Round] = []
        if "gateway" in hops:
            rounds += await _gateway(bench, plan)
        for number in range(plan.rounds if "bridge" in hops else 0):
            # Each count in every round: the machine's drift then touches them all alike.
            for count in plan.bridges:
                print(f"bench: bridge round {number + 1}, {count} bridge(s)")
                rounds.append(await bench.bridge(count))
                print(f"  {rounds[-1].rate:,.0f} events/s ({rounds[-1].count:,} events)")
            if "workers" in hops:
                print(f"bench: workers for {plan.workers_s:g} s")
                rounds.append(await bench.workers())
                print(f"  workers {rounds[-1].rate:,.0f} mails/s")
        if "end-to-end" not in hops:
            return rounds, None
        print(f"bench: end to end, {plan.e2e_rate}/s for {plan.e2e_s:g} s")
        return rounds, await bench.end_to_end()


async def _gateway(bench: Bench, plan: Plan) -> list[Round]:
    print(f"bench: gateway, {plan.rounds} x {plan.gateway_s:g} s of wrk")
    # A warm-up: connections, the producer's metadata, caches.
    await load_tools.saturate(bench.url, WARM_UP_S, plan.connections, plan.keys)
    rounds = []
    for _ in range(plan.rounds):
        rounds.append(await bench.gateway())
        print(f"  {rounds[-1].rate:,.0f} req/s")
    return rounds


def _with_inputs(hops: Sequence[str]) -> list[str]:
    """``hops`` and the hops before each that make its input (end to end makes its own)."""
    chain = HOPS[:-1]
    last = max((chain.index(hop) for hop in hops if hop in chain), default=-1)
    return [*chain[: last + 1], *(hop for hop in hops if hop not in chain)]


def _heading(plan: Plan, settings: Sequence[str], took_s: float) -> str:
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    given = f", settings {' '.join(settings)}" if settings else ""
    bridges = ",".join(map(str, plan.bridges))
    return (
        f"northbridge bench at {commit or 'unknown commit'}: {os.cpu_count()} cores"
        f" ({platform.processor() or platform.machine()}), {plan.rounds} rounds,"
        f" {plan.keys:,} keys, {plan.kafka_nodes} Kafka nodes, {bridges} bridges,"
        f" {plan.workers} email workers{given};"
        f" took {took_s:.0f} s;"
        f" load average at the end {os.getloadavg()[0]:.1f}"
    )


def _parser() -> argparse.ArgumentParser:
    defaults = Plan()
    parser = argparse.ArgumentParser(prog="northbridge-bench", description=__doc__)
    add = parser.add_argument
    add("--rounds", type=int, default=defaults.rounds, help="of each hop")
    add("--gateway-seconds", type=float, default=defaults.gateway_s, help="per gateway round")
    add("--connections", type=int, default=defaults.connections, help="wrk's connections")
    add("--keys", type=int, default=defaults.keys, help="distinct event keys wrk sends")
    add("--workers-seconds", type=float, default=defaults.workers_s, help="per workers round")
    add("--workers", type=int, default=defaults.workers, help="email worker processes")
    add("--kafka-nodes", type=int, default=defaults.kafka_nodes, help="Kafka's nodes: 1 or 3")
    add("--bridges", type=_counts, default=defaults.bridges, help="bridge counts (1,2,3)")
    add("--only", type=_hops, help=f"these hops ({','.join(HOPS)}) and those making their input")
    add("--rate", type=int, default=defaults.e2e_rate, help="end to end: events/s offered")
    add("--e2e-seconds", type=float, default=defaults.e2e_s, help="end to end: of load")
    add("--report", default="bench-report", help="folder for the report (default bench-report)")
    add("--profile", action="store_true", help="py-spy each hop's first round (needs ptrace)")
    add("--set", action="append", default=[], metavar="NAME=VALUE", help="a service setting")
    return parser


def _counts(text: str) -> tuple[int, ...]:
    counts = tuple(int(part) for part in text.split(",") if part.strip().isdigit())
    if not counts or min(counts) < 1 or len(counts) != len(text.split(",")):
        raise argparse.ArgumentTypeError(f"not a list of counts of at least 1: {text!r}")
    return counts


def _hops(text: str) -> list[str]:
    hops = text.split(",")
    if unknown := [hop for hop in hops if hop not in HOPS]:
        raise argparse.ArgumentTypeError(f"unknown hops {unknown}; known: {', '.join(HOPS)}")
    return hops
