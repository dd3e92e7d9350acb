"""`make up`, `key`, `produce`, `ps`, `down` in compose mode: what a user types."""

import uuid
from pathlib import Path

import pytest

from northbridge_shared.contracts import NORTH_TOPIC
from tests.integration.support import wait_for

from .conftest import UP_TIMEOUT_S, ComposeStack, compose_project

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1200)]

MAIL_TIMEOUT_S = 60.0


def subjects(system: ComposeStack) -> list[str]:
    return [mail["Subject"] for mail in system.mails()]


def test_make_drives_the_compose_stack(tmp_path: Path) -> None:
    # Our own mode and size files: a developer's running stack keeps its .stack/mode.
    mode, nodes = tmp_path / "state" / "mode", tmp_path / "state" / "kafka-nodes"
    options = ("MODE=compose", f"MODE_FILE={mode}", f"KAFKA_NODES_FILE={nodes}")
    with compose_project() as system:
        shown = system.make("up", *options, "WORKERS=1", timeout=UP_TIMEOUT_S)
        assert f"gateway http://127.0.0.1:{system.env['PUBLISH_GATEWAY_PORT']}" in shown
        assert mode.read_text().strip() == "compose"
        assert nodes.read_text().strip() == "1"

        refused = system.post("/v1/North", {"name": "ada", "loc": "make"})
        assert refused.status_code == 401, refused.text  # compose asks for API keys
        system.authorize(system.make("key", *options, "CLIENT=make-tests").strip())
        answer = system.post("/v1/North", {"name": "ada", "loc": "make"})
        assert answer.status_code == 202, answer.text
        name = f"produced-{uuid.uuid4().hex[:8]}"
        system.make(
            "produce",
            *options,
            f"TOPIC={NORTH_TOPIC}",
            stdin=f'{{"name": "{name}", "loc": "make"}}\n',
        )
        wait_for(
            lambda: (
                {"Notification: ada in make", f"Notification: {name} in make"}
                <= set(subjects(system))
            ),
            timeout=MAIL_TIMEOUT_S,
            what="the posted and the produced event's mails",
        )

        system.make("up", *options, "WORKERS=3", "BRIDGES=2", timeout=UP_TIMEOUT_S)
        workers = system.compose("ps", "--quiet", "email-worker").split()
        assert len(workers) == 3
        assert len(system.compose("ps", "--quiet", "bridge").split()) == 2
        assert "gateway" in system.make("ps", *options)

        system.make("down", *options)
        assert system.compose("ps", "--all", "--quiet").split() == []
        assert not mode.exists()
        assert not nodes.exists()
