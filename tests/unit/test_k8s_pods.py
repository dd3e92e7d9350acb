"""deploy/k8s runs each service as the service itself expects to run.

Real settings, its secrets mounted, its own health checks on its own ports, a grace period
over its drain, sized, and one release for all three. Each environment
(deploy/k8s/overlays/*) is checked as kustomize builds it.
"""

import importlib.util
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from northbridge_bridge.consume import COMMIT_TIMEOUT_S
from northbridge_bridge.settings import BridgeSettings
from northbridge_email_worker.settings import SmtpSettings, WorkerSettings
from northbridge_gateway import openapi
from northbridge_gateway.settings import GatewaySettings
from northbridge_shared.settings import JobSettings
from tests.manifests import (
    OVERLAYS,
    SECRETS_DIR,
    Effective,
    Manifest,
    build,
    container,
    of_kind,
    pod,
    settings,
)
from tests.setting_names import READS, env_names, models_read_by

SERVICES = ("gateway", "bridge", "email-worker")
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def overlay_id(overlay: Path) -> str:
    return overlay.name


pytestmark = pytest.mark.parametrize("overlay", OVERLAYS, ids=overlay_id)


def test_settings_are_real_settings(overlay: Path) -> None:
    """Every variable of the ConfigMap is a setting a service reads (a typo would be ignored)."""
    assert sorted(set(settings(build(overlay))) - set(env_names())) == []


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_accepts_its_settings(
    overlay: Path, service: str, effective: Effective
) -> None:
    """Every settings model the service loads at start takes the ConfigMap's values."""
    for model in models_read_by(service):
        effective(model, overlay)


def test_no_service_is_left_on_loopback(overlay: Path) -> None:
    """Each setting whose default points at this machine (Kafka, Redis, SMTP) is set."""
    loopback = {
        f"{model.model_config.get('env_prefix', '')}{field}".upper()
        for service in SERVICES
        for model in models_read_by(service)
        for field, info in model.model_fields.items()
        if "127.0.0.1" in str(info.default)
    }
    assert loopback, "no default names 127.0.0.1 any more: this rule needs another way"
    assert sorted(loopback - set(settings(build(overlay)))) == []


@pytest.mark.parametrize("service", SERVICES)
def test_secret_files_are_mounted(overlay: Path, service: str) -> None:
    """Each secret file the service's settings name is an item of the Secret its pod mounts."""
    manifests = build(overlay)
    named = {
        Path(value).name
        for name, value in settings(manifests).items()
        if name.startswith(READS[service]) and value.startswith(SECRETS_DIR + "/")
    }
    mounts = container(manifests, service)["volumeMounts"]
    (mount,) = (m for m in mounts if m["mountPath"] == SECRETS_DIR)
    (volume,) = (v for v in pod(manifests, service)["volumes"] if v["name"] == mount["name"])
    assert sorted(named - {item["path"] for item in volume["secret"]["items"]}) == []


def test_gateway_processes_fit_its_cpu_limit(overlay: Path, effective: Effective) -> None:
    """GATEWAY_WORKERS is set (Python would count the node's CPUs) and within the CPU limit."""
    manifests = build(overlay)
    assert "GATEWAY_WORKERS" in settings(manifests)
    cores = _quantity(container(manifests, "gateway")["resources"]["limits"]["cpu"])
    assert effective(GatewaySettings, overlay).workers <= cores


@pytest.mark.parametrize("service", SERVICES)
def test_requests_and_limits_are_set(overlay: Path, service: str) -> None:
    """CPU and memory, requested and limited, the limit at least the request."""
    resources = container(build(overlay), service)["resources"]
    requests, limits = resources["requests"], resources["limits"]
    assert set(requests) == set(limits) == {"cpu", "memory"}
    assert all(_quantity(requests[r]) <= _quantity(limits[r]) for r in requests), resources


# Kubernetes' quantity suffixes used here: millicores and binary bytes.
SUFFIXES = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def _quantity(text: str) -> float:
    for suffix, factor in SUFFIXES.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


