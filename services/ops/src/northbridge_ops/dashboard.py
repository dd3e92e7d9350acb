"""``northbridge dashboard``: one page that shows the pipeline, and operates it if allowed.

The page (``dashboard.html``, no build step) polls the JSON below every two seconds: the
ledger of each topic's hops, the queues and the workers, the latest events and their
receipts, the failed jobs and the dead letters. With ``DASHBOARD_ACTIONS=true`` it can also
retry or delete failed jobs (one, or all) and replay dead letters; the actions are the
``northbridge`` command's own (so each lands in its event's receipt). Without it, every
action answers 403.

rq-dashboard was tried first for the queue views: with rq 3 it needs an undeclared package
(six) installed by hand, its job page fails on jobs with dependencies (fixed upstream, not
released), it has no read-only mode (requeue stays on when delete is disabled), and its
requeue would bypass the receipts. The views it would have given are a few queries here.
"""

import asyncio
from dataclasses import asdict
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from aiokafka.errors import KafkaError
from redis import Redis
from redis.exceptions import RedisError

from northbridge_ops import dead_letters, events, failed_jobs, overview
from northbridge_ops.dead_letters import Selection
from northbridge_ops.settings import DashboardSettings
from northbridge_shared.settings import KafkaSettings, ReceiptSettings

log = structlog.get_logger(__name__)

# Dead letters shown per partition: the newest; the northbridge command lists them all.
LATEST = 20
PAGE = resources.files("northbridge_ops").joinpath("dashboard.html")


