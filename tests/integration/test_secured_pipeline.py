"""End to end with TLS and credentials on every link: Kafka SASL_SSL, Redis TLS, SMTP STARTTLS.

A broker with a SASL_SSL listener (SCRAM-SHA-512), a redis-server on its TLS port only with a
password, a Mailpit demanding STARTTLS and a login, all on one CA of the test's own. The
gateway (with API keys on), the bridge and a worker get every secret from a file, as compose
secrets give them; the event is mailed once, and no secret is in any of their log lines.
"""

import subprocess
import sys
import uuid
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import httpx

from northbridge_stack import services
from northbridge_stack.mailbox import Mailbox
from northbridge_stack.ports import free_port
from northbridge_stack.processes import ManagedProcess
from northbridge_stack.topics import create_topics

from . import secured
from .conftest import Pipeline, spawn
from .support import wait_for_mail

SECRETS = {name: f"{name}-{uuid.uuid4().hex}" for name in ("kafka", "redis", "smtp")}


def test_every_link_with_tls_and_credentials(pipeline: Pipeline, tmp_path: Path) -> None:
    certs = secured.certificates(tmp_path / "tls")
    files = {n: secured.secret_file(tmp_path, f"{n}-password", s) for n, s in SECRETS.items()}
    broker, sasl_port = secured.kafka(tmp_path / "kafka", certs, SECRETS["kafka"])
    redis_server, redis_url = secured.redis(tmp_path / "redis", certs, SECRETS["redis"])
    mail_server = secured.mailpit(tmp_path / "mailpit", certs, SECRETS["smtp"])
    port = free_port()
    env = pipeline.env | {
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{sasl_port}",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_PLAIN_USERNAME": secured.USER,
        "KAFKA_SASL_PLAIN_PASSWORD_FILE": str(files["kafka"]),
        "KAFKA_SSL_CAFILE": str(certs.ca),
        "REDIS_URL": redis_url,
        "REDIS_PASSWORD_FILE": str(files["redis"]),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mail_server.smtp_port),
        "SMTP_STARTTLS": "true",
        "SMTP_CA_FILE": str(certs.ca),
        "SMTP_USERNAME": secured.USER,
        "SMTP_PASSWORD_FILE": str(files["smtp"]),
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_AUTH": "api-key",
        "BRIDGE_METRICS_PORT": "0",
        "WORKER_METRICS_PORT": "0",
        "BRIDGE_HEARTBEAT_FILE": str(tmp_path / "bridge.alive"),
        "WORKER_HEARTBEAT_FILE": str(tmp_path / "worker.alive"),
    }
    started: list[ManagedProcess] = []
    with ExitStack() as servers:
        servers.enter_context(broker)
        create_topics(broker.bootstrap_servers)  # over the plain listener, as an operator
        servers.enter_context(redis_server)
        servers.enter_context(mail_server)
        try:
            for service in (services.gateway(), services.bridge(), services.worker(99)):
                process = spawn(service, tmp_path, env)
                started.append(process)
                process.wait_until(partial(services.ready, service, env), timeout=90, what="ready")
            made = subprocess.run(
                [sys.executable, "-m", "northbridge_ops", "keys", "create", "secured"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            token = made.stdout.strip()
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                answer = http.post(
                    "/v1/South",
                    json={"name": "ada", "loc": "secured"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert answer.status_code == 202, answer.text
                event_id = answer.json()["id"]
            (mail,) = wait_for_mail(Mailbox(mail_server.url), event_id, timeout=60)
            assert mail.event_id == event_id
        finally:
            for process in reversed(started):
                process.stop()
    logs = "\n".join(process.log_since_spawn() for process in started)
    leaked = [name for name, secret in SECRETS.items() if secret in logs]
    assert leaked == []
    assert token not in logs
