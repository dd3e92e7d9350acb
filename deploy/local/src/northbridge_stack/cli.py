"""``northbridge-stack``: the local stack's commands, behind ``make up/down/ps/logs/produce``."""

import argparse
import os
import sys
from collections.abc import Sequence

from northbridge_stack import chaos, stack
from northbridge_stack.chaos import Plan
from northbridge_stack.errors import StackError
from northbridge_stack.layout import StackLayout
from northbridge_stack.topics import list_topics


def main(argv: Sequence[str] | None = None) -> None:
    """Run one command; a StackError becomes one readable message and exit code 1."""
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("\ninterrupted: what had started keeps running (make ps, make down)", file=sys.stderr)
        raise SystemExit(130) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="northbridge-stack",
        description="The local northbridge stack without Docker: Kafka from Maven jars, "
        "redis-server, Mailpit, and the services. State lives in .stack/.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="start what is missing and wait until it serves")
    up.add_argument("--workers", type=_count, default=2, help="email workers (default 2)")
    up.add_argument("--bridges", type=_positive, default=1, help="bridges in the group (default 1)")
    up.add_argument("--infra-only", action="store_true", help="Kafka, Redis and Mailpit only")
    up.set_defaults(run=_up)
    commands.add_parser("down", help="stop everything (data is kept)").set_defaults(run=_down)
    commands.add_parser("ps", help="what runs: pid, state, port, log").set_defaults(run=_ps)
    logs = commands.add_parser("logs", help="follow every log (tail -F; Ctrl-C ends)")
    logs.add_argument("--lines", type=_count, default=20, help="lines of history per log")
    logs.set_defaults(run=_logs)
    produce = commands.add_parser("produce", help="kafka-console-producer on stdin")
    produce.add_argument("topic")
    produce.add_argument("extra", nargs=argparse.REMAINDER, help="more producer options")
    produce.set_defaults(run=_produce)
    fetch = commands.add_parser(
        "fetch", help="fetch Kafka's jars with Maven and build Mailpit, unless cached"
    )
    fetch.set_defaults(run=_fetch)
    chaos = commands.add_parser(
        "chaos", help="a stack of its own under load, its parts SIGKILLed in turn; the ledger"
    )
    defaults = Plan()
    chaos.add_argument("--seconds", type=float, default=defaults.seconds, help="of load")
    chaos.add_argument("--rate", type=float, default=defaults.rate, help="events a second")
    chaos.add_argument("--kill-every", type=float, default=defaults.kill_every, help="seconds")
    chaos.add_argument("--drain", type=float, default=defaults.drain, help="seconds at most")
    chaos.add_argument("--workers", type=_count, default=defaults.workers, help="email workers")
    chaos.set_defaults(run=_chaos)
    return parser


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a count: {text!r}")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a count of at least 1: {text!r}")
    return int(text)


def _up(args: argparse.Namespace) -> None:
    layout = StackLayout.from_env()
    stack.up(layout, workers=args.workers, bridges=args.bridges, infra_only=args.infra_only)


def _down(_: argparse.Namespace) -> None:
    stack.down(StackLayout.from_env())


def _ps(_: argparse.Namespace) -> None:
    stack.ps(StackLayout.from_env())


def _fetch(_: argparse.Namespace) -> None:
    stack.fetch()


def _chaos(args: argparse.Namespace) -> None:
    plan = Plan(args.seconds, args.rate, args.kill_every, args.drain, args.workers)
    ledger = chaos.run(plan)
    print("\n".join(["", "chaos ledger", *ledger.report()]))
    if not ledger.ok:
        raise SystemExit(1)


def _logs(args: argparse.Namespace) -> None:
    files = sorted(StackLayout.from_env().logs.glob("*.log"))
    if not files:
        raise StackError("no logs yet: make up")
    # exec: Ctrl-C then reaches tail alone, which ends quietly, with no Python traceback.
    os.execvp("tail", ["tail", "-n", str(args.lines), "-F", *map(str, files)])  # noqa: S606 - our own log paths


def _produce(args: argparse.Namespace) -> None:
    kafka = StackLayout.from_env().kafka()
    if not kafka.serving():
        raise StackError("kafka is not running: make up (or make up ARGS=--infra-only)")
    # The console producer does not fail on an unknown topic: it retries for a minute.
    topics = list_topics(kafka.bootstrap_servers)
    if args.topic not in topics:
        raise StackError(f"no topic {args.topic!r}; topics: {', '.join(topics)}")
    if sys.stdin.isatty():
        example = '{"name":"ada","loc":"london"}'
        print(f"one event per line, e.g. {example}; Ctrl-D ends", file=sys.stderr)
    argv = [*kafka.console_producer_argv(args.topic), *args.extra]
    os.execv(argv[0], argv)  # noqa: S606 - stdin passes straight to the producer
