"""Faults in the middle of the headline workflow, on a mesh of its own: Triton or NATS killed
while the medley runs. Each run ends SUCCEEDED, every step's call succeeded exactly once
(the services' access logs count them), and the run's events are gap-free and unrepeated.
A SIGTERMed service answers NOT_SERVING while it finishes what it has."""
from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.mesh.health import grpc_health
from mediamesh.v1 import common_pb2, vision_pb2, workflow_pb2
from tests.integration.long_clips import write_long_clip
from tests.integration.test_medley_workflow import write_songs
from tests.integration.test_supervision import all_healthy, pid_of, wait_for
from tests.mesh_fixture import running_mesh

#: calls of one medley of three songs: rhythm and chorus per song, one mix
CALLS = {"AnalyzeRhythm": 3, "DetectChorus": 3, "RenderMedley": 1}


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    # services wait out a Triton restart (~20 s here) inside one call: retries until the
    # 30 s deadline instead of failing the step after ~3 s
    with running_mesh(tmp_path_factory.mktemp("faults"), triton_retries=10,
                      drain_delay_s=1.5) as settings:
        yield settings


def served(settings: Settings, run_id: str) -> dict[str, int]:
    """Successful calls of a run per RPC, from the parts' JSON access logs."""
    counts: dict[str, int] = {}
    for log in (settings.state_dir / "logs").glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if run_id in line and '"rpc.ok"' in line:
                rpc = json.loads(line)["rpc"].rsplit("/", 1)[-1]
                counts[rpc] = counts.get(rpc, 0) + 1
    return counts


def logged(settings: Settings, part: str, event: str, run_id: str = "") -> int:
    """Lines of `event` in a part's log (those naming `run_id` when given)."""
    log = settings.state_dir / "logs" / f"{part}.log"
    return sum(1 for line in log.read_text(errors="replace").splitlines()
               if f'"{event}"' in line and run_id in line)


async def medley_with_a_fault(settings: Settings, victim: str, folder: str) -> str:
    """Run the medley, SIGKILL `victim` once the first song's beat tracking is under way;
    returns the run id after checking the run completed once."""
    songs = write_songs(settings.media_root)
    async with MeshClient.from_settings(settings) as client:
        reply = await client.workflow.SubmitWorkflow(workflow_pb2.SubmitWorkflowRequest(
            workflow_name="medley", inputs=_struct({
                "songs": [uri for uri, _ in songs], "output": f"{folder}/medley.wav"})),
            timeout=30)
        events: list[workflow_pb2.RunEvent] = []
        killed = False
        while not events or events[-1].type not in ("succeeded", "failed", "cancelled"):
            try:
                stream = client.workflow.WatchRun(workflow_pb2.WatchRunRequest(
                    run_id=reply.run_id, from_start=True), timeout=300)
                events = []
                async for event in stream:
                    events.append(event)
                    if not killed and event.type == "step.started" and event.step_id == "rhythm":
                        await asyncio.sleep(0.5)  # the songs' AnalyzeRhythm calls are out
                        os.kill(pid_of(settings, victim), signal.SIGKILL)
                        killed = True
            except grpc.aio.AioRpcError as exc:  # NATS down: the watch breaks; watch again
                assert exc.code() in (grpc.StatusCode.UNAVAILABLE,
                                      grpc.StatusCode.DEADLINE_EXCEEDED), exc
                await asyncio.sleep(1)
        run = await client.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=reply.run_id),
                                           timeout=30)
    assert killed
    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED, run.error_message
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events].count("succeeded") == 1
    assert (settings.media_root / folder / "medley.wav").stat().st_size > 100_000
    wait_for(lambda: all_healthy(settings), 60, "the mesh to be healthy again")
    assert served(settings, reply.run_id) == CALLS
    return reply.run_id


def _struct(values: dict[str, object]) -> object:
    from google.protobuf import struct_pb2

    message = struct_pb2.Struct()
    message.update(values)
    return message


async def test_triton_killed_mid_medley(faulty: Settings) -> None:
    run_id = await medley_with_a_fault(faulty, "triton", "after-triton")
    assert logged(faulty, "audio", "triton.retry", run_id) >= 1  # the fault hit its calls


async def test_nats_killed_mid_medley(faulty: Settings) -> None:
    await medley_with_a_fault(faulty, "nats", "after-nats")
    assert logged(faulty, "orchestrator", "nats.reconnected") >= 1


async def test_sigterm_says_not_serving_before_it_stops(faulty: Settings,
                                                        tmp_path: Path) -> None:
    frames = write_long_clip(faulty.media_root / "drain.mp4", 10.0, 640, 360)
    address = faulty.service_address("vision")
    async with MeshClient.from_settings(faulty) as client:
        stream = client.vision.KeyGreenScreen(vision_pb2.KeyGreenScreenRequest(
            input=common_pb2.MediaRef(uri="drain.mp4")), timeout=120)
        first = await stream.read()
        assert first.WhichOneof("event") == "progress"
        before = pid_of(faulty, "vision")
        os.kill(before, signal.SIGTERM)
        # the port still answers, and says NOT_SERVING: traffic moves before calls are refused
        wait_for(lambda: grpc_health(address, 0.5, "mediamesh.v1.VisionService")
                 == (False, "NOT_SERVING"), 1.5, "vision to say NOT_SERVING")
        result = None
        while (event := await stream.read()) is not grpc.aio.EOF:
            if event.WhichOneof("event") == "result":
                result = event.result
        assert result is not None and result.frames == frames
    wait_for(lambda: pid_of(faulty, "vision") not in (0, before), 30, "vision to come back")
    wait_for(lambda: all_healthy(faulty), 30, "the mesh to be healthy again")
