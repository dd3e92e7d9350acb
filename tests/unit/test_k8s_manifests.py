"""deploy/k8s builds, every object it renders is valid, and no secret is in it.

Built by kustomize itself; the Kubernetes objects checked against the API's own schemas at the
pinned Kubernetes version, KEDA's against KEDA's CRDs, strict: an unknown or misspelt field
fails, as ``kubectl apply --validate=strict`` would refuse it.
"""

import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from tests.manifests import (
    OVERLAYS,
    ROOT,
    Manifest,
    build,
    keda_schema,
    of_kind,
    scaler_parameters,
    tools,
)

KEDA_KINDS = ("ScaledObject", "TriggerAuthentication")
SECRET_NAME = "northbridge-secrets"  # noqa: S105 - its name; the operator holds its contents


def overlay_id(overlay: Path) -> str:
    return overlay.name


pytestmark = pytest.mark.parametrize("overlay", OVERLAYS, ids=overlay_id)


def test_there_are_environments(overlay: Path) -> None:
    """Staging and production, each a kustomization of its own over the one base."""
    assert {path.name for path in OVERLAYS} >= {"staging", "production"}
    assert build(overlay), f"{overlay} renders nothing"


def test_kubernetes_objects_match_the_api(overlay: Path) -> None:
    """Every object but KEDA's is valid for the pinned Kubernetes, unknown fields refused."""
    version = tools()["KUBERNETES_VERSION"]
    problems = []
    for manifest in build(overlay):
        if manifest["kind"] in KEDA_KINDS:
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(map(str, error.path))
            problems.append(f"{_name(manifest)} {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{_name(manifest)}: {error.message}")  # no kind goes unchecked
    assert problems == []


def test_keda_objects_match_keda_crds(overlay: Path) -> None:
    """ScaledObjects and TriggerAuthentications are valid for KEDA's own CRD schemas."""
    keda = [m for m in build(overlay) if m["kind"] in KEDA_KINDS]
    assert {m["kind"] for m in keda} == set(KEDA_KINDS)
    problems = []
    for manifest in keda:
        schema = keda_schema(manifest["kind"], manifest["apiVersion"])
        validator = jsonschema.Draft202012Validator(schema)
        problems += [
            f"{_name(manifest)} {'.'.join(map(str, e.path))}: {e.message}"
            for e in validator.iter_errors(manifest)
        ]
        # The CRD leaves metadata to the API server, which holds it to ObjectMeta's schema.
        holder = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": manifest["metadata"]}
        try:
            kubernetes_validate.validate(holder, tools()["KUBERNETES_VERSION"], strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{_name(manifest)} metadata: {error.message}")
    assert problems == []


def test_triggers_name_only_their_scalers_parameters(overlay: Path) -> None:
    """Each trigger's metadata, and each TriggerAuthentication, names what KEDA's scaler reads.

    KEDA does not refuse an unknown key; it would scale on the default instead.
    """
    manifests = build(overlay)
    authentications = of_kind(manifests, "TriggerAuthentication")
    problems = []
    for scaled in of_kind(manifests, "ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            known = scaler_parameters(trigger["type"])
            for key in trigger["metadata"]:
                plain = key.removesuffix("FromEnv")
                allowed = known.from_env if key.endswith("FromEnv") else known.metadata
                if plain not in allowed:
                    problems.append(f"{_name(scaled)} {trigger['name']}: {key}")
            authentication = authentications[trigger["authenticationRef"]["name"]]
            # env, secretTargetRef, configMapTargetRef: each a list of {parameter, ...}.
            sources = [s for s in authentication["spec"].values() if isinstance(s, list)]
            for parameter in (ref["parameter"] for source in sources for ref in source):
                if parameter not in known.auth:
                    problems.append(f"{_name(authentication)}: {parameter} ({trigger['type']})")
    assert problems == []


def test_secrets_are_the_operators_and_documented(overlay: Path) -> None:
    """No Secret is rendered (none is in the repository); every reference is one Secret's key.

    The operator creates that Secret (README, Kubernetes), so the README names every key.
    """
    manifests = build(overlay)
    assert of_kind(manifests, "Secret") == {}
    references = _secret_references(manifests)
    assert {name for name, _ in references} == {SECRET_NAME}
    readme = (ROOT / "README.md").read_text()
    keys = sorted({key for _, key in references})
    assert [key for key in keys if not re.search(rf"`{re.escape(key)}`", readme)] == []
    assert SECRET_NAME in readme


def _secret_references(manifests: list[Manifest]) -> set[tuple[str, str]]:
    """(Secret, key) for every Secret volume item and every TriggerAuthentication reference."""
    found = set()
    for deployment in of_kind(manifests, "Deployment").values():
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                secret = volume["secret"]
                found |= {(secret["secretName"], item["key"]) for item in secret["items"]}
    for authentication in of_kind(manifests, "TriggerAuthentication").values():
        for ref in authentication["spec"].get("secretTargetRef", []):
            found.add((ref["name"], ref["key"]))
    return found


def _name(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"
