"""The chart's production-hardening features, asserted on rendered objects: metrics ports,
annotations, ServiceMonitors and the NetworkPolicies that let scrapers in; OTLP tracing of
the parts and Triton; TLS / mTLS with exec probes; bearer tokens and identities; NATS
credentials; remote inputs and their egress; graceful drain. Where a wiring can be run
offline it is: the Secrets a pod mounts are materialised from the rendered volumes, the
rendered exec probe and a part-to-part call go over mutual TLS to a MeshServer configured
from a pod's environment, and nats-server runs the rendered config with the token and TLS."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import helm_python as helm
import kubernetes_validate
import nats
import pytest
import trustme
import yaml

from mediamesh.channels import open_channel
from mediamesh.config import SOURCE_ROOT, Settings
from mediamesh.grpc_server import MeshServer, unimplemented_service
from mediamesh.mesh.parts import GRPC_SERVICE_NAMES
from mediamesh.mesh.probe import parser as probe_parser
from mediamesh.mesh.servers import triton_trace_args
from mediamesh.nats_client import NatsConnection
from mediamesh.security import CallGuard, server_credentials
from mediamesh.v1 import audio_pb2, audio_pb2_grpc
from tests.deploy.chart import (
    CHART,
    NAMESPACE,
    PROFILES,
    RELEASE,
    Rendered,
    env_of,
    image_paths,
    kube_versions,
    merge,
    part_containers,
    profile_values,
    render,
    resolve,
    triton_container,
)

PodEnv = Callable[[dict[str, str]], Settings]
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
FULLNAME = f"{RELEASE}-mediamesh"
OTLP = "http://otel-collector.monitoring:4318"


def values_of(profile: str, **extra: Any) -> dict[str, Any]:
    """The effective values: the chart's values.yaml under the profile's files (as helm -f)."""
    base = yaml.safe_load((CHART / "values.yaml").read_text())
    return merge(base, profile_values(profile, **extra))


def service_name(part: str) -> str:
    return f"{FULLNAME}-{part}"


def mounts_of(workload: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[dict, dict]]:
    """mountPath -> (volumeMount, volume)."""
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])}
    return {m["mountPath"]: (m, volumes.get(m["name"], {}))  # {}: a volumeClaimTemplate
            for m in container.get("volumeMounts", [])}


def secret_file(workload: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """A file path in a container -> (Secret name, key) it comes from; asserts the mount is a
    read-only Secret volume."""
    directory, _, name = path.rpartition("/")
    mount, volume = mounts_of(workload, container)[directory]
    assert mount.get("readOnly") is True, path
    assert "subPath" not in mount, path  # subPath mounts never see a rotated Secret
    secret = volume["secret"]
    items = secret.get("items")
    if items is None:
        return secret["secretName"], name
    (item,) = [i for i in items if i["path"] == name]
    return secret["secretName"], item["key"]


def materialise(workload: dict[str, Any], container: dict[str, Any],
                store: dict[str, dict[str, bytes]], root: Path) -> Callable[[str], str]:
    """Write the container's Secret volumes from `store` under `root` as the kubelet would;
    returns a function mapping an in-container path to the local file."""
    mapping: dict[str, Path] = {}
    for path, (mount, volume) in mounts_of(workload, container).items():
        if "secret" not in volume:
            continue
        data = store[volume["secret"]["secretName"]]
        local = root / f"{container['name']}-{mount['name']}"
        local.mkdir(parents=True, exist_ok=True)
        for item in volume["secret"].get("items") or [{"key": k, "path": k} for k in data]:
            (local / item["path"]).write_bytes(data[item["key"]])
        mapping[path] = local

    def local(path: str) -> str:
        for mount, directory in mapping.items():
            if path.startswith(mount + "/"):
                return str(directory / path[len(mount) + 1:])
        return path
    return local


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def policy(rendered: Rendered, component: str) -> dict[str, Any]:
    return rendered.named("NetworkPolicy", service_name(component))


def rule_for(policy_: dict[str, Any], port: str) -> dict[str, Any]:
    (rule,) = [r for r in policy_["spec"]["ingress"]
               if {p["port"] for p in r["ports"]} == {port}]
    return rule


# --- metrics ---------------------------------------------------------------------------

def test_every_part_serves_metrics_on_a_named_port_its_service_and_annotations_name(
        profile: str, rendered: Rendered, pod_env: PodEnv) -> None:
    values = values_of(profile)
    shift = values["metrics"]["portShift"]
    for part, (workload, container) in part_containers(rendered).items():
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == ports["grpc"] + shift == values["parts"][part]["port"] + shift
        env = env_of(container)
        assert env["MEDIAMESH_METRICS_PORT_SHIFT"] == str(shift)
        # where the process really serves them: Settings from the pod's environment
        assert pod_env(env).metrics_port(part) == ports["metrics"]
        service = rendered.named("Service", service_name(part))
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == "metrics"]
        _, selected, target = resolve(rendered, service_name(part), port["port"])
        assert selected is workload and target == ports["metrics"]
        annotations = workload["spec"]["template"]["metadata"].get("annotations") or {}
        assert annotations.get("prometheus.io/scrape") == "true"
        assert annotations["prometheus.io/port"] == str(ports["metrics"])
        assert annotations["prometheus.io/path"] == "/metrics"
    workload, container = triton_container(rendered)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    annotations = workload["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(ports["metrics"]) == \
        str(values["triton"]["ports"]["metrics"])
    assert annotations["prometheus.io/scrape"] == "true"
    assert not rendered.of_kind("ServiceMonitor")  # off by default: no CRD needed


def test_metrics_annotations_can_be_turned_off_and_pod_annotations_win() -> None:
    rendered = render(profile_values("default", metrics={"annotations": False},
                                     parts={"audio": {"podAnnotations": {"team": "media"}}}))
    for workload in rendered.workloads():
        annotations = workload["spec"]["template"]["metadata"].get("annotations") or {}
        assert not [a for a in annotations if a.startswith("prometheus.io/")], \
            workload["metadata"]["name"]
    parts = part_containers(rendered)
    assert parts["audio"][0]["spec"]["template"]["metadata"]["annotations"] == {"team": "media"}
    # the ports stay: ServiceMonitors or static configs can still scrape
    assert all(any(p["name"] == "metrics" for p in c["ports"]) for _, c in parts.values())


def test_scrapers_may_reach_the_metrics_ports_and_nothing_else_opens_them(
        profile: str, rendered: Rendered) -> None:
    values = values_of(profile)
    scrape_from = values["metrics"]["scrapeFrom"]
    release = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mediamesh",
                                               "app.kubernetes.io/instance": RELEASE}}}
    for component, port in [*((p, "metrics") for p in GRPC_SERVICE_NAMES),
                            ("triton", "metrics"), ("nats", "monitor")]:
        rule = rule_for(policy(rendered, component), port)
        assert rule["from"] == [release, *scrape_from], component  # never "from anywhere"
    # gRPC stays this release's (plus grpcFrom): scrapers do not get it
    for part in GRPC_SERVICE_NAMES:
        grpc_rule = rule_for(policy(rendered, part), "grpc")
        assert all(peer not in grpc_rule["from"] for peer in scrape_from)
    if profile == "default":
        assert scrape_from == [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}]


def test_service_monitors_when_enabled_scrape_each_part_and_triton_once() -> None:
    values = profile_values("gpu", clientLoadBalancing="perCall", metrics={"serviceMonitor": {
        "enabled": True, "interval": "20s", "labels": {"release": "kube-prometheus-stack"}}})
    rendered = render(values)
    for obj in rendered.objects:
        if obj["kind"] != "ServiceMonitor":
            kubernetes_validate.validate(obj, kube_versions()[-1], strict=True)
    monitors = rendered.of_kind("ServiceMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == \
        sorted(service_name(c) for c in [*GRPC_SERVICE_NAMES, "triton"])
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["namespace"] == NAMESPACE
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint == {"port": "metrics", "path": "/metrics", "scheme": "http",
                            "interval": "20s"}
        selector = monitor["spec"]["selector"]["matchLabels"]
        selected = [s for s in rendered.of_kind("Service")
                    if selector.items() <= s["metadata"]["labels"].items()]
        # the headless -pods Service matches too, but has no metrics port: one target per pod
        with_metrics = [s for s in selected if any(p["name"] == "metrics"
                                                   for p in s["spec"]["ports"])]
        assert [s["metadata"]["name"] for s in with_metrics] == [monitor["metadata"]["name"]]
        (port,) = [p for p in with_metrics[0]["spec"]["ports"] if p["name"] == "metrics"]
        _, workload, container_port = resolve(rendered, with_metrics[0]["metadata"]["name"],
                                              port["port"])
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(container_port)


# --- tracing ---------------------------------------------------------------------------

def test_the_otlp_endpoint_reaches_every_part_and_triton_with_the_meshs_own_flags(
        pod_env: PodEnv) -> None:
    rendered = render(profile_values("gpu", observability={"otlpEndpoint": OTLP + "/",
                                                           "traceSampleRatio": 0.1}))
    for part, (_, container) in part_containers(rendered).items():
        settings = pod_env(env_of(container))
        assert (settings.otlp_endpoint, settings.trace_sample_ratio) == (OTLP + "/", 0.1), part
    _, triton = triton_container(rendered)
    expected = triton_trace_args(Settings(otlp_endpoint=OTLP + "/", embedded_nats=False))
    assert "--trace-config=opentelemetry,url=" + OTLP + "/v1/traces" in expected
    args = triton["args"]
    assert args[args.index(expected[0]):args.index(expected[0]) + len(expected)] == expected


def test_dev_triton_traces_through_the_embedded_command(pod_env: PodEnv, tmp_path: Path) -> None:
    rendered = render(profile_values("dev", observability={"otlpEndpoint": OTLP}))
    _, container = triton_container(rendered)
    env = env_of(container)
    assert env["MEDIAMESH_OTLP_ENDPOINT"] == OTLP
    settings = pod_env({**env, "MEDIAMESH_STATE_DIR": str(tmp_path)})
    assert container["command"] == ["python", image_paths()["deploy/docker/run_triton.py"]]
    sys.path.insert(0, str(SOURCE_ROOT / "deploy" / "docker"))
    try:
        import run_triton
    finally:
        sys.path.pop(0)
    command, _ = run_triton.command_and_environment(container.get("args", []))
    trace = triton_trace_args(settings)
    assert trace and command[-len(trace):] == trace


def test_triton_and_the_parts_trace_only_with_an_endpoint(rendered: Rendered,
                                                         profile: str) -> None:
    endpoint = values_of(profile)["observability"]["otlpEndpoint"]
    for _, container in part_containers(rendered).values():
        assert env_of(container).get("MEDIAMESH_OTLP_ENDPOINT") == (endpoint or None)
    _, triton = triton_container(rendered)
    flags = [a for a in triton.get("args", []) if "trace-config" in a]
    if values_of(profile)["triton"]["runtime"] == "ngc":
        assert bool(flags) is bool(endpoint)
    else:  # the embedded command adds them from the setting
        assert env_of(triton).get("MEDIAMESH_OTLP_ENDPOINT") == (endpoint or None)


# --- TLS, tokens, identities -----------------------------------------------------------

def test_without_tls_the_probes_are_native_grpc_probes(profile: str, rendered: Rendered) -> None:
    tls = values_of(profile)["tls"]["enabled"]
    for part, (_, container) in part_containers(rendered).items():
        kinds = {probe: ("exec" if "exec" in container[probe] else "grpc") for probe in PROBES}
        assert set(kinds.values()) == {"exec" if tls else "grpc"}, (part, kinds)
        service = rendered.named("Service", service_name(part))
        (grpc_port,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
        # h2c names cleartext HTTP/2: not rendered over TLS
        assert (grpc_port.get("appProtocol") == "kubernetes.io/h2c") is (not tls)


def test_tls_mounts_the_secret_read_only_and_probes_speak_tls(pod_env: PodEnv) -> None:
    values = values_of("secure")
    rendered = render(profile_values("secure"))
    secret = values["tls"]["secretName"]
    for part, (workload, container) in part_containers(rendered).items():
        env = env_of(container)
        for name, key in [("MEDIAMESH_TLS_CERT_FILE", "tls.crt"),
                          ("MEDIAMESH_TLS_KEY_FILE", "tls.key"),
                          ("MEDIAMESH_TLS_CA_FILE", "ca.crt")]:
            assert secret_file(workload, container, env[name]) == (secret, key), (part, name)
        settings = pod_env(env)
        assert settings.tls_client_auth is values["tls"]["clientAuth"] is True
        assert settings.tls_server_name is None  # each part verified by its Service name
        for probe in PROBES:
            spec = container[probe]
            command = spec["exec"]["command"]
            assert command[:3] == ["python", "-m", "mediamesh.mesh.probe"], (part, probe)
            args = probe_parser().parse_args(command[3:])
            assert args.part == part and args.host == "127.0.0.1"
            assert args.server_name == service_name(part)  # a name the certificate carries
            assert args.service == ("" if probe != "readinessProbe" else GRPC_SERVICE_NAMES[part])
            # the gRPC deadline ends before the kubelet gives up on the process
            assert 1 <= args.timeout < spec["timeoutSeconds"], (part, probe)


def test_tls_server_name_is_every_clients_and_the_probes_name(pod_env: PodEnv) -> None:
    rendered = render(profile_values("secure", tls={"serverName": "mediamesh.internal"}))
    for (_, container) in part_containers(rendered).values():
        assert pod_env(env_of(container)).tls_server_name == "mediamesh.internal"
        for probe in PROBES:
            args = probe_parser().parse_args(container[probe]["exec"]["command"][3:])
            assert args.server_name is None  # the probe reads MEDIAMESH_TLS_SERVER_NAME
        identities = json.loads(env_of(container)["MEDIAMESH_AUTH_ALLOWED_IDENTITIES"])
        assert "mediamesh.internal" in identities


def test_tokens_and_identities_come_from_read_only_secrets(pod_env: PodEnv) -> None:
    values = values_of("secure")
    rendered = render(profile_values("secure"))
    auth = values["auth"]
    for (workload, container) in part_containers(rendered).values():
        env = env_of(container)
        assert secret_file(workload, container, env["MEDIAMESH_AUTH_ACCEPTED_TOKENS_FILE"]) == \
            (auth["acceptedTokensSecret"]["name"], auth["acceptedTokensSecret"]["key"])
        assert secret_file(workload, container, env["MEDIAMESH_AUTH_TOKEN_FILE"]) == \
            (auth["tokenSecret"]["name"], auth["tokenSecret"]["key"])
        settings = pod_env(env)
        # the operator's identities, then the mesh's own (the parts call each other)
        assert settings.auth_allowed_identities == [
            *auth["allowedIdentities"], *(service_name(p) for p in GRPC_SERVICE_NAMES)]
    # auth off: nothing of it reaches the pods, even if values are filled in
    rendered = render(profile_values("secure", auth={"enabled": False}))
    for _, container in part_containers(rendered).values():
        assert not [n for n in env_of(container) if n.startswith("MEDIAMESH_AUTH_")]
        assert not [m for m in container["volumeMounts"] if "/auth/" in m["mountPath"]]


def test_every_file_setting_points_into_a_read_only_secret_volume(profile: str,
                                                                  rendered: Rendered) -> None:
    for (workload, container) in part_containers(rendered).values():
        for name, value in env_of(container).items():
            if name.startswith(("MEDIAMESH_TLS_", "MEDIAMESH_AUTH_", "MEDIAMESH_NATS_")) and \
                    name.endswith("_FILE"):
                secret_file(workload, container, value)
        for mount, volume in mounts_of(workload, container).values():
            if "secret" in volume:
                assert mount["readOnly"] is True and volume["secret"]["defaultMode"] == 0o440


@contextlib.asynccontextmanager
async def part_server(settings: Settings) -> AsyncIterator[MeshServer]:
    """A MeshServer with the credentials and call guard a part builds from its settings."""
    server = MeshServer([unimplemented_service(audio_pb2, audio_pb2_grpc, "AudioService")],
                        "127.0.0.1:0", max_message_bytes=settings.grpc_max_message_bytes,
                        credentials=server_credentials(settings),
                        guard=CallGuard.from_settings(settings), shutdown_grace_s=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="module")
def secure_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The Secrets values-secure.yaml names, made as deploy/README.md says: one certificate
    with the DNS names NOTES.txt lists (its common name is none of the allowed identities)."""
    ca = trustme.CA()
    names = [n for p in GRPC_SERVICE_NAMES
             for n in (service_name(p), f"{service_name(p)}.{NAMESPACE}.svc")]
    cert = ca.issue_cert(*names, common_name="mediamesh")
    mesh_token, client_token = secrets.token_hex(32), secrets.token_hex(32)
    return {
        "mediamesh-tls": {"tls.crt": cert.cert_chain_pems[0].bytes(),
                          "tls.key": cert.private_key_pem.bytes(),
                          "ca.crt": ca.cert_pem.bytes()},
        "mediamesh-auth": {"accepted-tokens": f"{mesh_token} mesh\n{client_token} client\n"
                           .encode(), "mesh-token": mesh_token.encode()},
        "mediamesh-nats": {"token": secrets.token_hex(32).encode()},
    }


