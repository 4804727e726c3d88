"""The Kubernetes manifests, checked without a cluster: every resource against Kubernetes' own schemas (strict: an
unknown or misspelt field fails), every file a kustomization names present, the overlays naming workloads the base
has, and the pods as docs/kubernetes.md describes them. ``make lint`` runs checkov over the same files."""

from __future__ import annotations

import secrets
from typing import Any

import kubernetes_validate
import pytest

from bot.queue import QUEUE_DEPTH_SQL
from core.settings import load_settings
from tests.deploy_manifests import ROOT, documents, keda_trigger_query, rendered, resources

KUBERNETES_VERSION = "1.30.0"
"""The oldest release the manifests are checked against (the Discord shards need 1.28's pod-index label)."""
WORKLOADS = ("Deployment", "StatefulSet", "Job")


def test_every_kubernetes_resource_passes_the_schemas_strictly() -> None:
    checked = 0
    for path, resource in resources():
        if resource["apiVersion"].startswith("keda.sh/"):  # KEDA's own kinds: not in Kubernetes' schemas
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.relative_to(ROOT)}: {resource['kind']} {resource['metadata']['name']}: {error}")
        checked += 1
    assert checked >= 12


@pytest.mark.parametrize("overlay", ["small", "production"])
def test_each_overlay_builds_into_valid_resources_that_refer_to_each_other(overlay: str) -> None:
    built = rendered(overlay)
    kinds = sorted(resource["kind"] for resource in built)
    for resource in built:
        if not resource["apiVersion"].startswith("keda.sh/"):
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    (config,) = [resource for resource in built if resource["kind"] == "ConfigMap"]
    for resource in built:  # the generated config map's name (with its hash) is the one every pod reads
        if resource["kind"] in WORKLOADS:
            (container,) = resource["spec"]["template"]["spec"]["containers"]
            assert {"configMapRef": {"name": config["metadata"]["name"]}} in container["envFrom"]
            assert container["image"] == "registry.example.com/threadwise:0.1.0"
    replicas = {r["metadata"]["name"]: r["spec"].get("replicas") for r in built if r["kind"] in WORKLOADS}
    # One Discord shard per replica: the pods' index is their shard.
    assert config["data"]["DISCORD_SHARD_COUNT"] == str(replicas["threadwise-discord"])
    if overlay == "production":
        assert kinds.count("ScaledObject") == 1 and replicas["threadwise-web"] == 2
        assert replicas["threadwise-worker"] is None  # the autoscaler's alone: an apply must not reset it
    else:
        assert "ScaledObject" not in kinds and replicas["threadwise-worker"] == 1


@pytest.mark.parametrize("overlay", ["small", "production"])
def test_every_pod_starts_with_the_settings_its_overlay_gives_it(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threadwise's own settings check, on each pod's environment as Kubernetes would fill it (the Secret's
    values stood in for, the pod's index 0 where a pod reads it)."""
    built = rendered(overlay)
    (config,) = [resource for resource in built if resource["kind"] == "ConfigMap"]
    for resource in built:
        if resource["kind"] not in WORKLOADS:
            continue
        (container,) = resource["spec"]["template"]["spec"]["containers"]
        environment = dict(config["data"]) | {
            "DATABASE_URL": "postgresql://threadwise:secret@db:5432/threadwise",
            "ADMIN_TOKEN": secrets.token_hex(32),
        }
        environment |= {variable["name"]: "0" for variable in container.get("env", [])}  # the pod index
        with monkeypatch.context() as patched:
            for name, value in environment.items():
                patched.setenv(name, value)
            load_settings()  # raises ConfigurationError, naming the variables, when they do not fit


def test_a_misspelt_field_fails_the_check() -> None:
    (web, _) = documents(ROOT / "base" / "web.yaml")
    web["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = web["spec"]["template"]["spec"]["containers"][
        0
    ].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSION, strict=True)


def test_the_kustomizations_name_files_that_exist_and_workloads_the_base_has() -> None:
    base_names = {
        (resource["kind"], resource["metadata"]["name"]) for path, resource in resources() if "base" in path.parts
    }
    workload_names = {name for kind, name in base_names if kind in WORKLOADS}
    for kustomization in ROOT.rglob("kustomization.yaml"):
        (spec,) = documents(kustomization)
        for entry in spec.get("resources", []) + spec.get("components", []):
            assert (kustomization.parent / entry).exists(), f"{kustomization}: {entry} is missing"
        for replicas in spec.get("replicas", []):
            assert replicas["name"] in workload_names, f"{kustomization}: no workload {replicas['name']}"


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (resource["metadata"]["name"], resource["spec"]["template"]["spec"])
        for _, resource in resources()
        if resource["kind"] in WORKLOADS
    ]


def test_every_pod_runs_unprivileged_on_a_read_only_root_with_its_secrets_by_reference() -> None:
    pods = _pod_specs()
    assert {name for name, _ in pods} == {
        "threadwise-web",
        "threadwise-worker",
        "threadwise-discord",
        "threadwise-migrate",
    }
    for name, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001, name
        assert pod["automountServiceAccountToken"] is False, name
        (container,) = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"], name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert {"secretRef": {"name": "threadwise-secrets"}} in container["envFrom"], name
        assert all("valueFrom" in variable for variable in container.get("env", [])), name  # none written here
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts == {"/tmp", "/data"}, name  # noqa: S108 (the pods' writable directories)
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"], name


def test_every_server_is_probed_where_it_says_it_is_alive_and_ready() -> None:
    for name, pod in _pod_specs():
        (container,) = pod["containers"]
        if name == "threadwise-migrate":
            assert container["command"] == ["threadwise", "db", "upgrade"]
            continue
        role = name.removeprefix("threadwise-")
        assert container["command"] == ["threadwise", "serve", "--role", role]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name


def test_keda_scales_the_workers_on_the_query_behind_the_queue_depth_metric() -> None:
    assert keda_trigger_query() == QUEUE_DEPTH_SQL


def test_the_manifests_never_hold_a_secret() -> None:
    for path in ROOT.rglob("*.yaml"):
        text = path.read_text()
        for marker in ("xoxb-", "xapp-", "sk-", "kind: Secret\n"):
            assert marker not in text, f"{path}: {marker}"
