"""northbridge: follow an event, list and replay dead letters, retry failed jobs, send load.

It reads the same settings as the services (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL,
RECEIPT_TTL_S, WORKER_QUEUES), so on the machine of `make up` it needs none.
"""

import asyncio
import statistics
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import structlog
import typer
from aiohttp import web
from redis import Redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from northbridge_ops import dead_letters, events, failed_jobs, keys
from northbridge_ops.dashboard import Dashboard
from northbridge_ops.dead_letters import Replayed, Selection
from northbridge_ops.failed_jobs import Requeued
from northbridge_ops.load import Outcome, post_events
from northbridge_ops.settings import DashboardSettings
from northbridge_shared import logging
from northbridge_shared.contracts import ENDPOINTS
from northbridge_shared.settings import (
    KafkaSettings,
    LogSettings,
    QueueSettings,
    ReceiptSettings,
    RedisSettings,
    RouteSettings,
    load,
)

# Markdown: docstrings are reflowed to the terminal's width, not kept at their line breaks.
app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, rich_markup_mode="markdown"
)
events_app = typer.Typer(no_args_is_help=True, help="Follow events through every hop.")
dlq_app = typer.Typer(no_args_is_help=True, help="Dead letters: records the bridge refused.")
jobs_app = typer.Typer(no_args_is_help=True, help="rq jobs: failed ones, run again.")
keys_app = typer.Typer(
    no_args_is_help=True, help="API keys for the gateway (GATEWAY_AUTH=api-key)."
)
app.add_typer(events_app, name="events")
app.add_typer(keys_app, name="keys")
app.add_typer(dlq_app, name="dlq")
app.add_typer(jobs_app, name="jobs")

log = structlog.get_logger(__name__)
out = Console()
err = Console(stderr=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Topic = Annotated[str, typer.Argument(help="north-updates, south-updates, or a .dlq topic.")]
Since = Annotated[
    datetime | None, typer.Option(help="Only dead letters written at or after this (UTC).")
]
Until = Annotated[datetime | None, typer.Option(help="Only dead letters written before this.")]
Offsets = Annotated[
    str, typer.Option(help="Only these dead letters: PARTITION:OFFSET[,PARTITION:OFFSET...].")
]


def _redis() -> Redis:
    return Redis.from_url(load(RedisSettings).url, socket_timeout=10, socket_connect_timeout=5)


def _bootstrap() -> str:
    return load(KafkaSettings).bootstrap_servers


def _progress() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, TimeElapsedColumn(), console=err, transient=False)


@events_app.command("show")
def events_show(event_id: str, as_json: Json = False) -> None:
    """Every hop of one event, oldest first: its receipt."""
    with _redis() as redis:
        found = events.receipt(redis, event_id)
    if found is None:
        err.print(f"no receipt for {event_id}: not accepted yet, or older than RECEIPT_TTL_S")
        raise typer.Exit(1)
    if as_json:
        out.print_json(data=found)
        return
    table = Table(title=f"{event_id}: {found['state']}", title_justify="left")
    for column in ("hop", "at", "details"):
        table.add_column(column)
    for hop in found["hops"]:
        table.add_row(hop["hop"], hop["at"], events.details(hop))
    out.print(table)


@dlq_app.command("list")
def dlq_list(
    topic: Topic,
    since: Since = None,
    until: Until = None,
    offsets: Offsets = "",
    as_json: Json = False,
) -> None:
    """The dead letters of TOPIC: where, when, which event, and why."""
    selection = _selection(since, until, offsets)
    letters = asyncio.run(dead_letters.read(_bootstrap(), topic, selection))
    if as_json:
        out.print_json(data=[letter.describe() for letter in letters])
        return
    table = Table(title=f"{dead_letters.dlq_of(topic)}: {len(letters)} dead letters")
    table.add_column("p:offset", no_wrap=True)
    table.add_column("at (UTC)")
    table.add_column("event id", no_wrap=True)
    table.add_column("reason", overflow="fold")
    table.add_column("value", overflow="fold")
    for letter in letters:
        value = (letter.value or b"")[:60].decode(errors="replace")
        at = letter.at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            f"{letter.partition}:{letter.offset}", at, letter.event_id, letter.reason, value
        )
    out.print(table)


