"""Supervision and faults on the real mesh: killed parts come back, Triton down is a clear
UNAVAILABLE, two meshes configured apart coexist, and start-up problems are one-line errors."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings, load_settings
from mediamesh.grpc_errors import error_info
from mediamesh.mesh import control
from mediamesh.mesh.health import grpc_health
from mediamesh.mesh.ports import free_port_base
from mediamesh.mesh.supervisor import MeshSupervisor, events_file
from mediamesh.v1 import common_pb2, vision_pb2
from tests.integration.long_clips import write_long_clip


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def pid_of(settings: Settings, part: str) -> int:
    return next(p.pid for p in MeshSupervisor(settings).processes() if p.name == part)


def all_healthy(settings: Settings) -> bool:
    rows, _ = control.status(settings)
    return all(r.health.healthy for r in rows)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mediamesh.cli", *args], capture_output=True,
                          text=True, timeout=180, env={**os.environ, **(env or {})})


def key_request() -> vision_pb2.KeyGreenScreenRequest:
    image = np.full((32, 48, 3), (40, 200, 60), np.uint8)
    image[8:24, 16:32] = (200, 150, 130)
    return vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(inline_data=media.encode_image(image), name="k.png"))


def test_a_killed_service_is_restarted_and_reported(mesh: Settings) -> None:
    before = pid_of(mesh, "audio")
    os.kill(before, signal.SIGKILL)
    wait_for(lambda: pid_of(mesh, "audio") not in (0, before), 30, "audio to be restarted")
    wait_for(lambda: grpc_health(mesh.service_address("audio"))[0], 30, "audio health")
    wait_for(lambda: control.deaths_by_part(mesh).get("audio", 0) >= 1, 10,
             "the watchdog to report the death")
    rows, _ = control.status(mesh)
    assert next(r for r in rows if r.name == "audio").deaths >= 1


def test_a_hung_service_is_killed_and_restarted(mesh: Settings) -> None:
    # SIGSTOP: the port stays open and accepts, nothing answers (as a wedged event loop);
    # supervisord sees no exit. A prober with a short policy (the supervised one waits
    # ~45 s) must notice the silence and kill it, and supervisord restarts it.
    before = pid_of(mesh, "compose")
    prober = subprocess.Popen(
        [sys.executable, "-m", "mediamesh.mesh.liveness", "--config",
         str(mesh.resolved_config_path), "--every", "0.5", "--timeout", "1", "--failures", "2",
         "--grace", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # a few checks while it answers: nothing happens
        assert pid_of(mesh, "compose") == before
        os.kill(before, signal.SIGSTOP)
        wait_for(lambda: pid_of(mesh, "compose") not in (0, before), 30,
                 "the hung compose to be killed and restarted")
        wait_for(lambda: grpc_health(mesh.service_address("compose"))[0], 30, "compose health")
    finally:
        prober.kill()
        _, log = prober.communicate(timeout=10)
    hung = [json.loads(line) for line in log.splitlines() if '"part.hung"' in line]
    assert [(h["part"], h["pid"]) for h in hung] == [("compose", before)]
    assert '"part.hung"' in events_file(mesh).read_text()  # `mediamesh status` reads it


async def test_triton_down_is_unavailable_then_recovers(mesh: Settings,
                                                        client: MeshClient) -> None:
    supervisor = MeshSupervisor(mesh)
    supervisor._rpc.supervisor.stopProcess("triton", True)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await MeshClient.run_job(client.vision.KeyGreenScreen(key_request(), timeout=60))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_info(caught.value)[0] == "INFERENCE_UNAVAILABLE"
        assert "mediamesh" in caught.value.details()
        service = "mediamesh.v1.VisionService"
        wait_for(lambda: grpc_health(mesh.service_address("vision"), 1, service)[1]
                 == "NOT_SERVING", 10, "vision readiness to drop")
        assert grpc_health(mesh.service_address("vision"))[0]  # still live
    finally:
        supervisor._rpc.supervisor.startProcess("triton", True)
    wait_for(lambda: all_healthy(mesh), 60, "the mesh to be healthy again")
    result = await MeshClient.run_job(client.vision.KeyGreenScreen(key_request(), timeout=60))
    assert result.frames == 1


def test_a_killed_triton_is_restarted(mesh: Settings) -> None:
    before = pid_of(mesh, "triton")
    os.kill(before, signal.SIGKILL)
    wait_for(lambda: pid_of(mesh, "triton") not in (0, before), 30, "triton to be restarted")
    wait_for(lambda: all_healthy(mesh), 90, "the mesh to be healthy again")


def test_two_meshes_configured_apart_coexist(mesh: Settings, tmp_path: Path) -> None:
    other = load_settings(state_dir=tmp_path / "other", port_base=free_port_base(),
                          embedded_triton=False, triton_url=mesh.triton_address)
    try:
        control.up(other, timeout_s=60)
        assert all_healthy(other) and all_healthy(mesh)
        assert set(other.ports().values()).isdisjoint(mesh.ports().values())
        pids = {p.pid for p in MeshSupervisor(other).processes()}
        assert pids.isdisjoint(p.pid for p in MeshSupervisor(mesh).processes())
    finally:
        assert control.down(other)
    assert all_healthy(mesh)  # stopping one mesh leaves the other alone
    for port in other.ports().values():
        with socket.socket() as probe:  # every port of the stopped mesh is free again
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
            probe.bind((other.host, port))
    assert not MeshSupervisor(other).is_running()


def test_up_refuses_busy_ports_in_one_line(mesh: Settings, tmp_path: Path) -> None:
    result = cli("--state-dir", str(tmp_path / "clash"), "--port-base", str(mesh.port_base), "up")
    assert result.returncode == 1
    assert "ports already in use" in result.stderr and "MEDIAMESH_PORT_BASE" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_refuses_unbuilt_models(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "green_keyer").mkdir(parents=True)
    result = cli("--state-dir", str(tmp_path / "s"), "--port-base", str(free_port_base()), "up",
                 env={"MEDIAMESH_MODEL_REPOSITORY": str(repo)})
    assert result.returncode == 1
    assert "models not built: green_keyer" in result.stderr
    assert "mediamesh models build" in result.stderr


def test_up_with_unreachable_nats_says_so(tmp_path: Path) -> None:
    dead = free_port_base()
    result = cli("--state-dir", str(tmp_path / "s"), "--port-base", str(free_port_base()), "up",
                 env={"MEDIAMESH_EMBEDDED_NATS": "false",
                      "MEDIAMESH_NATS_URL": f"nats://127.0.0.1:{dead}",
                      "MEDIAMESH_EMBEDDED_TRITON": "false",
                      "MEDIAMESH_TRITON_URL": f"127.0.0.1:{dead + 1}"})
    assert result.returncode == 1
    assert "NATS" in result.stderr and f"{dead}" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_build_is_one_line(tmp_path: Path) -> None:
    result = cli("models", "build", "no_such_model")
    assert result.returncode == 1
    assert "unknown model 'no_such_model'" in result.stderr and "green_keyer" in result.stderr


def test_status_without_a_mesh_says_how_to_start(tmp_path: Path) -> None:
    result = cli("--state-dir", str(tmp_path / "none"), "status")
    assert result.returncode == 1 and "mediamesh up" in result.stderr


async def test_sigterm_drains_in_flight_jobs(mesh: Settings, client: MeshClient) -> None:
    # 10 s at 640x360: the keyer keys chroma planes at a few hundred frames a second, so a
    # shorter clip can finish before its first progress report and nothing is in flight
    frames = write_long_clip(mesh.media_root / "tests" / "drain.mp4", 10.0, 640, 360)
    request = vision_pb2.KeyGreenScreenRequest(input=common_pb2.MediaRef(uri="tests/drain.mp4"))
    stream = client.vision.KeyGreenScreen(request, timeout=120)
    first = await stream.read()
    assert first.WhichOneof("event") == "progress" and first.progress.fraction < 1.0
    before = pid_of(mesh, "vision")
    os.kill(before, signal.SIGTERM)  # as Kubernetes does on a rollout
    wait_for(lambda: not grpc_health(mesh.service_address("vision"), 0.5)[0], 5,
             "vision to stop serving new calls")
    result = None
    while (event := await stream.read()) is not grpc.aio.EOF:
        if event.WhichOneof("event") == "result":
            result = event.result
    assert result is not None and result.frames == frames  # the in-flight job finished
    wait_for(lambda: pid_of(mesh, "vision") not in (0, before), 30, "vision to come back")
    wait_for(lambda: all_healthy(mesh), 30, "the mesh to be healthy again")
