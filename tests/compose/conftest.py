"""The compose stack (compose.yaml) with real containers, once for this package's tests.

Runs when a Docker engine with Compose v2 answers. Without one these tests are skipped with
that reason, unless NORTHBRIDGE_REQUIRE_COMPOSE=1 (set by CI), where a missing engine fails.
Each run is its own compose project on free loopback ports, removed with its volumes after.
"""

import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from northbridge_stack.ports import free_port
from tests.integration.infrastructure import engine_answers
from tests.setting_names import env_names

ROOT = Path(__file__).resolve().parents[2]
OFFLINE_IMAGES = ROOT / "deploy" / "offline" / "images.env"
# A cold build downloads every wheel; later ones reuse the layers.
UP_TIMEOUT_S = 900.0
COMMAND_TIMEOUT_S = 180.0
MAKE_TIMEOUT_S = 300.0

pytestmark = pytest.mark.compose


class ComposeError(AssertionError):
    """A docker compose command failed; the message carries its output."""


@dataclass
class ComposeStack:
    """One running compose project and the handles to observe and disturb it."""

    project: str
    env: dict[str, str]
    kafka: str  # bootstrap servers of the published HOST listener
    http: httpx.Client
    mailpit: httpx.Client
    redis: Redis

    def compose(
        self, *args: str, stdin: str | None = None, timeout: float = COMMAND_TIMEOUT_S
    ) -> str:
        """Run ``docker compose -p PROJECT ARGS``; its stdout, or ComposeError with the output."""
        argv = ["docker", "compose", "--project-name", self.project, *args]
        return self._run(argv, self.env, stdin, timeout)

    def make(self, *args: str, stdin: str = "", timeout: float = MAKE_TIMEOUT_S) -> str:
        """Run ``make ARGS`` in the repository, as a user would, on this project."""
        env = self.env | {"COMPOSE_PROJECT_NAME": self.project}
        return self._run(["make", *args], env, stdin, timeout)

    @staticmethod
    def _run(argv: list[str], env: dict[str, str], stdin: str | None, timeout: float) -> str:
        done = subprocess.run(
            argv,
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            command = " ".join(argv)
            raise ComposeError(f"`{command}` exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout

    def authorize(self, token: str) -> None:
        """Send ``token`` as the API key of every request to the gateway from now on."""
        self.http.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST ``body`` as JSON to the gateway's published port."""
        return self.http.post(path, json=body)

    def mails(self) -> list[dict[str, Any]]:
        """Every message Mailpit holds, through its API (summaries: MessageID, Subject, ...)."""
        answer = self.mailpit.get("/api/v1/messages", params={"limit": 100_000})
        answer.raise_for_status()
        messages: list[dict[str, Any]] = answer.json()["messages"]
        return messages

    def worker_of(self, job_id: str) -> str:
        """The name of the rq worker that ran ``job_id`` (rq keeps it in the job's hash)."""
        name = self.redis.hget(f"rq:job:{job_id}", "worker_name")
        return name.decode() if isinstance(name, bytes) else str(name or "")

    def message_ids(self) -> Counter[str]:
        """How many mails carry each Message-ID (Mailpit lists it without the angle brackets)."""
        return Counter(mail["MessageID"] for mail in self.mails())


def offline_images() -> dict[str, str]:
    """The stand-in image names deploy/offline/bootstrap wrote, as `make up` uses them."""
    if not OFFLINE_IMAGES.exists():
        return {}
    lines = OFFLINE_IMAGES.read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def compose_env(ports: dict[str, int]) -> dict[str, str]:
    """The environment for compose: ours, minus anything that would make the run differ.

    Service settings and compose's own COMPOSE_* variables are dropped, and a developer's
    .env is not read: the test runs the defaults of compose.yaml, on its own ports.
    """
    settings = set(env_names())
    env = offline_images()
    env |= {
        name: value
        for name, value in os.environ.items()
        if name not in settings and not name.startswith("COMPOSE_")
    }
    env |= {name: str(port) for name, port in ports.items()}
    env |= {
        "COMPOSE_DISABLE_ENV_FILE": "1",
        "PUBLISH_ADDRESS": "127.0.0.1",
        "PUBLISH_KAFKA_HOST": "127.0.0.1",
        "NORTHBRIDGE_TAG": "test",
    }
    return env


def require_engine() -> None:
    """Skip without a Docker engine, or fail when CI demands one."""
    if not engine_answers():
        reason = "no Docker engine with Compose v2 answers; the compose tests need one"
        if os.environ.get("NORTHBRIDGE_REQUIRE_COMPOSE") == "1":
            pytest.fail(f"{reason} (NORTHBRIDGE_REQUIRE_COMPOSE=1)")
        pytest.skip(reason)


@contextmanager
def compose_project() -> Iterator[ComposeStack]:
    """A compose project of our own on free ports; nothing runs until it is brought up.

    Whatever ran in it is removed with its volumes at the end.
    """
    require_engine()
    ports = {
        name: free_port()
        for name in (
            "PUBLISH_GATEWAY_PORT",
            "PUBLISH_KAFKA_PORT",
            "PUBLISH_REDIS_PORT",
            "PUBLISH_MAILPIT_PORT",
            "PUBLISH_SMTP_PORT",
            "PUBLISH_DASHBOARD_PORT",
        )
    }
    project = f"northbridge-test-{uuid.uuid4().hex[:8]}"
    redis = Redis(port=ports["PUBLISH_REDIS_PORT"])
    with (
        httpx.Client(
            base_url=f"http://127.0.0.1:{ports['PUBLISH_GATEWAY_PORT']}", timeout=30
        ) as http,
        httpx.Client(
            base_url=f"http://127.0.0.1:{ports['PUBLISH_MAILPIT_PORT']}", timeout=30
        ) as mailpit,
    ):
        kafka = f"127.0.0.1:{ports['PUBLISH_KAFKA_PORT']}"
        system = ComposeStack(project, compose_env(ports), kafka, http, mailpit, redis)
        try:
            yield system
        except ComposeError as error:
            logs = system.compose("logs", "--no-color", "--tail", "40")
            raise ComposeError(f"{error}\n--- last log lines ---\n{logs}") from None
        finally:
            system.compose("down", "--volumes", "--remove-orphans", "--timeout", "10")
            redis.close()


# Module scope: the next module's stack starts only after this one is gone (2 cores).
@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    with compose_project() as system:
        system.compose(
            "up", "--detach", "--build", "--wait", "--scale", "email-worker=1",
            timeout=UP_TIMEOUT_S,
        )  # fmt: skip
        # compose asks for API keys by default; the operator's command makes one.
        made = system.compose("exec", "-T", "dashboard", "northbridge", "keys", "create", "tests")
        system.authorize(made.strip())
        yield system
