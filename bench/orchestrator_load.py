"""How much does the workflow engine cost per step, and does it lose or repeat anything?

Starts its own mesh on free ports, then runs a 3-step sequential workflow (each step a real
VisionService.KeyGreenScreen on a tiny image, through Triton) in two modes, side by side:
  anchor      runs one at a time: the engine's overhead with no queueing
  load        N runs submitted at once (default 200)
For every run it reads the run document: latency (created -> finished) and each step's own
service-call time (recorded by the engine around the gRPC call). Overhead per step =
(latency - sum of call times) / steps. Checks: every run SUCCEEDED, every item ran exactly
once (attempt 1), every run's events are numbered 1..n with no gap or duplicate.
Target (issue 3): under 5 ms per step beyond the step's own call; zero lost or duplicated.
Prints a table, writes bench/results/orchestrator_load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
import numpy as np
from google.protobuf import json_format, struct_pb2
from rich.table import Table

from bench.harness import bench_console, bench_mesh, machine, percentile
from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.v1 import workflow_pb2
from orchestrator.events import EventLog
from orchestrator.run_store import RunStore

STEPS = 3
WORKFLOW = """
name: chain3
version: 1
inputs:
  image: {type: media}
steps:
  - id: first
    call: vision.KeyGreenScreen
    with: {input: "${inputs.image}", output_mode: ALPHA_ONLY}
  - id: second
    call: vision.KeyGreenScreen
    with: {input: "${steps.first.outputs.output}", output_mode: ALPHA_ONLY}
  - id: third
    call: vision.KeyGreenScreen
    with: {input: "${steps.second.outputs.output}", output_mode: ALPHA_ONLY}
outputs:
  matte: ${steps.third.outputs.output}
"""


def _seconds(doc: dict[str, Any]) -> float:
    start = datetime.fromisoformat(doc["created_at"])
    end = datetime.fromisoformat(doc["updated_at"])
    return (end - start).total_seconds()


async def _submit(mesh: MeshClient, image_uri: str) -> str:
    inputs = struct_pb2.Struct()
    json_format.ParseDict({"image": image_uri}, inputs)
    reply = await mesh.workflow.SubmitWorkflow(workflow_pb2.SubmitWorkflowRequest(
        workflow_yaml=WORKFLOW, inputs=inputs), timeout=60)
    return reply.run_id


async def _wait_all(store: RunStore, run_ids: list[str], timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    pending = set(run_ids)
    docs: dict[str, dict[str, Any]] = {}
    while pending and time.monotonic() < deadline:
        for run_id in list(pending):
            doc, _ = await store.get(run_id)
            if doc["state"] in ("SUCCEEDED", "FAILED", "CANCELLED") and not doc["outbox"]:
                docs[run_id] = doc
                pending.discard(run_id)
        await asyncio.sleep(0.2)
    for run_id in pending:  # lost or stuck: report them as such
        docs[run_id], _ = await store.get(run_id)
    return [docs[r] for r in run_ids]


async def _mode(settings: Settings, image_uri: str, runs: int, concurrent: bool
                ) -> dict[str, Any]:
    connection = await nats.connect(settings.nats_address)
    store = RunStore(connection.jetstream())
    events = EventLog(connection.jetstream())
    started = time.perf_counter()
    async with MeshClient.from_settings(settings) as mesh:
        if concurrent:
            run_ids = list(await asyncio.gather(*[_submit(mesh, image_uri) for _ in range(runs)]))
            docs = await _wait_all(store, run_ids, timeout_s=600)
        else:
            docs = []
            for _ in range(runs):
                run_id = await _submit(mesh, image_uri)
                docs += await _wait_all(store, [run_id], timeout_s=120)
    wall = time.perf_counter() - started
    latencies = [_seconds(d) * 1000 for d in docs]
    overheads = []
    duplicated = lost = gaps = 0
    for doc in docs:
        items = [i for st in doc["steps"].values() for i in st["items"]]
        if doc["state"] != "SUCCEEDED" or len(items) != STEPS:
            lost += 1
            continue
        duplicated += sum(1 for i in items if i["attempt"] != 1)
        calls = sum(float(i.get("call_ms", 0.0)) for i in items)
        overheads.append((_seconds(doc) * 1000 - calls) / STEPS)
    for doc in docs:
        sequences = [e["sequence"] for e in await events.history(doc["run_id"])]
        gaps += int(sequences != list(range(1, len(sequences) + 1)))
    await connection.close()
    return {
        "runs": runs, "wall_s": wall, "runs_per_s": runs / wall,
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
        "overhead_per_step_p50_ms": percentile(overheads, 50),
        "overhead_per_step_p99_ms": percentile(overheads, 99),
        "lost_or_failed": lost, "duplicated_items": duplicated, "event_gaps": gaps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--anchor-runs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results/orchestrator_load.json"))
    args = parser.parse_args()
    console = bench_console()
    image = np.full((16, 16, 3), (40, 200, 60), np.uint8)
    image[4:12, 4:12] = (200, 150, 130)
    with bench_mesh(None, console) as settings:
        (settings.media_root / "bench").mkdir(parents=True, exist_ok=True)
        media.write_image(settings.media_root / "bench" / "tiny.png", image)
        anchor = asyncio.run(_mode(settings, "bench/tiny.png", args.anchor_runs, False))
        load = asyncio.run(_mode(settings, "bench/tiny.png", args.runs, True))
    table = Table(title=f"{STEPS}-step workflow, each step a real KeyGreenScreen via Triton")
    for column in ("mode", "runs", "runs/s", "latency p50 ms", "latency p99 ms",
                   "overhead/step p50 ms", "overhead/step p99 ms", "lost", "dup", "gaps"):
        table.add_column(column)
    for name, r in (("anchor (1 at a time)", anchor), (f"load ({args.runs} at once)", load)):
        table.add_row(name, str(r["runs"]), f"{r['runs_per_s']:.1f}",
                      f"{r['latency_p50_ms']:.0f}", f"{r['latency_p99_ms']:.0f}",
                      f"{r['overhead_per_step_p50_ms']:.1f}", f"{r['overhead_per_step_p99_ms']:.1f}",
                      str(r["lost_or_failed"]), str(r["duplicated_items"]), str(r["event_gaps"]))
    console.print(table)
    ok = anchor["overhead_per_step_p50_ms"] < 5 and all(
        r["lost_or_failed"] == 0 and r["duplicated_items"] == 0 and r["event_gaps"] == 0
        for r in (anchor, load))
    console.print(f"engine overhead per step (anchor p50): {anchor['overhead_per_step_p50_ms']:.1f} "
                  f"ms: {'meets' if ok else 'MISSES'} the < 5 ms target with nothing lost or "
                  "repeated")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "orchestrator_load", "steps": STEPS,
                                    "anchor": anchor, "load": load, "meets_target": ok,
                                    "machine": machine()}, indent=2))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