async def test_the_secure_profile_probes_and_calls_over_mutual_tls(
        pod_env: PodEnv, tmp_path: Path, secure_store: dict[str, dict[str, bytes]]) -> None:
    """The rendered exec probes pass against a part configured from its pod's environment and
    Secrets, and the orchestrator's call is admitted (token + its certificate's name)."""
    rendered = render(profile_values("secure"))
    parts = part_containers(rendered)
    workload, audio = parts["audio"]
    local = materialise(workload, audio, secure_store, tmp_path)
    env = {n: local(v) for n, v in env_of(audio).items()}
    async with part_server(pod_env(env)) as server:
        env["MEDIAMESH_AUDIO_PORT"] = str(server.port)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAMESH_")}
        for probe in PROBES:
            command = audio[probe]["exec"]["command"]
            process = await asyncio.create_subprocess_exec(
                sys.executable, *command[1:], env={**clean, **env},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode == 0, (probe, out.decode())
            assert out.decode().strip().endswith(": SERVING")

        # the orchestrator dials mm-mediamesh-audio: the name is checked, DNS is emulated
        o_workload, orchestrator = parts["orchestrator"]
        o_local = materialise(o_workload, orchestrator, secure_store, tmp_path)
        o_settings = pod_env({n: o_local(v) for n, v in env_of(orchestrator).items()})
        host = o_settings.service_address("audio").rsplit(":", 1)[0]
        assert host == service_name("audio")
        caller = o_settings.model_copy(update={"tls_server_name": host})
        async with open_channel(caller, f"127.0.0.1:{server.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await audio_pb2_grpc.AudioServiceStub(channel).AnalyzeLoudness(
                    audio_pb2.AnalyzeLoudnessRequest(), timeout=10)
        # admitted: the RPC itself answers (this contract-only server implements nothing)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED, refused.value.details()
        # a caller without the mesh's token is refused before any work
        stranger = caller.model_copy(update={"auth_token_file": None})
        async with open_channel(stranger, f"127.0.0.1:{server.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await audio_pb2_grpc.AudioServiceStub(channel).AnalyzeLoudness(
                    audio_pb2.AnalyzeLoudnessRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


# --- NATS --------------------------------------------------------------------------------

@contextlib.contextmanager
def running_nats(rendered: Rendered, env: dict[str, str], tmp_path: Path,
                 replace: dict[str, str]) -> Iterator[int]:
    """nats-server with the rendered config (paths and ports moved under tmp_path)."""
    (sts,) = rendered.of_kind("StatefulSet")
    config = rendered.named("ConfigMap", sts["metadata"]["name"])["data"]["nats.conf"]
    client, monitor = free_port(), free_port()
    replace = {**replace, "/data/jetstream": str(tmp_path / "js"), "/var/run/nats": str(tmp_path),
               "port: 4222": f"port: {client}", "http_port: 8222": f"http_port: {monitor}"}
    for old, new in replace.items():
        assert old in config, old
        config = config.replace(old, new)
    conf = tmp_path / "nats.conf"
    conf.write_text(config)
    server = subprocess.Popen([str(Path(sys.executable).parent / "nats-server"), "--config",
                               str(conf), "-a", "127.0.0.1"],
                              env={**os.environ, **env, "POD_NAME": "nats-0"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", client), 0.5):
                break
            assert server.poll() is None, server.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.1)
        yield client
    finally:
        server.terminate()
        server.wait(10)


async def test_the_charts_nats_requires_the_token_the_parts_send_over_tls(
        pod_env: PodEnv, tmp_path: Path) -> None:
    ca = trustme.CA()
    nats_service = service_name("nats")
    cert = ca.issue_cert(nats_service, "127.0.0.1")
    token = secrets.token_hex(32)
    store = {"nats-token": {"token": token.encode()},
             "nats-tls": {"tls.crt": cert.cert_chain_pems[0].bytes(),
                          "tls.key": cert.private_key_pem.bytes(), "ca.crt": ca.cert_pem.bytes()}}
    rendered = render(profile_values("dev", nats={"auth": {"tokenSecret": {"name": "nats-token"}},
                                                  "tls": {"serverSecret": "nats-tls"}}))
    (sts,) = rendered.of_kind("StatefulSet")
    (nats_container,) = sts["spec"]["template"]["spec"]["containers"]
    (token_env,) = [e for e in nats_container["env"] if e["name"] == "NATS_TOKEN"]
    assert token_env["valueFrom"]["secretKeyRef"] == {"name": "nats-token", "key": "token"}
    server_local = materialise(sts, nats_container, store, tmp_path)
    config = rendered.named("ConfigMap", sts["metadata"]["name"])["data"]["nats.conf"]
    assert "token: $NATS_TOKEN" in config
    for name in ("tls.crt", "tls.key"):  # the config names files of the mounted Secret
        assert f'"/etc/nats-tls/{name}"' in config
        assert Path(server_local(f"/etc/nats-tls/{name}")).is_file()

    workload, audio = part_containers(rendered)["audio"]
    env = env_of(audio)
    assert secret_file(workload, audio, env["MEDIAMESH_NATS_TOKEN_FILE"]) == ("nats-token", "token")
    # the parts verify NATS with the serverSecret's CA only (never its key)
    assert secret_file(workload, audio, env["MEDIAMESH_NATS_TLS_CA_FILE"]) == ("nats-tls", "ca.crt")
    local = materialise(workload, audio, store, tmp_path)
    assert not list((tmp_path / "audio-nats-ca").glob("tls.*"))
    with running_nats(rendered, {"NATS_TOKEN": token}, tmp_path,
                      {"/etc/nats-tls": str(tmp_path / "nats-tls")}) as port:
        settings = pod_env({**{n: local(v) for n, v in env.items()},
                            # the Service name the certificate carries, resolved here
                            "MEDIAMESH_NATS_URL": f"nats://127.0.0.1:{port}"})
        connection = NatsConnection.from_settings(settings)
        client = await connection.client()
        await client.flush(timeout=5)
        await connection.close()
        with pytest.raises(Exception, match="(?i)authoriz"):  # no token: refused
            await nats.connect(f"nats://127.0.0.1:{port}", tls=connection.options["tls"],
                               allow_reconnect=False, max_reconnect_attempts=0,
                               connect_timeout=5)


def test_an_external_nats_gets_credentials_and_ca_and_no_server(pod_env: PodEnv) -> None:
    rendered = render(profile_values("default", nats={
        "externalUrl": "nats://nats.shared:4222",
        "auth": {"credentialsSecret": {"name": "mesh-creds", "key": "user.creds"}},
        "tls": {"caSecret": {"name": "nats-ca", "key": "ca.pem"}}}))
    assert not rendered.of_kind("StatefulSet")
    for (workload, container) in part_containers(rendered).values():
        env = env_of(container)
        assert secret_file(workload, container, env["MEDIAMESH_NATS_CREDENTIALS_FILE"]) == \
            ("mesh-creds", "user.creds")
        assert secret_file(workload, container, env["MEDIAMESH_NATS_TLS_CA_FILE"]) == \
            ("nats-ca", "ca.pem")
        assert "MEDIAMESH_NATS_TOKEN_FILE" not in env
        assert pod_env(env).nats_address == "nats://nats.shared:4222"


# --- remote inputs, egress ---------------------------------------------------------------

def test_remote_inputs_reach_the_settings_and_the_egress_policy(pod_env: PodEnv) -> None:
    values = profile_values("secure", remoteInputs={
        "httpFetch": True, "allowedNetworks": ["10.20.0.0/16"], "maxBytes": 3 << 30,
        "timeoutSeconds": 90})
    rendered = render(values)
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, kube_versions()[-1], strict=True)
    for part, (_, container) in part_containers(rendered).items():
        env = env_of(container)
        assert env["MEDIAMESH_HTTP_FETCH_MAX_BYTES"] == str(3 << 30)  # not 3.221225472e+09
        settings = pod_env(env)
        assert (settings.http_fetch, settings.http_fetch_allowed_networks,
                settings.http_fetch_max_bytes, settings.http_fetch_timeout_s) == \
            (True, ["10.20.0.0/16"], 3 << 30, 90.0)
        egress = policy(rendered, part)["spec"]["egress"]
        peers = [p for rule in egress for p in rule["to"]]
        public = [p["ipBlock"] for p in peers if p.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
        assert public and {"10.0.0.0/8", "169.254.0.0/16", "127.0.0.0/8"} <= \
            set(public[0]["except"])
        assert {"ipBlock": {"cidr": "10.20.0.0/16"}} in peers
    # off (every profile): no fetching, and no public egress rule
    for name in PROFILES:
        for _, container in part_containers(render(profile_values(name))).values():
            env = env_of(container)
            assert env["MEDIAMESH_HTTP_FETCH"] == "false"
            assert not [n for n in env if n.startswith("MEDIAMESH_HTTP_FETCH_")]


def test_egress_restriction_keeps_dns_the_release_and_the_extra_rules(rendered: Rendered,
                                                                      profile: str) -> None:
    network = values_of(profile)["networkPolicy"]
    for part in GRPC_SERVICE_NAMES:
        spec = policy(rendered, part)["spec"]
        if not network["egress"]["enabled"]:
            assert spec["policyTypes"] == ["Ingress"] and "egress" not in spec
            continue
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        dns, release, *extra = spec["egress"]
        assert dns["to"] == network["egress"]["dns"]
        assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
        assert release == {"to": [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "mediamesh", "app.kubernetes.io/instance": RELEASE}}}]}
        assert extra == network["egress"]["to"]


