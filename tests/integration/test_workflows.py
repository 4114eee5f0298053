"""Workflows run for real: orchestrator -> JetStream -> VisionService -> Triton, on the mesh."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
from google.protobuf import json_format, struct_pb2

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.mesh.health import grpc_health
from mediamesh.mesh.ports import free_port_base
from mediamesh.mesh.supervisor import MeshSupervisor
from mediamesh.synth import green_screen as synth
from mediamesh.v1 import workflow_pb2
from orchestrator.run_store import RunStore
from tests.integration.long_clips import write_long_clip

W, H, FPS = 160, 96, 25.0

FAN = """
name: fan-test
version: 1
inputs:
  clips: {type: "media[]"}
steps:
  - id: key
    call: vision.KeyGreenScreen
    foreach: ${inputs.clips}
    concurrency: 4
    with:
      input: ${item}
      output_mode: ALPHA_ONLY
      output: {uri: "wf/${index}.mp4", overwrite: true}
  - id: recheck
    call: vision.KeyGreenScreen
    with:
      input: ${steps.key.outputs[0].output}
      output: {uri: wf/recheck.mp4, overwrite: true}
outputs:
  mattes: ${steps.key.outputs[*].output.uri}
  frames: ${steps.recheck.outputs.frames}
"""


def write_clip(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with media.VideoWriter(path, W, H, FPS) as writer:
        for f in synth.render_clip(int(seconds * FPS), FPS, W, H):
            writer.write(f.rgb)


@pytest.fixture(scope="module")
def clips(media_root: Path) -> list[str]:
    for name, seconds in (("short", 1.0), ("long", 8.0)):
        write_clip(media_root / "wfin" / f"{name}.mp4", seconds)
    # keyed for several seconds even on an idle machine: the job is surely in flight when
    # a test cancels it or kills its caller
    write_long_clip(media_root / "wfin" / "longer.mp4", 60.0, 640, 360)
    (media_root / "wfin" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 300)
    return ["wfin/short.mp4", "wfin/long.mp4", "wfin/broken.mp4", "wfin/longer.mp4"]


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    json_format.ParseDict(values, message)
    return message


async def submit(client: MeshClient, yaml_text: str, inputs: dict[str, Any],
                 key: str = "") -> str:
    reply = await client.workflow.SubmitWorkflow(workflow_pb2.SubmitWorkflowRequest(
        workflow_yaml=yaml_text, inputs=struct(inputs), idempotency_key=key), timeout=30)
    return reply.run_id


async def events_until_end(client: MeshClient, run_id: str) -> list[workflow_pb2.RunEvent]:
    stream = client.workflow.WatchRun(workflow_pb2.WatchRunRequest(run_id=run_id,
                                                                   from_start=True), timeout=180)
    return [event async for event in stream]


async def run_doc(mesh: Settings, run_id: str) -> dict[str, Any]:
    connection = await nats.connect(mesh.nats_address)
    try:
        doc, _ = await RunStore(connection.jetstream()).get(run_id)
        return doc
    finally:
        await connection.close()


async def test_fan_out_fan_in_succeeds_with_ordered_events(client: MeshClient, mesh: Settings,
                                                           clips: list[str]) -> None:
    run_id = await submit(client, FAN, {"clips": [clips[0]] * 3})
    events = await events_until_end(client, run_id)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))  # ordered, no gaps
    assert events[0].type == "submitted" and events[-1].type == "succeeded"
    assert [e.type for e in events].count("step.succeeded") == 2
    run = await client.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=run_id))
    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED
    outputs = json_format.MessageToDict(run.outputs)
    assert outputs["mattes"] == ["wf/0.mp4", "wf/1.mp4", "wf/2.mp4"]
    assert outputs["frames"] == "25"
    key = next(s for s in run.steps if s.step_id == "key")
    assert (key.items_total, key.items_done, key.attempts) == (3, 3, 1)
    doc = await run_doc(mesh, run_id)
    assert all(i["attempt"] == 1 for i in doc["steps"]["key"]["items"])
    assert doc["outbox"] == []  # every event was published


async def test_submit_is_idempotent(client: MeshClient, clips: list[str]) -> None:
    first = await submit(client, FAN, {"clips": [clips[0]]}, key="order-42")
    second = await submit(client, FAN, {"clips": [clips[0]]}, key="order-42")
    assert first == second
    await events_until_end(client, first)


async def test_schema_and_input_errors_are_rejected_at_submit(client: MeshClient,
                                                             clips: list[str]) -> None:
    bad = FAN.replace("call: vision.KeyGreenScreen", "call: vision.KeyGreen", 1) \
        .replace("output: {uri: wf/recheck.mp4", "output_mode: SOMETIMES\n      output: {uri: x")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await submit(client, bad, {"clips": [clips[0]]})
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(caught.value)[0] == "WORKFLOW_INVALID"
    details = caught.value.details()
    assert "line 8: steps[0].call: unknown RPC 'vision.KeyGreen'" in details
    assert "line 19: steps[1].with.output_mode: expects one of" in details
    reply = await client.workflow.ValidateWorkflow(
        workflow_pb2.ValidateWorkflowRequest(workflow_yaml=bad))
    assert not reply.valid and {p.line for p in reply.problems} == {8, 19}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await submit(client, FAN, {"clips": ["wfin/missing.mp4"], "extra": 1})
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "media 'wfin/missing.mp4' does not exist" in caught.value.details()
    assert "inputs.extra: unknown input" in caught.value.details()


async def test_a_failing_step_fails_the_run_with_the_services_error(client: MeshClient,
                                                                    clips: list[str]) -> None:
    run_id = await submit(client, FAN, {"clips": [clips[2]]})
    events = await events_until_end(client, run_id)
    assert events[-1].type == "failed"
    failed = next(e for e in events if e.type == "step.failed")
    assert failed.step_id == "key" and "broken.mp4" in failed.error_message
    assert json_format.MessageToDict(failed.data)["code"] == "INVALID_ARGUMENT"
    run = await client.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=run_id))
    assert run.state == workflow_pb2.RUN_STATE_FAILED and "broken.mp4" in run.error_message


async def test_cancel_stops_the_run_and_its_calls(client: MeshClient, clips: list[str],
                                                  media_root: Path) -> None:
    output = media_root / "cancel" / "x.mp4"
    run_id = await submit(client, FAN.replace('uri: "wf/${index}.mp4"', 'uri: "cancel/x.mp4"'),
                          {"clips": [clips[3]]})
    stream = client.workflow.WatchRun(workflow_pb2.WatchRunRequest(run_id=run_id,
                                                                   from_start=True), timeout=120)
    async for event in stream:
        data = json_format.MessageToDict(event.data)
        if event.type == "step.progress" and data.get("item_fraction", 1.0) < 0.3:
            break  # the service's own progress: the clip is being keyed right now
    else:
        pytest.fail("the run ended before the service reported progress under 30%")
    run = await client.workflow.CancelRun(workflow_pb2.CancelRunRequest(run_id=run_id,
                                                                        reason="test"))
    assert run.state == workflow_pb2.RUN_STATE_CANCELLED
    rest = [e.type async for e in stream]
    assert rest[-1] == "cancelled"
    # the in-flight KeyGreenScreen call was cancelled: the job stops and removes its partial
    # output; a job that ignored the cancel would still be writing it, then leave it complete
    deadline = time.monotonic() + 10.0
    while output.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not output.exists()
    await asyncio.sleep(1.0)
    assert not output.exists()  # and nothing writes it again
    again = await client.workflow.CancelRun(workflow_pb2.CancelRunRequest(run_id=run_id))
    assert again.state == workflow_pb2.RUN_STATE_CANCELLED


async def test_unknown_runs_and_listing(client: MeshClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.workflow.GetRun(workflow_pb2.GetRunRequest(run_id="nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    page = await client.workflow.ListRuns(workflow_pb2.ListRunsRequest(
        page_size=2, state_filter=workflow_pb2.RUN_STATE_SUCCEEDED))
    assert len(page.runs) <= 2 and all(r.state == workflow_pb2.RUN_STATE_SUCCEEDED
                                       for r in page.runs)
    workflows = await client.workflow.ListWorkflows(workflow_pb2.ListWorkflowsRequest())
    assert "greenscreen" in {w.name for w in workflows.workflows}


async def test_a_killed_orchestrator_resumes_without_redoing_recorded_steps(
        client: MeshClient, mesh: Settings, clips: list[str], media_root: Path) -> None:
    yaml_text = FAN.replace("concurrency: 4", "concurrency: 1")
    run_id = await submit(client, yaml_text, {"clips": [clips[0], clips[3]]})
    first_output = media_root / "wf" / "0.mp4"
    deadline = time.monotonic() + 60
    while True:  # item 0 recorded, item 1 (the long clip) running
        doc = await run_doc(mesh, run_id)
        items = doc["steps"]["key"]["items"]
        if items and items[0]["status"] == "SUCCEEDED" and items[1]["status"] == "RUNNING":
            break
        assert time.monotonic() < deadline, f"never saw item 1 running: {items}"
        await asyncio.sleep(0.1)
    recorded_mtime = first_output.stat().st_mtime_ns
    pid = next(p.pid for p in MeshSupervisor(mesh).processes() if p.name == "orchestrator")
    os.kill(pid, signal.SIGKILL)
    events = await events_until_end_retrying(client, run_id)
    assert events[-1].type == "succeeded", [(e.type, e.step_id, e.error_message)
                                            for e in events if e.error_message]
    doc = await run_doc(mesh, run_id)
    assert doc["steps"]["key"]["items"][0]["attempt"] == 1
    assert first_output.stat().st_mtime_ns == recorded_mtime  # never executed twice
    sequences = [e.sequence for e in events]
    assert sequences == list(range(1, len(sequences) + 1))


async def events_until_end_retrying(client: MeshClient, run_id: str
                                    ) -> list[workflow_pb2.RunEvent]:
    """Watch through an orchestrator restart (the first calls may find it down)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return await events_until_end(client, run_id)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def test_two_replicas_share_a_fan_out_without_double_execution(
        client: MeshClient, mesh: Settings, clips: list[str]) -> None:
    port = free_port_base()
    replica = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "--config", str(mesh.resolved_config_path),
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        address = f"{mesh.host}:{port}"
        while not grpc_health(address, 1.0, "mediamesh.v1.WorkflowService")[0]:
            assert time.monotonic() < deadline, "the replica did not become ready"
            await asyncio.sleep(0.2)
        # more items than one engine has workers (8): the queue must hand some to the other
        yaml_text = FAN.replace("concurrency: 4", "concurrency: 16")
        run_id = await submit(client, yaml_text, {"clips": [clips[0]] * 16})
        events = await events_until_end(client, run_id)
        assert events[-1].type == "succeeded"
        doc = await run_doc(mesh, run_id)
        items = doc["steps"]["key"]["items"]
        assert all(i["attempt"] == 1 and i["status"] == "SUCCEEDED" for i in items)
        engines = {i["owner"].split(":")[0] for i in items}
        assert len(engines) == 2, engines  # both replicas took part
    finally:
        replica.send_signal(signal.SIGTERM)
        replica.wait(timeout=30)


