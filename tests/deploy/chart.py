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
from dockerfile_parse import DockerfileParser

from mediamesh.config import SOURCE_ROOT

CHART = SOURCE_ROOT / "deploy" / "helm" / "mediamesh"
DOCKERFILE = SOURCE_ROOT / "deploy" / "docker" / "Dockerfile"
RELEASE, NAMESPACE = "mm", "media"
#: profile -> the values files layered on the chart's values.yaml, as `helm -f` would
PROFILES: dict[str, list[str]] = {"default": [], "dev": ["values-dev.yaml"],
                                  "gpu": ["values-gpu.yaml"],
                                  "secure": ["values-secure.yaml"]}
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



def part_containers(rendered: Rendered) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """part -> (workload, container), found from the command (`python -m services.<part>`)."""
    parts = {}
    for workload, pod in rendered.pod_specs():
        for c in pod["containers"]:
            command = c.get("command", [])
            if command[:2] == ["python", "-m"]:
                parts[command[2].removeprefix("services.")] = (workload, c)
    return parts


def resolve(rendered: Rendered, host: str, port: int) -> tuple[dict[str, Any], dict[str, Any], int]:
    """A DNS name and port -> the Service, the workload its selector picks, the container port
    its targetPort names."""
    labels = host.split(".")
    assert len(labels) == 1 or labels[1] == NAMESPACE, f"{host} is not in namespace {NAMESPACE}"
    service = rendered.named("Service", labels[0])
    (service_port,) = [p for p in service["spec"]["ports"] if p["port"] == port]
    selector = service["spec"]["selector"]
    selected = [w for w in rendered.workloads()
                if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()]
    assert len(selected) == 1, f"Service {labels[0]} selects {len(selected)} workloads"
    target = service_port["targetPort"]
    ports = [p for c in selected[0]["spec"]["template"]["spec"]["containers"]
             for p in c.get("ports", [])]
    matches = [p["containerPort"] for p in ports
               if p.get("name") == target or p["containerPort"] == target]
    assert len(matches) == 1, f"{host}:{port} -> targetPort {target} matches {matches}"
    return service, selected[0], matches[0]


def host_port(url: str) -> tuple[str, int]:
    """nats://host:port, dns:///host:port or host:port -> (host, port)."""
    host, _, port = url.removeprefix("nats://").removeprefix("dns:///").rpartition(":")
    return host, int(port)


def triton_container(rendered: Rendered) -> tuple[dict[str, Any], dict[str, Any]]:
    (workload,) = [w for w in rendered.workloads() if w["metadata"]["name"].endswith("-triton")]
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return workload, container


def image_paths() -> dict[str, str]:
    """Where the Dockerfile's last stage puts things: COPY destination by source."""
    parser = DockerfileParser(fileobj=DOCKERFILE.open("rb"))
    paths = {}
    for item in parser.structure:
        if item["instruction"] == "COPY":
            words = item["value"].split()
            sources, target = [w for w in words[:-1] if not w.startswith("--")], words[-1]
            for source in sources:
                paths[source.rstrip("/")] = target.rstrip("/")
    return paths
