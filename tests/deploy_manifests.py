"""The Kubernetes manifests under ``deploy/kubernetes``, read as the tests check them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes"


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def resources() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every resource of every manifest (the kustomizations themselves are not resources)."""
    for path in sorted(ROOT.rglob("*.yaml")):
        if path.name != "kustomization.yaml":
            for document in documents(path):
                yield path, document


def rendered(overlay: str) -> list[dict[str, Any]]:
    """What ``kubectl apply -k deploy/kubernetes/overlays/<overlay>`` would apply: the overlay built by the kubectl
    of the dev dependencies (its kustomize), without a cluster."""
    kubectl = Path(sys.executable).parent / "kubectl"
    built = subprocess.run(
        [str(kubectl), "kustomize", str(ROOT / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    return [document for document in yaml.safe_load_all(built.stdout) if document]


def keda_trigger_query() -> str:
    """The query KEDA's postgresql scaler runs to scale the workers."""
    path = ROOT / "components" / "keda" / "worker-scaledobject.yaml"
    (scaled,) = [document for document in documents(path) if document["kind"] == "ScaledObject"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "postgresql"
    return str(trigger["metadata"]["query"])