@dlq_app.command("replay")
def dlq_replay(
    topic: Topic,
    since: Since = None,
    until: Until = None,
    offsets: Offsets = "",
    value: Annotated[
        str | None,
        typer.Option(help="Replay with this value (a fixed body) instead; one dead letter only."),
    ] = None,
) -> None:
    """Send dead letters of TOPIC through the normal path again, under their own ids.

    A fixed record becomes one mail however often it is replayed; a record still bad is
    dead-lettered again.
    """
    selection = _selection(since, until, offsets)
    bootstrap = _bootstrap()
    letters = asyncio.run(dead_letters.read(bootstrap, topic, selection))
    chosen = [letter for letter in letters if letter.replayable]
    for letter in letters:
        if not letter.replayable:
            err.print(f"skipped {letter.position}: its value was too large to keep")
    if value is not None and len(chosen) != 1:
        err.print(f"--value replaces one dead letter's body; {len(chosen)} are selected")
        raise typer.Exit(2)
    ttl = load(ReceiptSettings).ttl_s
    with _redis() as redis, _progress() as progress:
        task = progress.add_task("replaying", total=len(chosen))

        def note(replayed: Replayed) -> None:
            dead_letters.note_replayed(redis, replayed, ttl)
            progress.advance(task)

        body = value.encode() if value is not None else None
        done = asyncio.run(dead_letters.replay(bootstrap, chosen, value=body, on_sent=note))
    for replayed in done:
        out.print(
            f"{replayed.letter.position} -> {replayed.topic}/{replayed.partition}/"
            f"{replayed.offset} as {replayed.letter.event_id}"
        )
    out.print(f"replayed {len(done)} of {len(letters)} selected dead letters")


@jobs_app.command("retry-failed")
def jobs_retry_failed(
    queue: Annotated[
        list[str] | None, typer.Option(help="Only this queue (repeatable); default: all.")
    ] = None,
) -> None:
    """Put every failed job back on its queue; each runs once more."""
    queues = queue or load(QueueSettings).queues
    with _redis() as redis:
        total = sum(len(failed_jobs.failed_ids(redis, name)) for name in queues)
        with _progress() as progress:
            task = progress.add_task("requeueing", total=total)

            def advance(_: Requeued) -> None:
                progress.advance(task)

            ttl = load(ReceiptSettings).ttl_s
            done = failed_jobs.retry_failed(redis, queues, ttl, advance)
    per_queue = Counter(r.queue for r in done)
    summary = ", ".join(f"{name} {per_queue[name]}" for name in queues)
    out.print(f"requeued {len(done)} failed jobs ({summary})")


