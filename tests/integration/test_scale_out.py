"""Scale-out as a cluster runs it, on one machine (tests/integration/replicas.py): two
replicas of every service and two orchestrators beside the mesh's NATS and Triton; medley
and green-screen runs spread over them; one vision replica and one orchestrator are
SIGKILLed mid-run; every run still succeeds, once."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.config import Settings
from mediamesh.v1 import workflow_pb2
from tests.integration.replicas import MeshOrchestratorPaused, ReplicaSet
from tests.integration.test_medley_workflow import write_songs
from tests.integration.test_workflows import (
    events_until_end_retrying,
    struct,
    write_clip,
)


async def test_runs_survive_a_killed_service_replica_and_a_killed_orchestrator(
        mesh: Settings, media_root: Path, tmp_path: Path) -> None:
    songs = [uri for uri, _ in write_songs(media_root)]
    clips = []
    for k in range(3):
        write_clip(media_root / "scale" / f"clip{k}.mp4", 2.0)
        clips.append(f"scale/clip{k}.mp4")
    media.write_image(media_root / "scale" / "backdrop.png",
                      np.full((90, 160, 3), (30, 60, 200), np.uint8))
    with MeshOrchestratorPaused(mesh):
        replicas = ReplicaSet(mesh, tmp_path / "replicas")
        try:
            replicas.start()
            async with replicas.client() as client:
                runs = []
                for k in range(2):
                    runs.append((await client.workflow.SubmitWorkflow(
                        workflow_pb2.SubmitWorkflowRequest(workflow_name="medley", inputs=struct({
                            "songs": songs[k:k + 2], "output": f"scale/medley{k}.wav"})),
                        timeout=30)).run_id)
                    runs.append((await client.workflow.SubmitWorkflow(
                        workflow_pb2.SubmitWorkflowRequest(workflow_name="greenscreen",
                                                           inputs=struct({
                            "clips": clips, "backdrop": "scale/backdrop.png"})),
                        timeout=30)).run_id)
                vision = replicas.of("vision")
                deadline = time.monotonic() + 120
                while not vision[0].calls():  # the keying is under way on both replicas
                    assert time.monotonic() < deadline, "vision[0] finished no call in 120 s"
                    await asyncio.sleep(0.2)
                served_before = vision[0].calls()
                vision[0].kill()
                replicas.of("orchestrator")[0].kill()
                events = await asyncio.gather(*(events_until_end_retrying(client, run)
                                                for run in runs))
                for run_id, run_events in zip(runs, events, strict=True):
                    run = await client.workflow.GetRun(workflow_pb2.GetRunRequest(
                        run_id=run_id), timeout=30)
                    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED, run.error_message
                    assert [e.type for e in run_events].count("succeeded") == 1
            for part in ("audio", "vision", "compose"):
                assert all(r.calls() > 0 for r in replicas.of(part)), \
                    (part, [r.calls() for r in replicas.of(part)])
            assert served_before > 0 and vision[1].calls() > 0  # the survivor took the rest
        finally:
            replicas.stop()