@pytest.mark.parametrize("service", SERVICES)
def test_probes_run_the_services_own_checks(overlay: Path, service: str) -> None:
    """Each probe is the service's own check, and a liveness probe is among them.

    An exec probe runs the service's own health module (its image has only its package), an
    HTTP probe a path the gateway serves (its OpenAPI document, which the tests hold to it).
    """
    spec = container(build(overlay), service)
    assert "livenessProbe" in spec
    package = "northbridge_" + service.replace("-", "_")  # the one its image installs
    paths = openapi.document(GatewaySettings())["paths"]
    for probe in (spec[kind] for kind in PROBES if kind in spec):
        if "exec" in probe:
            python, flag, module = probe["exec"]["command"]
            assert (python, flag) == ("python", "-m")
            assert module.startswith(f"{package}."), module
            assert importlib.util.find_spec(module) is not None, module
        else:
            assert service == "gateway", probe
            assert "get" in paths[probe["httpGet"]["path"]]


def test_readiness_waits_for_readyz(overlay: Path, effective: Effective) -> None:
    """The readiness probe's timeout outlasts /readyz's own wait (GATEWAY_PUBLISH_TIMEOUT_S)."""
    probe = container(build(overlay), "gateway")["readinessProbe"]
    assert probe["httpGet"]["path"] == "/readyz"
    assert probe["timeoutSeconds"] > effective(GatewaySettings, overlay).publish_timeout_s


PORTS: list[tuple[str, type[BaseSettings], str]] = [
    ("gateway", GatewaySettings, "port"),
    ("bridge", BridgeSettings, "metrics_port"),
    ("email-worker", WorkerSettings, "metrics_port"),
]


@pytest.mark.parametrize(("service", "model", "field"), PORTS)
def test_ports_are_the_services_ports(
    overlay: Path, service: str, model: type[BaseSettings], field: str, effective: Effective
) -> None:
    """Each container declares the port its settings listen on; the Service targets it."""
    manifests = build(overlay)
    (declared,) = container(manifests, service)["ports"]
    assert declared["containerPort"] == getattr(effective(model, overlay), field)
    for service_object in of_kind(manifests, "Service").values():
        if service_object["spec"]["selector"] == {"app.kubernetes.io/name": service}:
            targets = {port["targetPort"] for port in service_object["spec"]["ports"]}
            assert targets <= {declared["name"], declared["containerPort"]}


def test_grace_outlasts_each_drain(overlay: Path, effective: Effective) -> None:
    """The grace period covers each service's own bounded drain on SIGTERM.

    Gateway: the preStop sleep, then gunicorn's GATEWAY_GRACEFUL_TIMEOUT_S. Bridge: the poll
    in progress and the commit's bound. Worker: the job in hand (JOB_TIMEOUT_S), then QUIT to
    the relay (SMTP_TIMEOUT_S).
    """
    manifests = build(overlay)
    sleep = container(manifests, "gateway")["lifecycle"]["preStop"]["sleep"]["seconds"]
    poll_s = effective(BridgeSettings, overlay).poll_timeout_ms / 1000
    drains = {
        "gateway": sleep + effective(GatewaySettings, overlay).graceful_timeout_s,
        "bridge": poll_s + COMMIT_TIMEOUT_S,
        "email-worker": effective(JobSettings, overlay).timeout_s
        + effective(SmtpSettings, overlay).timeout_s,
    }
    short = {
        service: (pod(manifests, service)["terminationGracePeriodSeconds"], drain)
        for service, drain in drains.items()
        if pod(manifests, service)["terminationGracePeriodSeconds"] <= drain
    }
    assert short == {}, "(grace, drain) in seconds"


def test_images_are_one_release(overlay: Path) -> None:
    """The three images are one registry's and one tag, each named for its service."""
    images = {name: _image(d) for name, d in of_kind(build(overlay), "Deployment").items()}
    assert set(images) == set(SERVICES)
    releases = {image.rpartition(":")[2] for image in images.values()}
    registries = {
        image.rpartition(":")[0].removesuffix(f"/{name}") for name, image in images.items()
    }
    assert len(releases) == 1, images
    assert len(registries) == 1, images


def _image(deployment: Manifest) -> str:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    image: str = only["image"]
    return image
