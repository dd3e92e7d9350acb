"""The Kubernetes manifests of deploy/k8s, as kustomize builds them, and what checks them.

kustomize and KEDA's files come from ``make k8s-tools`` (``make install`` runs it), pinned in
deploy/k8s/tools.env and kept in the per-machine cache; a missing one fails the tests rather
than skipping them, on a laptop as in CI.
"""

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
import yaml
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
# Every environment: a folder of overlays/ with a kustomization.
OVERLAYS = sorted(path.parent for path in (K8S / "overlays").glob("*/kustomization.yaml"))
# Where every pod mounts the Secret's files (each Deployment's volumeMounts), which the *_FILE
# settings name.
SECRETS_DIR = "/etc/northbridge/secrets"
# KEDA's scalers used here, by trigger type: the source file whose struct tags name their
# parameters (kafkaMetadata, redisMetadata).
SCALER_SOURCES = {"kafka": "kafka_scaler.go", "redis": "redis_scaler.go"}

Manifest = dict[str, Any]
S = TypeVar("S", bound=BaseSettings)


class Effective(Protocol):
    """The ``effective`` fixture: a settings model as a pod of ``overlay`` loads it."""

    def __call__(self, model: type[S], overlay: Path) -> S:
        """The model, read from the overlay's ConfigMap alone."""


@cache
def tools() -> dict[str, str]:
    """deploy/k8s/tools.env: KUSTOMIZE_VERSION, KEDA_VERSION, KUBERNETES_VERSION."""
    lines = (K8S / "tools.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return dict(pairs)


def _installed(relative: str) -> Path:
    """A file ``make k8s-tools`` puts under ~/.cache/northbridge (as the Makefile names it)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "northbridge" / relative
    if not path.exists():
        pytest.fail(f"{path} is missing: run make k8s-tools (make install runs it)")
    return path


@cache
def build(overlay: Path) -> list[Manifest]:
    """``kustomize build`` of ``overlay``: every object it renders."""
    kustomize = _installed(f"bin/kustomize-{tools()['KUSTOMIZE_VERSION']}")
    done = subprocess.run(
        [str(kustomize), "build", str(overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    """The objects of ``kind``, by name."""
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def settings(manifests: list[Manifest]) -> dict[str, str]:
    """The services' settings: the data of the one ConfigMap every pod reads (envFrom)."""
    (configmap,) = of_kind(manifests, "ConfigMap").values()
    data: dict[str, str] = configmap["data"]
    return data


def container(manifests: list[Manifest], service: str) -> Manifest:
    """The one container of ``service``'s Deployment (a service is one process tree)."""
    (only,) = pod(manifests, service)["containers"]
    assert isinstance(only, dict)
    return only


def pod(manifests: list[Manifest], service: str) -> Manifest:
    """The pod spec of ``service``'s Deployment."""
    spec: Manifest = of_kind(manifests, "Deployment")[service]["spec"]["template"]["spec"]
    return spec


@cache
def keda_schema(kind: str, api_version: str) -> dict[str, Any]:
    """KEDA's own openAPIV3Schema for ``kind`` at ``api_version``, strict (see :func:`strict`)."""
    crd_file = _installed(f"keda-{tools()['KEDA_VERSION']}/keda.sh_{kind.lower()}s.yaml")
    crd = yaml.safe_load(crd_file.read_text())
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group, (crd["spec"]["group"], api_version)
    (served,) = (v for v in crd["spec"]["versions"] if v["name"] == version)
    schema: dict[str, Any] = strict(served["schema"]["openAPIV3Schema"])
    return schema


def strict(schema: Any) -> Any:
    """``schema`` refusing fields it does not list, as the API server's strict validation does.

    A CRD's schema lists each object's fields and the API server drops any other (or, asked
    for strict field validation, refuses it); JSON Schema would let them through. So every
    object schema with properties gets ``additionalProperties: false``, except where the CRD
    keeps unknown fields on purpose.
    """
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    made = {key: strict(value) for key, value in schema.items() if key != "properties"}
    if "properties" in schema:
        made["properties"] = {name: strict(s) for name, s in schema["properties"].items()}
        if "additionalProperties" not in schema:
            keeps_unknown = schema.get("x-kubernetes-preserve-unknown-fields", False)
            made["additionalProperties"] = bool(keeps_unknown)
    return made


@dataclass(frozen=True)
class ScalerParameters:
    """What one KEDA scaler reads, by where it reads it from."""

    metadata: frozenset[str]  # a trigger's metadata keys
    from_env: frozenset[str]  # keys that may be given as <key>FromEnv
    auth: frozenset[str]  # TriggerAuthentication parameters


# A field's tag in KEDA's typed config: keda:"name=lagThreshold,order=triggerMetadata,...";
# names and orders are ;-separated lists.
_TAG = re.compile(r'keda:"name=([^,"]+),\s*order=([^,"]+)')


@cache
def scaler_parameters(trigger_type: str) -> ScalerParameters:
    """The parameters of KEDA's ``trigger_type`` scaler, from its source's struct tags.

    KEDA ignores a metadata key it does not know (it only logs one, behind a feature flag), so
    a misspelt ``lagTreshold`` would silently scale on the default: the tags are the list.
    """
    source = _installed(f"keda-{tools()['KEDA_VERSION']}/{SCALER_SOURCES[trigger_type]}")
    found: dict[str, set[str]] = {
        "triggerMetadata": set(),
        "resolvedEnv": set(),
        "authParams": set(),
    }
    for names, orders in _TAG.findall(source.read_text()):
        for order in (o.strip() for o in orders.split(";")):
            found[order] |= {name.strip() for name in names.split(";")}
    return ScalerParameters(
        frozenset(found["triggerMetadata"]),
        frozenset(found["resolvedEnv"]),
        frozenset(found["authParams"]),
    )
