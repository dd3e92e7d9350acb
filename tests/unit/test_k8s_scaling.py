"""deploy/k8s scales each part within what Kafka, rq and disruptions allow.

KEDA's ScaledObjects read the same Kafka group and topics, and the same Redis queues, as the
services; the bridge stops where partitions run out; a worker always runs (rq's scheduler
lives in the workers); every Deployment has a PodDisruptionBudget that selects it alone.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rq import Queue

from northbridge_bridge.settings import BridgeSettings
from northbridge_email_worker.settings import WorkerSettings
from northbridge_shared.settings import KafkaSettings, RedisSettings
from northbridge_stack.kafka import DEFAULT_PARTITIONS
from tests.manifests import OVERLAYS, Effective, Manifest, build, of_kind, settings

# KEDA's Kafka scaler's name for each of the services' SASL mechanisms (KAFKA_SASL_MECHANISM).
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
# Each scaler's threshold per replica, which the formula's target must repeat.
THRESHOLDS = {"kafka": "lagThreshold", "redis": "listLength"}


def overlay_id(overlay: Path) -> str:
    return overlay.name


pytestmark = pytest.mark.parametrize("overlay", OVERLAYS, ids=overlay_id)


def scaled_object(overlay: Path, name: str) -> Manifest:
    spec: Manifest = of_kind(build(overlay), "ScaledObject")[name]["spec"]
    return spec


def test_keda_owns_the_replicas_it_scales(overlay: Path) -> None:
    """Each ScaledObject targets a Deployment that names no replicas, with 1 <= min <= max.

    A count in the Deployment would be set back by every apply, undoing KEDA's.
    """
    manifests = build(overlay)
    deployments = of_kind(manifests, "Deployment")
    for spec in (s["spec"] for s in of_kind(manifests, "ScaledObject").values()):
        assert "replicas" not in deployments[spec["scaleTargetRef"]["name"]]["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]


def test_triggers_are_summed_per_replica(overlay: Path) -> None:
    """Each ScaledObject's formula adds its triggers, against the threshold each trigger has."""
    for spec in (s["spec"] for s in of_kind(build(overlay), "ScaledObject").values()):
        modifiers, triggers = spec["advanced"]["scalingModifiers"], spec["triggers"]
        formula = modifiers["formula"]
        assert sorted(re.findall(r"\w+", formula)) == sorted(t["name"] for t in triggers)
        assert set(re.findall(r"[^\w\s]", formula)) == {"+"}, formula
        thresholds = {t["metadata"][THRESHOLDS[t["type"]]] for t in triggers}
        assert thresholds == {modifiers["target"]}
        assert modifiers["metricType"] == "AverageValue"


def test_bridges_never_outnumber_partitions(overlay: Path, effective: Effective) -> None:
    """At most one bridge per partition of the routed topics: one more would idle.

    The group's round-robin assignor (aiokafka's default) deals every partition of every
    topic; each has deploy/kafka's num.partitions.
    """
    routes = effective(BridgeSettings, overlay).routes
    maximum = scaled_object(overlay, "bridge")["maxReplicaCount"]
    assert maximum <= DEFAULT_PARTITIONS * len(routes)


def test_bridge_scales_on_its_groups_lag(overlay: Path, effective: Effective) -> None:
    """A Kafka trigger per routed topic, for the bridge's group, on the services' own Kafka.

    The same bootstrap servers (read from the ConfigMap), TLS and SASL mechanism.
    """
    bridge, kafka = effective(BridgeSettings, overlay), effective(KafkaSettings, overlay)
    triggers = [t["metadata"] for t in scaled_object(overlay, "bridge")["triggers"]]
    assert sorted(t["topic"] for t in triggers) == sorted(bridge.routes)
    assert {t["consumerGroup"] for t in triggers} == {bridge.group_id}
    assert {t["bootstrapServersFromEnv"] for t in triggers} == {"KAFKA_BOOTSTRAP_SERVERS"}
    assert "KAFKA_BOOTSTRAP_SERVERS" in settings(build(overlay))
    tls = "enable" if kafka.security_protocol in ("SSL", "SASL_SSL") else "disable"
    assert {t.get("tls", "disable") for t in triggers} == {tls}
    sasl = KEDA_SASL[kafka.sasl_mechanism] if kafka.security_protocol.startswith("SASL") else None
    assert {t.get("sasl") for t in triggers} == {sasl}


def test_workers_scale_on_their_queues(overlay: Path, effective: Effective) -> None:
    """A Redis trigger per queue the workers drain (rq's key for it), on the services' Redis.

    REDIS_URL's host, port, database and TLS.
    """
    queues = effective(WorkerSettings, overlay).queues
    url = urlsplit(effective(RedisSettings, overlay).url)
    triggers = [t["metadata"] for t in scaled_object(overlay, "email-worker")["triggers"]]
    assert sorted(t["listName"] for t in triggers) == sorted(
        Queue.redis_queue_namespace_prefix + queue for queue in queues
    )
    for trigger in triggers:
        assert trigger.get("address") == f"{url.hostname}:{url.port or 6379}"
        assert trigger.get("databaseIndex", "0") == (url.path.strip("/") or "0")
        assert trigger.get("enableTLS", "false") == str(url.scheme == "rediss").lower()


def test_a_worker_always_runs(overlay: Path) -> None:
    """The workers never scale to zero: rq's scheduler lives in them.

    It puts due retries back on their queue; with no worker they would wait unseen, and no
    queue length would scale one up for them.
    """
    assert scaled_object(overlay, "email-worker")["minReplicaCount"] >= 1


def test_each_deployment_has_its_own_disruption_budget(overlay: Path) -> None:
    """Every PodDisruptionBudget selects exactly one Deployment's pods, and each has one."""
    manifests = build(overlay)
    budgets = of_kind(manifests, "PodDisruptionBudget")
    selected = {
        name: sorted(
            deployment
            for deployment, spec in of_kind(manifests, "Deployment").items()
            if budget["spec"]["selector"]["matchLabels"].items()
            <= spec["spec"]["template"]["metadata"]["labels"].items()
        )
        for name, budget in budgets.items()
    }
    covered = sorted(deployment for names in selected.values() for deployment in names)
    assert covered == sorted(of_kind(manifests, "Deployment"))
    assert all(len(deployments) == 1 for deployments in selected.values()), selected
