"""The mesh is really up: every part answers its own health check over real sockets."""
from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mediamesh.config import SERVICES, Settings
from mediamesh.mesh import control
from mediamesh.mesh.health import grpc_health
from mediamesh.v1 import audio_pb2, audio_pb2_grpc

SERVICE_NAMES = {
    "audio": "mediamesh.v1.AudioService",
    "vision": "mediamesh.v1.VisionService",
    "text": "mediamesh.v1.TextService",
    "compose": "mediamesh.v1.ComposeService",
    "orchestrator": "mediamesh.v1.WorkflowService",
}


def cli(mesh: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mediamesh.cli", "--state-dir",
                           str(mesh.state_dir), "--port-base", str(mesh.port_base), *args],
                          capture_output=True, text=True, timeout=120)


def test_every_part_is_healthy(mesh: Settings) -> None:
    rows, models = control.status(mesh)
    assert {r.name for r in rows} == {"nats", "triton", *SERVICES, "orchestrator"}
    assert all(r.health.healthy for r in rows), [(r.name, r.health.detail) for r in rows]
    assert all(r.process and r.process.state == "RUNNING" for r in rows)
    assert {"name": "green_keyer", "version": "1", "state": "READY"}.items() <= \
        next(m for m in models if m["name"] == "green_keyer").items()


@pytest.mark.parametrize("part", [*SERVICES, "orchestrator"])
def test_service_health_and_readiness(mesh: Settings, part: str) -> None:
    address = mesh.service_address(part)
    assert grpc_health(address, 2.0) == (True, "SERVING")
    # readiness of the named service follows its dependencies (Triton / NATS), all up here
    assert grpc_health(address, 2.0, SERVICE_NAMES[part]) == (True, "SERVING")
    assert grpc_health(address, 2.0, "no.such.Service")[1] == "NOT_FOUND"


@pytest.mark.parametrize("part", [*SERVICES, "orchestrator"])
def test_reflection_lists_the_contract(mesh: Settings, part: str) -> None:
    with grpc.insecure_channel(mesh.service_address(part)) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    names = {s.name for s in replies[0].list_services_response.service}
    assert SERVICE_NAMES[part] in names
    assert "grpc.health.v1.Health" in names
    assert "mediamesh.v1.DiagnosticsService" in names


def test_status_cli_json(mesh: Settings) -> None:
    with grpc.insecure_channel(mesh.service_address("audio")) as channel:  # one refusal
        with pytest.raises(grpc.RpcError):
            audio_pb2_grpc.AudioServiceStub(channel).AnalyzeLoudness(
                audio_pb2.AnalyzeLoudnessRequest(), timeout=10)
    result = cli(mesh, "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert all(p["healthy"] for p in report["parts"])
    assert any(m["name"] == "green_keyer" and m["state"] == "READY" for m in report["models"])
    load = report["load"]["parts"]
    assert set(load) == {"audio", "vision", "text", "compose", "orchestrator"}
    assert load["audio"]["refusals"] >= 1 and load["audio"]["calls"] >= load["audio"]["refusals"]
    assert load["orchestrator"]["queue_waiting"] is not None  # the work queue is watched


def test_status_cli_shows_the_load(mesh: Settings) -> None:
    result = cli(mesh, "status")
    assert result.returncode == 0, result.stderr
    assert "load (since start)" in result.stdout and "p99" in result.stdout


def test_logs_cli_shows_structured_json(mesh: Settings) -> None:
    result = cli(mesh, "logs", "vision", "-n", "200")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    started = [e for e in events if e.get("event") == "server.started"]
    assert started and started[0]["service"] == "vision" and "timestamp" in started[0]


def test_nats_has_jetstream(mesh: Settings) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://{mesh.host}:{mesh.nats_monitor_port}/jsz",
                                timeout=5) as response:
        info = json.loads(response.read())
    assert info["config"]["store_dir"].startswith(str(mesh.state_dir))


async def test_health_watch_streams(mesh: Settings) -> None:
    async with grpc.aio.insecure_channel(mesh.service_address("audio")) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=""), timeout=5)
        first = await stream.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        stream.cancel()


async def test_logs_carry_the_callers_trace_id(mesh: Settings) -> None:
    from mediamesh.client import MeshClient
    from mediamesh.v1 import common_pb2, vision_pb2

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    request = vision_pb2.KeyGreenScreenRequest(input=common_pb2.MediaRef(uri="no/such.mp4"))
    async with MeshClient.from_settings(mesh) as client:
        with pytest.raises(grpc.aio.AioRpcError):
            await MeshClient.run_job(client.vision.KeyGreenScreen(
                request, timeout=10,
                metadata=(("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"),)))
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = cli(mesh, "logs", "vision", "-n", "500").stdout.splitlines()
        failed = [json.loads(x) for x in lines if trace_id in x]
        if failed:
            break
        time.sleep(0.2)
    assert failed and failed[-1]["event"] == "rpc.failed"
    assert failed[-1]["rpc"] == "/mediamesh.v1.VisionService/KeyGreenScreen"
    assert "no/such.mp4" in failed[-1]["error"]