# --- graceful drain ----------------------------------------------------------------------

@pytest.mark.parametrize("extra", [{}, {"drainDelaySeconds": 12.5, "preStopSleepSeconds": 0,
                                        "parts": {"vision": {"settings": {
                                            "shutdown_grace_s": 40}}}}])
def test_termination_grace_covers_prestop_drain_and_shutdown_grace(
        profile: str, extra: dict[str, Any], pod_env: PodEnv) -> None:
    values = values_of(profile, **extra)
    rendered = render(profile_values(profile, **extra))
    for part, (workload, container) in part_containers(rendered).items():
        settings = pod_env(env_of(container))
        assert settings.drain_delay_s == values["drainDelaySeconds"]
        pod = workload["spec"]["template"]["spec"]
        pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
        assert pre_stop == values["preStopSleepSeconds"]
        needed = pre_stop + settings.drain_delay_s + settings.shutdown_grace_s + 5
        assert pod["terminationGracePeriodSeconds"] >= needed, part


# --- what the values refuse ----------------------------------------------------------------

def test_the_schema_refuses_identities_without_mutual_tls() -> None:
    with helm.Chart.load(CHART) as chart:
        for tls in ({"enabled": True, "secretName": "t", "clientAuth": False},
                    {"enabled": False, "secretName": "", "clientAuth": True}):
            with pytest.raises(helm.HelmValuesError, match="/tls/"):
                chart.validate_schema(profile_values(
                    "default", auth={"enabled": True, "allowedIdentities": ["alice"]}, tls=tls))
        chart.validate_schema(profile_values("secure"))
        # tokens alone need no client certificates
        chart.validate_schema(profile_values("secure", tls={"clientAuth": False},
                                             auth={"allowedIdentities": []}))


