"""Scale-out on one machine, as a cluster runs it (tests/integration/replicas.py): a mesh's
NATS and Triton, then 1 replica of every service and 1 orchestrator, then 2 and 2; the
same batch of workflow runs through each (medleys: AudioService + ComposeService; green
screens: VisionService + ComposeService), submitted at once; and the recovery when a vision
replica is SIGKILLed in the middle of the batch.

Prints a table and writes bench/results/scale_out.json:
  runs/min     finished runs per minute of wall time for the whole batch (every run must
               succeed: a failed run fails the bench)
  x_1          throughput against the 1-replica row, measured side by side in one script
  recovery_s   from the SIGKILL (once the victim has finished a call, so others are in
               flight) to the first vision step that succeeds after it (the killed
               replica's in-flight calls fail UNAVAILABLE and are retried, by gRPC or by the
               workflow, on the surviving replica)
Both rows share this machine's 2 cores and one Triton: replicas add parallel decode, encode
and Python work, not inference capacity, so the gain here is a floor of what separate
nodes give.

    python bench/scale_out.py [--medleys 2] [--greenscreens 4]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import json_format, struct_pb2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings, load_settings
from mediamesh.mesh import control
from mediamesh.mesh.ports import free_port_base
from mediamesh.v1 import workflow_pb2
from tests.integration.replicas import MeshOrchestratorPaused, ReplicaSet
from tests.integration.test_medley_workflow import write_songs
from tests.integration.test_workflows import write_clip

RESULTS = ROOT / "bench" / "results"


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    json_format.ParseDict(values, out)
    return out


def inputs(settings: Settings, medleys: int, greenscreens: int
           ) -> list[tuple[str, dict[str, Any]]]:
    songs = [uri for uri, _ in write_songs(settings.media_root)]
    clips = []
    for k in range(3):
        write_clip(settings.media_root / "scale" / f"clip{k}.mp4", 3.0)
        clips.append(f"scale/clip{k}.mp4")
    media.write_image(settings.media_root / "scale" / "backdrop.png",
                      np.full((90, 160, 3), (30, 60, 200), np.uint8))
    runs = [("medley", {"songs": songs[k % 2:k % 2 + 2], "output": f"scale/m{k}.wav"})
            for k in range(medleys)]
    runs += [("greenscreen", {"clips": clips, "backdrop": "scale/backdrop.png"})
             for _ in range(greenscreens)]
    return runs


async def batch(client: MeshClient, runs: list[tuple[str, dict[str, Any]]],
                kill: Any = None) -> tuple[float, float | None]:
    """(wall seconds for every run to finish, recovery seconds after `kill` or None)."""
    started = time.perf_counter()
    ids = [(await client.workflow.SubmitWorkflow(workflow_pb2.SubmitWorkflowRequest(
        workflow_name=name, inputs=struct(values)), timeout=30)).run_id
        for name, values in runs]
    killed_at: float | None = None
    recovered_at: float | None = None

    async def follow(run_id: str) -> None:
        nonlocal recovered_at
        while True:
            try:
                async for event in client.workflow.WatchRun(workflow_pb2.WatchRunRequest(
                        run_id=run_id, from_start=True), timeout=900):
                    if killed_at is not None and recovered_at is None and \
                            event.type == "step.succeeded" and \
                            event.step_id in ("composite", "mattes") and \
                            time.perf_counter() > killed_at:
                        recovered_at = time.perf_counter()
                break
            except Exception:  # noqa: BLE001 - a watch through a killed orchestrator
                await asyncio.sleep(0.5)
        run = await client.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=run_id),
                                           timeout=30)
        if run.state != workflow_pb2.RUN_STATE_SUCCEEDED:
            raise RuntimeError(f"run {run_id} ended {run.state}: {run.error_message}")

    async def killer() -> None:
        nonlocal killed_at
        if kill is None:
            return
        victim = kill.__self__  # the replica: killed once it has finished a call
        while not victim.calls():
            await asyncio.sleep(0.1)
        kill()
        killed_at = time.perf_counter()

    await asyncio.gather(killer(), *(follow(i) for i in ids))
    wall = time.perf_counter() - started
    recovery = recovered_at - killed_at if killed_at and recovered_at else None
    return wall, recovery


def measure(settings: Settings, runs: list[tuple[str, dict[str, Any]]], replicas: int,
            kill_vision: bool) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"mm-scale-{replicas}-"))
    group = ReplicaSet(settings, folder, service_replicas=replicas, orchestrators=replicas)
    group.start()
    try:
        async def go() -> tuple[float, float | None]:
            async with group.client() as client:
                kill = group.of("vision")[0].kill if kill_vision else None
                return await batch(client, runs, kill)
        wall, recovery = asyncio.run(go())
    finally:
        group.stop()
    return {"replicas": replicas, "runs": len(runs), "killed": kill_vision,
            "wall_s": wall, "runs_per_min": 60 * len(runs) / wall, "recovery_s": recovery,
            "calls": {f"{r.part}:{r.port}": r.calls() for r in group.replicas}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--medleys", type=int, default=2)
    parser.add_argument("--greenscreens", type=int, default=4)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="mm-bench-scale-"))
    settings = load_settings(state_dir=state, port_base=free_port_base())
    control.up(settings, timeout_s=180)
    try:
        runs = inputs(settings, args.medleys, args.greenscreens)
        with MeshOrchestratorPaused(settings):
            rows = [measure(settings, runs, 1, False), measure(settings, runs, 2, False),
                    measure(settings, runs, 2, True)]
    finally:
        control.down(settings)
    for row in rows:
        row["x_1"] = row["runs_per_min"] / rows[0]["runs_per_min"]
    print(f"scale-out: {len(runs)} runs ({args.medleys} medleys, {args.greenscreens} green "
          "screens of 3 clips) at once, one Triton and NATS, 2 cores\n")
    print("| replicas per part | vision replica killed | runs | wall s | runs/min | x 1 replica "
          "| recovery s |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        recovery = f"{row['recovery_s']:.1f}" if row["recovery_s"] is not None else "-"
        print(f"| {row['replicas']} | {'yes' if row['killed'] else 'no'} | {row['runs']} | "
              f"{row['wall_s']:.1f} | {row['runs_per_min']:.2f} | {row['x_1']:.2f} | "
              f"{recovery} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_out.json").write_text(json.dumps(rows, indent=1))
    print(f"\nwrote {RESULTS / 'scale_out.json'}")


if __name__ == "__main__":
    main()