async def test_one_trace_per_run_across_events_and_service_logs(client: MeshClient,
                                                                 mesh: Settings,
                                                                 clips: list[str]) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    reply = await client.workflow.SubmitWorkflow(workflow_pb2.SubmitWorkflowRequest(
        workflow_yaml=FAN, inputs=struct({"clips": [clips[2]]})), timeout=30,
        metadata=(("traceparent", f"00-{trace_id}-b7ad6b7169203331-01"),))
    events = await events_until_end(client, reply.run_id)
    assert events[-1].type == "failed"  # the broken clip: VisionService logs the failure
    connection = await nats.connect(mesh.nats_address)
    try:
        sub = await connection.jetstream().subscribe(f"mediamesh.run.{reply.run_id}.>",
                                                     ordered_consumer=True)
        for _ in range(len(events)):
            message = await sub.next_msg(timeout=5)
            assert message.headers and message.headers["traceparent"].split("-")[1] == trace_id
        await sub.unsubscribe()
    finally:
        await connection.close()
    failures = [json.loads(line) for line in
                (mesh.state_dir / "logs" / "vision.log").read_text().splitlines()
                if trace_id in line]
    assert failures and failures[-1]["event"] == "rpc.failed"
    assert "broken.mp4" in failures[-1]["error"]


async def test_dead_letters_are_kept_and_visible(mesh: Settings) -> None:
    from tests.integration.test_mesh_health import cli

    connection = await nats.connect(mesh.nats_address)
    try:  # a message no worker can understand must not loop forever nor vanish
        await connection.jetstream().publish("mediamesh.steps.garbage", b"{not json",
                                             stream="MEDIAMESH_STEPS")
    finally:
        await connection.close()
    deadline = time.monotonic() + 20
    while True:
        result = cli(mesh, "runs", "dead-letters")
        if "undecodable step task" in result.stdout or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert result.returncode == 0, result.stderr
    assert "undecodable step task" in result.stdout


async def test_the_python_sdk_runs_a_workflow(client: MeshClient, clips: list[str]) -> None:
    seen: list[str] = []
    run = await client.run_workflow(yaml_text=FAN, inputs={"clips": [clips[0]]},
                                    on_event=lambda e: seen.append(e.type))
    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED
    assert seen[0] == "submitted" and seen[-1] == "succeeded"
    assert json_format.MessageToDict(run.outputs)["mattes"] == ["wf/0.mp4"]
    # watching a finished run for what comes next ends at once, with nothing (it waited
    # 15 s for silence before; found by the fuzz suite)
    started = time.monotonic()
    later = [e async for e in client.workflow.WatchRun(workflow_pb2.WatchRunRequest(
        run_id=run.run_id, from_start=False), timeout=30)]
    assert later == [] and time.monotonic() - started < 5