@pytest.mark.parametrize("values, message", [
    ({"tls": {"enabled": True}}, "tls.secretName"),
    ({"tls": {"clientAuth": True}}, "tls.enabled"),
    ({"auth": {"enabled": True}}, "acceptedTokensSecret"),
    ({"auth": {"enabled": True, "acceptedTokensSecret": {"name": "a", "key": "t"}}},
     "auth.tokenSecret"),
    ({"nats": {"auth": {"credentialsSecret": {"name": "c", "key": "k"}}}}, "externalUrl"),
    ({"nats": {"tls": {"caSecret": {"name": "ca", "key": "ca.crt"}}}}, "serverSecret"),
    ({"nats": {"externalUrl": "nats://x:4222", "tls": {"serverSecret": "s"}}}, "caSecret"),
    ({"metrics": {"portShift": 1000}, "parts": {"audio": {"port": 65000}}}, "portShift"),
    ({"settings": {"drain_delay_s": 3}}, "drain_delay_s"),  # the schema: drainDelaySeconds
    ({"settings": {"tls_cert_file": "/x"}}, "tls_cert_file"),
    ({"triton": {"metrics": {"podAnnotations": True}}}, "metrics"),  # moved to metrics.*
    ({"networkPolicy": {"metricsFrom": []}}, "metricsFrom"),  # now metrics.scrapeFrom
])
def test_contradicting_security_values_fail_with_a_reason(values: dict[str, Any],
                                                          message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(profile_values("default", **values))


def test_the_schema_and_the_template_refuse_the_same_settings() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    refused = set(schema["definitions"]["settings"]["propertyNames"]["not"]["enum"])
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    listed = re.search(r'define "mediamesh.reservedSettings" -}}\n(.*?)\n', helpers)
    assert listed and set(listed.group(1).split()) == refused
    # every setting of the hardening work has a value of its own, so the map may not set it
    assert {"metrics_port_shift", "otlp_endpoint", "trace_sample_ratio", "tls_client_auth",
            "auth_allowed_identities", "nats_token_file", "http_fetch", "drain_delay_s"} <= refused
    assert refused <= set(Settings.model_fields) | {"config"}


def test_notes_list_the_names_the_certificate_needs() -> None:
    rendered = render(profile_values("secure", clientLoadBalancing="perCall"))
    for part in GRPC_SERVICE_NAMES:
        assert f"{service_name(part)}, {service_name(part)}.{NAMESPACE}.svc" in rendered.notes
        assert f"{service_name(part)}-pods.{NAMESPACE}.svc.cluster.local" in rendered.notes
    assert "port 17130" in rendered.notes  # audio's metrics
    assert "TLS" not in render(profile_values("default")).notes


@pytest.mark.parametrize("kube", kube_versions())
def test_the_secure_values_layer_on_the_gpu_profile(kube: str) -> None:
    """values-secure.yaml is meant for `-f values-gpu.yaml -f values-secure.yaml`."""
    values = merge(profile_values("gpu"), profile_values("secure"))
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{kube}.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
    rendered = render(values)
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, kube, strict=True)
    parts = part_containers(rendered)
    assert all("exec" in c["readinessProbe"] for _, c in parts.values())
    hpa = rendered.of_kind("HorizontalPodAutoscaler")
    assert len(hpa) == len(GRPC_SERVICE_NAMES)  # the GPU profile's own settings survive
