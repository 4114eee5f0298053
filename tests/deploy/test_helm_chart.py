"""deploy/helm/mediamesh, rendered offline for each values profile: strict lint, every
object valid against Kubernetes' own schemas, and the facts the services rely on (probes
on grpc.health.v1, addresses that resolve to Services and container ports, GPUs only where
they belong, workflow and policy files that load)."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from mediamesh.config import SERVICES, SOURCE_ROOT, Settings
from mediamesh.mesh.parts import GRPC_SERVICE_NAMES
from orchestrator.workflow_spec import load_workflow
from services.text.moderation import load_category
from tests.deploy.chart import (
    CHART,
    NAMESPACE,
    PROFILES,
    Rendered,
    env_of,
    host_port,
    image_paths,
    kube_versions,
    part_containers,
    profile_values,
    render,
    resolve,
    triton_container,
)

GPU = "nvidia.com/gpu"
URL_SUFFIX = "_URL"


# --- lint and schemas ----------------------------------------------------------------------

@pytest.mark.parametrize("kube", kube_versions())
def test_chart_lints_strictly(profile: str, kube: str) -> None:
    report = helm.lint(CHART, profile_values(profile), strict=True, kube_version=f"v{kube}.0")
    assert report["errors"] == []
    # severity 2 = warning, 3 = error; 1 is "icon is recommended"
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("kube", kube_versions())
def test_every_object_is_valid_kubernetes(rendered: Rendered, kube: str) -> None:
    assert len(rendered.objects) > 20
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, kube, strict=True)


def test_values_schema_refuses_typos_and_settings_the_chart_owns() -> None:
    with helm.Chart.load(CHART) as chart:
        with pytest.raises(helm.HelmValuesError, match="replica"):
            chart.validate_schema({"parts": {"audio": {"replica": 3}}})
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({"settings": {"host": "0.0.0.0"}})  # set by the chart
        with pytest.raises(helm.HelmValuesError):
            chart.validate_schema({"triton": {"runtime": "docker"}})
        chart.validate_schema(profile_values("gpu"))


@pytest.mark.parametrize("values, message", [
    ({"triton": {"runtime": "ngc", "modelConfigName": "cpu"}}, "onnxrunner"),
    ({"triton": {"runtime": "mediamesh", "modelConfigName": ""}}, "modelConfigName"),
    ({"triton": {"modelRepository": {"source": "pvc"}}}, "existingClaim"),
    ({"parts": {"text": {"settings": {"triton_url": "x:1"}}}}, "triton_url"),  # schema
])
def test_contradicting_values_fail_with_a_reason(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(profile_values("default", **values))


# --- every container -----------------------------------------------------------------------

def test_every_container_has_probes_resources_and_a_locked_down_security_context(
        rendered: Rendered) -> None:
    seen = 0
    for workload, pod in rendered.pod_specs():
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        for container in pod.get("initContainers", []) + pod["containers"]:
            label = f"{where}:{container['name']}"
            resources = container.get("resources", {})
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), label
            assert "memory" in resources.get("limits", {}), label
            security = container.get("securityContext", {})
            assert security.get("runAsNonRoot") is True, label
            assert security.get("readOnlyRootFilesystem") is True, label
            assert security.get("allowPrivilegeEscalation") is False, label
        for container in pod["containers"]:
            assert "livenessProbe" in container and "readinessProbe" in container, \
                f"{where}:{container['name']}"
            seen += 1
        assert pod.get("automountServiceAccountToken") is False, where
    assert seen >= 7  # five parts, Triton, NATS


def test_gpus_only_in_the_gpu_profiles(rendered_profiles: dict[str, Rendered]) -> None:
    def gpus(rendered: Rendered) -> dict[str, int]:
        found = {}
        for workload, pod in rendered.pod_specs():
            for c in pod.get("initContainers", []) + pod["containers"]:
                res = c.get("resources", {})
                count = int(res.get("limits", {}).get(GPU, 0)) + \
                    int(res.get("requests", {}).get(GPU, 0))
                if count:
                    found[f"{workload['metadata']['name']}:{c['name']}"] = count
        return found

    for name in ("gpu", "default"):
        assert list(gpus(rendered_profiles[name]).values()) == [1], name
        (where,) = gpus(rendered_profiles[name])
        assert where.endswith("-triton:triton")
    assert gpus(rendered_profiles["dev"]) == {}


# --- addresses: what each part dials is a Service, a port, a container port ----------------

def test_every_address_a_part_is_given_is_a_service_port_and_container_port(
        rendered: Rendered, pod_env) -> None:  # type: ignore[no-untyped-def]
    parts = part_containers(rendered)
    assert set(parts) == set(GRPC_SERVICE_NAMES)  # the five parts, each once
    for part, (workload, container) in parts.items():
        env = env_of(container)
        unknown = {n for n in env if n.startswith("MEDIAMESH_")} - \
            {f"MEDIAMESH_{f.upper()}" for f in Settings.model_fields}
        assert not unknown, f"{part}: no such settings: {unknown}"
        urls = {n: v for n, v in env.items() if n.startswith("MEDIAMESH_") and
                n.endswith(URL_SUFFIX)}
        assert {"MEDIAMESH_NATS_URL", "MEDIAMESH_TRITON_URL"} <= set(urls)
        # a part listens on service_address(itself): its own URL would make it bind there
        assert f"MEDIAMESH_{part.upper()}_URL" not in urls
        for url in urls.values():
            resolve(rendered, *host_port(url))

        settings = pod_env(env)
        (grpc_port,) = [p["containerPort"] for p in container["ports"] if p["name"] == "grpc"]
        assert settings.service_address(part) == f"{env['MEDIAMESH_HOST']}:{grpc_port}"
        assert env["MEDIAMESH_HOST"] in ("0.0.0.0", "[::]")
        assert not settings.triton_uses_shared_memory  # Triton is in another pod
        if "grpc" in container["livenessProbe"]:  # plaintext (with TLS: tests/deploy/
            # test_chart_hardening.py checks the exec probes)
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert container[probe]["grpc"]["port"] == grpc_port, (part, probe)
            assert container["livenessProbe"]["grpc"]["service"] == ""
            assert container["readinessProbe"]["grpc"]["service"] == GRPC_SERVICE_NAMES[part]

        _, triton, triton_port = resolve(rendered, *host_port(settings.triton_address))
        assert triton["metadata"]["name"].endswith("-triton")
        assert any(p["name"] == "grpc" and p["containerPort"] == triton_port
                   for c in triton["spec"]["template"]["spec"]["containers"]
                   for p in c["ports"])
        _, nats, _ = resolve(rendered, *host_port(settings.nats_address))
        assert nats["kind"] == "StatefulSet"


def test_the_orchestrator_dials_every_service_by_its_service_name(
        rendered: Rendered, pod_env) -> None:  # type: ignore[no-untyped-def]
    parts = part_containers(rendered)
    _, orchestrator = parts["orchestrator"]
    settings = pod_env(env_of(orchestrator))
    for service in SERVICES:
        _, workload, port = resolve(rendered, *host_port(settings.service_address(service)))
        assert workload is parts[service][0], service
        (grpc,) = [p["containerPort"] for p in parts[service][1]["ports"] if p["name"] == "grpc"]
        assert port == grpc


def test_per_call_balancing_dials_headless_services_of_every_pod(pod_env) -> None:  # type: ignore[no-untyped-def]
    rendered = render(profile_values("gpu", clientLoadBalancing="perCall"))
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, kube_versions()[-1], strict=True)
    parts = part_containers(rendered)
    settings = pod_env(env_of(parts["orchestrator"][1]))
    for service in SERVICES:
        target = settings.service_address(service)
        assert target.startswith("dns:///")
        headless, workload, _ = resolve(rendered, *host_port(target))
        assert headless["spec"]["clusterIP"] == "None"
        assert workload is parts[service][0]
    # the ClusterIP Services stay for ingress, gateways and port-forwards
    for workload, _ in parts.values():
        service = rendered.named("Service", workload["metadata"]["name"])
        assert service["spec"].get("clusterIP") != "None"


# --- Triton ------------------------------------------------------------------------------

def test_dev_triton_is_the_embedded_command_from_the_mediamesh_image(
        rendered_profiles: dict[str, Rendered], pod_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    workload, container = triton_container(rendered_profiles["dev"])
    paths = image_paths()
    assert container["command"] == ["python", paths["deploy/docker/run_triton.py"]]
    assert container["image"].startswith(profile_values("dev")["image"]["repository"] + ":")
    env = env_of(container)
    assert env["MEDIAMESH_TRITON_MODEL_CONFIG"] == "cpu"
    assert env["MEDIAMESH_MODEL_REPOSITORY"] == paths["model_repository"]
    # run-triton with the pod's environment (state dir moved to a scratch folder here)
    pod_env({**env, "MEDIAMESH_STATE_DIR": str(tmp_path)})
    sys.path.insert(0, str(SOURCE_ROOT / "deploy" / "docker"))
    try:
        import run_triton
    finally:
        sys.path.pop(0)
    command, environment = run_triton.command_and_environment(container.get("args", []))
    flags = dict(a.removeprefix("--").split("=", 1) for a in command[1:] if "=" in a)
    assert command[0].endswith("/tritonserver")
    assert flags["model-config-name"] == "cpu"
    assert flags["model-repository"] == paths["model_repository"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (int(flags["grpc-port"]), int(flags["http-port"]), int(flags["metrics-port"])) == \
        (ports["grpc"], ports["http"], ports["metrics"])
    assert flags["grpc-address"] == env["MEDIAMESH_HOST"]
    assert (tmp_path / "triton" / "backends" / "onnxrunner" / "model.py").is_file()
    assert environment["PATH"].startswith(str(Path(sys.executable).parent))
    # the backends dir lands in a writable volume, not the read-only root
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env["MEDIAMESH_STATE_DIR"] in mounts and "/dev/shm" in mounts
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert "initContainers" not in workload["spec"]["template"]["spec"]


def test_gpu_triton_serves_the_production_configs_copied_from_the_mediamesh_image(
        rendered_profiles: dict[str, Rendered]) -> None:
    values = profile_values("gpu")
    workload, container = triton_container(rendered_profiles["gpu"])
    pod = workload["spec"]["template"]["spec"]
    assert container["image"] == "{repository}:{tag}".format(**values["triton"]["image"])
    assert "command" not in container  # NVIDIA's entrypoint runs first
    assert container["args"][0] == "tritonserver"
    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"][1:])
    assert "model-config-name" not in args  # each model's config.pbtxt
    repository = args["model-repository"]
    (init,) = pod["initContainers"]
    assert init["image"].startswith(values["image"]["repository"] + ":") or \
        init["image"].startswith("mediamesh:")
    assert init["command"][-2] == image_paths()["model_repository"] + "/."
    assert init["command"][-1] == repository
    volume = {m["name"] for m in init["volumeMounts"] if m["mountPath"] == repository}
    assert volume == {m["name"] for m in container["volumeMounts"] if m["mountPath"] == repository}
    assert pod["nodeSelector"] and pod["tolerations"]
    annotations = workload["spec"]["template"]["metadata"]["annotations"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(annotations["prometheus.io/port"]) == ports["metrics"] == int(args["metrics-port"])
    assert ports["grpc"] == int(args["grpc-port"]) and ports["http"] == int(args["http-port"])


# --- workflows, policies, NATS -----------------------------------------------------------

def mounted_configmap(rendered: Rendered, part: str, env_name: str) -> dict[str, str]:
    """The ConfigMap mounted where the part's setting points."""
    workload, container = part_containers(rendered)[part]
    path = env_of(container)[env_name]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == path]
    (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"]
                 if v["name"] == mount["name"]]
    data: dict[str, str] = rendered.named("ConfigMap", volume["configMap"]["name"])["data"]
    return data


