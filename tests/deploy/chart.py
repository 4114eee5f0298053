"""Render the Helm chart offline (Helm's Go SDK through helm-python-sdk: no helm binary, no
cluster) once per values profile, and hand the tests the rendered Kubernetes objects."""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import helm_python as helm
import kubernetes_validate.utils
import yaml

from mediamesh.config import SOURCE_ROOT

CHART = SOURCE_ROOT / "deploy" / "helm" / "mediamesh"
DOCKERFILE = SOURCE_ROOT / "deploy" / "docker" / "Dockerfile"
RELEASE, NAMESPACE = "mm", "media"
#: profile -> the values files layered on the chart's values.yaml, as `helm -f` would
PROFILES: dict[str, list[str]] = {"default": [], "dev": ["values-dev.yaml"],
                                  "gpu": ["values-gpu.yaml"]}
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def kube_versions() -> list[str]:
    """The chart's floor (Chart.yaml kubeVersion) and the newest Kubernetes whose schemas
    kubernetes-validate ships."""
    with helm.Chart.load(CHART) as chart:
        floor = re.search(r"(\d+\.\d+)", chart.metadata["kubeVersion"])
    assert floor, "Chart.yaml needs a kubeVersion"
    newest = kubernetes_validate.utils.latest_version()
    versions = {floor.group(1), ".".join(newest.split(".")[:2])}
    return sorted(versions, key=lambda v: tuple(int(n) for n in v.split(".")))


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Helm's -f layering: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and \
            isinstance(out.get(key), dict) else value
    return out


def profile_values(profile: str, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in PROFILES[profile]:
        values = merge(values, helm.values_from_yaml((CHART / name).read_text()))
    return merge(values, extra)


@dataclass
class Rendered:
    """The objects one `helm template` would print, plus NOTES.txt."""

    objects: list[dict[str, Any]]
    notes: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def workloads(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in WORKLOADS]

    def pod_specs(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for workload in self.workloads():
            yield workload, workload["spec"]["template"]["spec"]


def render(values: dict[str, Any]) -> Rendered:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    objects: list[dict[str, Any]] = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(objects, notes)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}