class Dashboard:
    """The page, its JSON, and its actions, over one Redis and one Kafka."""

    def __init__(  # noqa: PLR0913 - where the data is, what to show, what is allowed
        self,
        redis: Redis,
        *,
        kafka: KafkaSettings,
        receipt: ReceiptSettings,
        settings: DashboardSettings,
        queues: list[str],
        topics: list[str],
    ) -> None:
        self._redis = redis
        self._bootstrap = kafka.bootstrap_servers
        self._ttl_s = receipt.ttl_s
        self._actions = settings.actions
        self._queues = queues
        self._topics = topics

    def app(self) -> web.Application:
        """The routes: the page, its data, and (if allowed) its actions."""
        app = web.Application(middlewares=[_problems])
        app.router.add_get("/", self.page)
        app.router.add_get("/api/overview", self.overview)
        app.router.add_get("/api/events", self.recent)
        app.router.add_get("/api/events/{event_id}", self.receipt)
        app.router.add_get("/api/failed", self.failed)
        app.router.add_get("/api/dead-letters", self.dead_letters)
        app.router.add_post("/api/failed/retry-all", self.retry_all)
        app.router.add_post("/api/failed/{queue}/{job_id}/retry", self.retry)
        app.router.add_post("/api/failed/{queue}/{job_id}/delete", self.delete)
        app.router.add_post("/api/dead-letters/{topic}/{partition}/{offset}/replay", self.replay)
        return app

    async def page(self, _: web.Request) -> web.Response:
        """The dashboard itself."""
        return web.Response(text=PAGE.read_text(), content_type="text/html")

    async def overview(self, _: web.Request) -> web.Response:
        """Ledger, queues, workers, and whether actions are on."""
        data = await asyncio.to_thread(self._overview)
        return web.json_response(data)

    def _overview(self) -> dict[str, Any]:
        return {
            "actions": self._actions,
            "ledger": overview.ledger(self._redis, self._topics),
            "queues": overview.queues(self._redis, self._queues),
            "workers": overview.workers(self._redis),
        }

    async def recent(self, request: web.Request) -> web.Response:
        """The latest events the bridge handled, with where each stands."""
        limit = min(int(request.query.get("limit", "50")), 500)
        rows = await asyncio.to_thread(overview.recent_events, self._redis, limit)
        return web.json_response(rows)

    async def receipt(self, request: web.Request) -> web.Response:
        """One event's receipt."""
        event_id = request.match_info["event_id"]
        found = await asyncio.to_thread(events.receipt, self._redis, event_id)
        if found is None:
            raise _Problem(404, f"no receipt for event {event_id}")
        return web.json_response(found)

    async def failed(self, _: web.Request) -> web.Response:
        """The latest failed jobs of every queue."""
        rows = await asyncio.to_thread(failed_jobs.failures, self._redis, self._queues)
        return web.json_response([asdict(row) for row in rows])

    async def dead_letters(self, _: web.Request) -> web.Response:
        """The latest dead letters of every routed topic."""
        rows: list[dict[str, Any]] = []
        for topic in self._topics:
            letters = await dead_letters.read(self._bootstrap, topic, last=LATEST)
            rows += [letter.describe(value_chars=200) for letter in letters]
        return web.json_response(rows)

    async def retry(self, request: web.Request) -> web.Response:
        """Requeue one failed job."""
        self._allowed(request)
        queue, job_id = request.match_info["queue"], request.match_info["job_id"]
        done = await asyncio.to_thread(failed_jobs.requeue, self._redis, queue, job_id, self._ttl_s)
        if done is None:
            raise _Problem(404, f"no failed job {job_id} in {queue}")
        log.info("failed_job_requeued", queue=queue, job_id=job_id, by="dashboard")
        return web.json_response(asdict(done))

    async def retry_all(self, request: web.Request) -> web.Response:
        """Requeue every failed job."""
        self._allowed(request)
        done = await asyncio.to_thread(
            failed_jobs.retry_failed, self._redis, self._queues, self._ttl_s
        )
        log.info("failed_jobs_requeued", count=len(done), by="dashboard")
        return web.json_response({"requeued": len(done)})

    async def delete(self, request: web.Request) -> web.Response:
        """Delete one failed job for good."""
        self._allowed(request)
        queue, job_id = request.match_info["queue"], request.match_info["job_id"]
        if not await asyncio.to_thread(failed_jobs.delete, self._redis, queue, job_id):
            raise _Problem(404, f"no failed job {job_id} in {queue}")
        log.info("failed_job_deleted", queue=queue, job_id=job_id, by="dashboard")
        return web.json_response({"deleted": job_id})

    async def replay(self, request: web.Request) -> web.Response:
        """Replay one dead letter through the normal path, under its own id."""
        self._allowed(request)
        topic = request.match_info["topic"]
        position = (int(request.match_info["partition"]), int(request.match_info["offset"]))
        selection = Selection(offsets=frozenset({position}))
        letters = await dead_letters.read(self._bootstrap, topic, selection)
        if not letters or not letters[0].replayable:
            raise _Problem(404, f"no replayable dead letter at {topic} {position}")
        [replayed] = await dead_letters.replay(self._bootstrap, letters)
        await asyncio.to_thread(dead_letters.note_replayed, self._redis, replayed, self._ttl_s)
        log.info("dead_letter_replayed", position=letters[0].position, by="dashboard")
        placed = {"topic": replayed.topic, "partition": replayed.partition}
        return web.json_response(
            {"event_id": replayed.letter.event_id, **placed, "offset": replayed.offset}
        )

    def _allowed(self, request: web.Request) -> None:
        if not self._actions:
            raise _Problem(403, "actions are off: start the dashboard with DASHBOARD_ACTIONS=true")
        # A page of another site must not act through the operator's browser (CSRF): a
        # browser names the page's origin on every POST; the dashboard's own is this host.
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            raise _Problem(403, f"actions come from the dashboard's own page, not {origin}")


class _Problem(Exception):  # noqa: N818 - an answer, not an error of ours
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@web.middleware
async def _problems(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refusals and outages as RFC 9457 problems, like the gateway's."""
    try:
        response: web.StreamResponse = await handler(request)
    except _Problem as problem:
        return _problem(problem.status, problem.detail)
    except (RedisError, KafkaError, OSError) as error:
        log.warning("dashboard_backend_unavailable", error=repr(error))
        return _problem(503, f"Redis or Kafka did not answer: {error}")
    return response


def _problem(status: int, detail: str) -> web.Response:
    body = {"type": "about:blank", "status": status, "detail": detail}
    return web.json_response(body, status=status, content_type="application/problem+json")