def test_the_workflow_configmap_holds_every_registered_workflow_and_each_validates(
        rendered: Rendered) -> None:
    data = mounted_configmap(rendered, "orchestrator", "MEDIAMESH_WORKFLOWS_DIR")
    assert set(data) == {p.name for p in (SOURCE_ROOT / "workflows").glob("*.yaml")}
    for name, text in data.items():
        workflow = load_workflow(text)  # what `mediamesh workflows validate` runs
        assert workflow.steps, name
        assert text.strip() == (SOURCE_ROOT / "workflows" / name).read_text().strip()


def test_the_policies_configmap_loads(rendered: Rendered, tmp_path: Path) -> None:
    data = mounted_configmap(rendered, "text", "MEDIAMESH_MODERATION_POLICIES_DIR")
    assert set(data) == {p.name for p in (SOURCE_ROOT / "policies").glob("*.yaml")}
    for name, text in data.items():
        (tmp_path / name).write_text(text)
        load_category(tmp_path / name)


def test_extra_workflows_are_added(tmp_path: Path) -> None:
    extra = (SOURCE_ROOT / "workflows" / "greenscreen.yaml").read_text().replace(
        "name: greenscreen", "name: greenscreen-copy")
    rendered = render(profile_values("dev", workflows={"extra": {"copy.yaml": extra}}))
    data = mounted_configmap(rendered, "orchestrator", "MEDIAMESH_WORKFLOWS_DIR")
    assert load_workflow(data["copy.yaml"]).name == "greenscreen-copy"