@keys_app.command("create")
def keys_create(
    client: Annotated[str, typer.Argument(help="Who uses it: 1-64 of A-Z a-z 0-9 _ . -")],
    endpoint: Annotated[
        list[str] | None,
        typer.Option(help="Only this endpoint, e.g. /v1/North (repeatable); default: all."),
    ] = None,
) -> None:
    """Make a key for CLIENT and print it: the only time it is shown (Redis keeps a digest)."""
    unknown = sorted(set(endpoint or ()) - set(ENDPOINTS))
    if unknown:
        raise typer.BadParameter(f"not an endpoint: {', '.join(unknown)}", param_hint="--endpoint")
    with _redis() as redis:
        try:
            token, key = keys.create(redis, client, tuple(endpoint or ()))
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="CLIENT") from None
    err.print(f"key {key.id} for {key.client}; send it as Authorization: Bearer <key>")
    out.print(token, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(as_json: Json = False) -> None:
    """Every key: its id, client, endpoints and when it was made (never the key itself)."""
    with _redis() as redis:
        found = keys.listed(redis)
    if as_json:
        out.print_json(data=[asdict(key) for key in found])
        return
    table = Table("id", "client", "endpoints", "created")
    for key in found:
        table.add_row(key.id, key.client, ", ".join(key.endpoints) or "all", key.created)
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The id `keys list` shows.")]) -> None:
    """Delete a key; gateways refuse it within GATEWAY_AUTH_CACHE_S."""
    with _redis() as redis:
        key = keys.revoke(redis, key_id)
    if key is None:
        err.print(f"no key with id {key_id}")
        raise typer.Exit(1)
    out.print(f"revoked key {key.id} of {key.client}")


@app.command("dashboard")
def dashboard() -> None:
    """Serve the dashboard on DASHBOARD_HOST:DASHBOARD_PORT (9180) until Ctrl-C or SIGTERM.

    Read-only unless DASHBOARD_ACTIONS=true.
    """
    logging.configure(load(LogSettings), service="dashboard")
    settings = load(DashboardSettings)
    board = Dashboard(
        _redis(),
        kafka=load(KafkaSettings),
        receipt=load(ReceiptSettings),
        settings=settings,
        queues=load(QueueSettings).queues,
        topics=sorted(load(RouteSettings).routes),
    )
    log.info(
        "dashboard_started",
        url=f"http://{settings.host}:{settings.port}/",
        actions=settings.actions,
    )
    web.run_app(board.app(), host=settings.host, port=settings.port, print=None, access_log=None)


@app.command("load")
def send_load(
    rate: Annotated[float, typer.Option(min=0.1, help="Events a second.")] = 50.0,
    count: Annotated[int, typer.Option(min=1, help="Events in all.")] = 500,
    endpoint: Annotated[str, typer.Option(help="North or South.")] = "North",
    url: Annotated[
        str, typer.Option(envvar="NORTHBRIDGE_GATEWAY_URL", help="The gateway.")
    ] = "http://127.0.0.1:9000",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="NORTHBRIDGE_API_KEY", help="Sent as Authorization: Bearer."),
    ] = None,
) -> None:
    """POST test events at a fixed rate; a summary of the answers at the end."""
    target = f"{url.rstrip('/')}/v1/{endpoint}"
    with _progress() as progress:
        task = progress.add_task(f"POST {target}", total=count)

        def advance(_: Outcome) -> None:
            progress.advance(task)

        posting = post_events(target, rate, count, api_key=api_key, on_answer=advance)
        outcomes = asyncio.run(posting)
    for line in _load_summary(outcomes):
        out.print(line)
    if not any(o.status == 202 for o in outcomes):
        raise typer.Exit(1)


def _load_summary(outcomes: list[Outcome]) -> list[str]:
    statuses = Counter(o.status for o in outcomes)
    answered = sorted(o.seconds for o in outcomes if o.status)
    lines = [
        "answers  " + ", ".join(f"{s or 'no answer'}: {n}" for s, n in sorted(statuses.items()))
    ]
    if len(answered) >= 2:  # quantiles need two points
        p50, p99 = (statistics.quantiles(answered, n=100)[i] for i in (49, 98))
        lines.append(f"latency  p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    return lines


def _selection(since: datetime | None, until: datetime | None, offsets: str) -> Selection:
    positions = set()
    for item in filter(None, (part.strip() for part in offsets.split(","))):
        partition, _, offset = item.partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            err.print(f"--offsets takes PARTITION:OFFSET pairs, not {item!r}")
            raise typer.Exit(2)
        positions.add((int(partition), int(offset)))
    return Selection(since=_utc(since), until=_utc(until), offsets=frozenset(positions))


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)  # typer parses naive times; they mean UTC


def main() -> None:
    """The ``northbridge`` console script."""
    app()
