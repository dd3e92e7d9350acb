"""compose.yaml and the Dockerfiles: valid, linted, and in step with the code's contracts."""

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from northbridge_shared.contracts import NORTH_TOPIC, SOUTH_TOPIC, dead_letter_topic
from tests.compose_files import load
from tests.setting_names import READS, env_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
# compose.yaml, and what `make up KAFKA_NODES=3` adds on top of it.
COMPOSE_FILES = [COMPOSE_FILE, ROOT / "compose.kafka-3.yaml"]
DOCKERFILES = sorted(ROOT.glob("deploy/**/Dockerfile"))
BIN = Path(sys.executable).parent  # the dev tools live next to the interpreter in the venv


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_compose_file_matches_the_compose_spec_schema(path: Path, tmp_path: Path) -> None:
    # As JSON: check-jsonschema's YAML parser does not know compose's merge tags (!override).
    plain = tmp_path / f"{path.stem}.json"
    plain.write_text(json.dumps(load(path)))
    done = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(plain))
    assert done.returncode == 0, done.stdout + done.stderr


def test_there_are_dockerfiles_to_lint() -> None:
    """The service image and the offline stand-ins (python, kafka, redis, mailpit)."""
    assert len(DOCKERFILES) >= 5, DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    done = run(str(BIN / "hadolint"), str(dockerfile))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("service", sorted(READS))
def test_every_setting_reaches_its_service(service: str) -> None:
    """A setting compose does not pass would be silently ignored in the container."""
    passed = set(compose()["services"][service]["environment"])
    wanted = {name for name in env_names() if name.startswith(READS[service])}
    assert sorted(wanted - passed) == []


def test_kafka_init_creates_the_contract_topics() -> None:
    script = compose()["services"]["kafka-init"]["command"][0]
    created = set(re.findall(r"^create (\S+) ", script, re.MULTILINE))
    topics = {NORTH_TOPIC, SOUTH_TOPIC}
    assert created == topics | {dead_letter_topic(topic) for topic in topics}


def test_email_worker_scales() -> None:
    """`--scale email-worker=N` fails on a fixed container name or host port."""
    worker = compose()["services"]["email-worker"]
    assert "container_name" not in worker
    # address::container-port: the host port is Docker's to pick, one per container.
    assert all("::" in port for port in worker.get("ports", []))


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_compose_variable_is_documented(document: str) -> None:
    variables = {
        name
        for path in COMPOSE_FILES
        for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*)", path.read_text())
    }
    text = (ROOT / document).read_text()
    assert sorted(name for name in variables if not re.search(rf"\b{name}\b", text)) == []