def test_nats_config_is_accepted_by_nats_server_and_routes_name_every_pod(
        rendered: Rendered, tmp_path: Path) -> None:
    (sts,) = rendered.of_kind("StatefulSet")
    name, replicas = sts["metadata"]["name"], sts["spec"]["replicas"]
    config = rendered.named("ConfigMap", name)["data"]["nats.conf"]
    headless = rendered.named("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    routes = [line.strip() for line in config.splitlines() if line.strip().startswith("nats://")]
    domain = profile_values("default").get("clusterDomain", "cluster.local")
    assert routes == [f"nats://{name}-{i}.{headless['metadata']['name']}.{NAMESPACE}.svc."
                      f"{domain}:6222" for i in range(replicas)] if replicas > 1 else not routes
    conf = tmp_path / "nats.conf"
    conf.write_text(config.replace("/data/jetstream", str(tmp_path / "js"))
                    .replace("/var/run/nats", str(tmp_path)))
    # the pod's environment: its name, and a token (`openssl rand -hex 32`) per Secret key
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: secrets.token_hex(32) for e in container["env"]
           if "secretKeyRef" in e.get("valueFrom", {})}
    nats_server = Path(sys.executable).parent / "nats-server"
    done = subprocess.run([str(nats_server), "--config", str(conf), "-t"], capture_output=True,
                          text=True, env={**os.environ, **env, "POD_NAME": f"{name}-0"},
                          timeout=30, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # the ports in the config are the container's
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"port: {ports['client']}" in config and f"http_port: {ports['monitor']}" in config


# --- the optional objects ----------------------------------------------------------------

def test_options_render_valid_objects_that_point_at_the_parts() -> None:
    custom = {"type": "External", "external": {
        "metric": {"name": "nats_consumer_num_pending"},
        "target": {"type": "AverageValue", "averageValue": "20"}}}
    values = profile_values(
        "gpu",
        parts={"orchestrator": {"autoscaling": {"customMetrics": [custom]}}},
        metrics={"serviceMonitor": {"enabled": True}},
        triton={"engineCache": {"existingClaim": "trt-engines"},
                "modelRepository": {"source": "pvc", "existingClaim": "models",
                                    "subPath": "repo"}},
        ingress={"enabled": True, "className": "nginx", "tls": [{"secretName": "mm-tls"}]},
        gateway={"enabled": True, "parentRefs": [{"name": "gw"}], "hostnames": ["mm.example"]},
        networkPolicy={"grpcFrom": [{"namespaceSelector": {"matchLabels": {"team": "media"}}}]},
    )
    rendered = render(values)
    crds = {"ServiceMonitor", "GRPCRoute"}
    for obj in rendered.objects:
        if obj["kind"] not in crds:  # kubernetes-validate ships no CRD schemas
            kubernetes_validate.validate(obj, kube_versions()[-1], strict=True)
    assert {o["kind"] for o in rendered.objects} >= crds | {"Ingress", "HorizontalPodAutoscaler"}

    parts = part_containers(rendered)
    for hpa in rendered.of_kind("HorizontalPodAutoscaler"):
        target = rendered.named("Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert "replicas" not in target["spec"]  # the HPA owns it
        if target is parts["orchestrator"][0]:
            assert hpa["spec"]["metrics"][-1] == custom
    (ingress,) = rendered.of_kind("Ingress")
    for path in ingress["spec"]["rules"][0]["http"]["paths"]:
        backend = path["backend"]["service"]
        service = rendered.named("Service", backend["name"])
        assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
        if path["path"].startswith("/mediamesh.v1."):
            _, container = next(v for v in parts.values() if v[0]["metadata"]["name"] ==
                                backend["name"])
            assert container["readinessProbe"]["grpc"]["service"] == path["path"][1:]
    (route,) = rendered.of_kind("GRPCRoute")
    for rule in route["spec"]["rules"]:
        (ref,) = rule["backendRefs"]
        service = rendered.named("Service", ref["name"])
        assert ref["port"] in {p["port"] for p in service["spec"]["ports"]}
    (monitor,) = [m for m in rendered.of_kind("ServiceMonitor")
                  if m["metadata"]["name"].endswith("-triton")]
    triton_service = [s for s in rendered.of_kind("Service") if
                      s["spec"]["selector"] == monitor["spec"]["selector"]["matchLabels"]]
    assert monitor["spec"]["endpoints"][0]["port"] in \
        {p["name"] for p in triton_service[0]["spec"]["ports"]}
    workload, container = triton_container(rendered)
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "models"
    assert "initContainers" not in workload["spec"]["template"]["spec"]
    assert volumes["engine-cache"]["persistentVolumeClaim"]["claimName"] == "trt-engines"


def test_notes_name_every_part(rendered: Rendered) -> None:
    for part in GRPC_SERVICE_NAMES:
        assert GRPC_SERVICE_NAMES[part] in rendered.notes


def test_profiles_are_the_values_files_in_the_chart() -> None:
    files = {p.name for p in CHART.glob("values*.yaml")} - {"values.yaml"}
    assert files == {f for names in PROFILES.values() for f in names}


def test_app_version_is_the_project_version() -> None:
    """The image tag defaults to appVersion: it must name the release the image is built from."""
    import tomllib

    project = tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())["project"]
    with helm.Chart.load(CHART) as chart:
        assert chart.metadata["appVersion"] == project["version"]
