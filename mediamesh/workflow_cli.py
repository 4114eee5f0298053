"""`mediamesh run`, `mediamesh runs ...`, `mediamesh workflows ...`: workflows from a shell.

Progress bars are fed by the run's own events (WorkflowService.WatchRun), one bar per step.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from rich.table import Table

from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.jobs import JobError, stage
from mediamesh.v1 import workflow_pb2

TERMINAL = ("succeeded", "failed", "cancelled")


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """key=value pairs; a value that is valid JSON is taken as JSON, otherwise as text."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise JobError(f"--input '{pair}' must look like name=value")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def _stage_media(settings: Settings, value: Any) -> Any:
    """Local files given for media inputs are copied into the media root, as `key` does."""
    if isinstance(value, list):
        return [_stage_media(settings, v) for v in value]
    if isinstance(value, str) and Path(value).expanduser().is_file():
        return stage(settings, Path(value)).uri
    return value


async def _input_types(mesh: MeshClient, name: str) -> dict[str, str]:
    reply = await mesh.workflow.ListWorkflows(workflow_pb2.ListWorkflowsRequest(), timeout=10)
    for workflow in reply.workflows:
        if workflow.name == name.partition("@")[0]:
            return {i.name: i.type for i in workflow.inputs}
    return {}


def _rpc_error(exc: grpc.aio.AioRpcError) -> JobError:
    return JobError(f"{exc.code().name}: {exc.details()}")


async def submit_run(settings: Settings, workflow: str, inputs: dict[str, Any],
                     yaml_file: Path | None, key: str) -> str:
    async with MeshClient.from_settings(settings) as mesh:
        types = {} if yaml_file else await _input_types(mesh, workflow)
        for name, kind in types.items():
            if kind.startswith("media") and name in inputs:
                inputs[name] = _stage_media(settings, inputs[name])
        values = struct_pb2.Struct()
        json_format.ParseDict(inputs, values)
        request = workflow_pb2.SubmitWorkflowRequest(inputs=values, idempotency_key=key)
        if yaml_file is not None:
            request.workflow_yaml = yaml_file.read_text()
        else:
            request.workflow_name = workflow
        try:
            reply = await mesh.workflow.SubmitWorkflow(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            raise _rpc_error(exc) from exc
    return reply.run_id


async def watch_run(settings: Settings, run_id: str, console: Console) -> workflow_pb2.Run:
    """Live bars per step until the run ends; returns the final run."""
    async with MeshClient.from_settings(settings) as mesh:
        bars: dict[str, TaskID] = {}
        totals: dict[str, int] = {}
        done: dict[str, int] = {}
        with Progress(TextColumn("{task.description:<18}"), BarColumn(), TaskProgressColumn(),
                      TextColumn("{task.fields[note]}"), console=console) as progress:
            try:
                stream = mesh.workflow.WatchRun(workflow_pb2.WatchRunRequest(
                    run_id=run_id, from_start=True), timeout=24 * 3600)
                async for event in stream:
                    data = json_format.MessageToDict(event.data) if event.HasField("data") else {}
                    step = event.step_id
                    if event.type == "step.started":
                        totals[step] = int(data.get("items", 1)) or 1
                        done[step] = 0
                        bars[step] = progress.add_task(step, total=totals[step], note="")
                    elif event.type == "step.progress" and step in bars:
                        if "done" in data:
                            done[step] = int(data["done"])
                        partial = float(data.get("item_fraction", 0.0)) \
                            if "item_fraction" in data else 0.0
                        note = f"retry {data['retry']}" if "retry" in data else ""
                        progress.update(bars[step], completed=done[step] + partial, note=note)
                    elif event.type == "step.succeeded":
                        if step not in bars:
                            bars[step] = progress.add_task(step, total=1, note="")
                        progress.update(bars[step], completed=progress.tasks[bars[step]].total,
                                        note="skipped" if data.get("skipped") else "done")
                    elif event.type == "step.failed" and step in bars:
                        progress.update(bars[step], note=f"[red]{event.error_message}[/red]")
            except grpc.aio.AioRpcError as exc:
                raise _rpc_error(exc) from exc
        return await mesh.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=run_id), timeout=10)


async def run_to_end(settings: Settings, workflow: str, inputs: dict[str, Any],
                     console: Console, what: str) -> dict[str, Any]:
    """Submit a run, follow it with a bar per step and return its outputs (JSON form);
    JobError saying why (or where to look) when it does not succeed."""
    run_id = await submit_run(settings, workflow, inputs, None, "")
    console.print(f"{what} run {run_id}", soft_wrap=True)
    run = await watch_run(settings, run_id, console)
    if run.state != workflow_pb2.RUN_STATE_SUCCEEDED:
        detail = run.error_message or f"see `mediamesh runs get {run_id}`"
        raise JobError(f"the {what} run failed: {detail}")
    return dict(json_format.MessageToDict(run.outputs))


def copy_output(settings: Settings, ref: Any, target: Path) -> Path | None:
    """Copy one output media (a MediaRef in JSON form, or nothing) from the media root to
    `target`; the path written, or None when the run produced none."""
    uri = (ref or {}).get("uri") if isinstance(ref, dict) else None
    if not uri:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(settings.media_root / uri, target)
    return target


def media_uris(value: Any) -> list[str]:
    """Every MediaRef uri inside a run's outputs."""
    if isinstance(value, dict):
        if isinstance(value.get("uri"), str):
            return [value["uri"]]
        return [u for v in value.values() for u in media_uris(v)]
    if isinstance(value, list):
        return [u for v in value for u in media_uris(v)]
    return []


def collect_outputs(settings: Settings, run: workflow_pb2.Run, out_dir: Path) -> list[Path]:
    """Copy the run's output media from the media root into `out_dir`."""
    outputs = json_format.MessageToDict(run.outputs)
    copied = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for uri in media_uris(outputs):
        source = settings.media_root / uri
        if source.is_file():
            target = out_dir / Path(uri).name
            shutil.copy2(source, target)
            copied.append(target)
    return copied


def print_run(console: Console, run: workflow_pb2.Run) -> None:
    state = workflow_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_")
    colour = {"SUCCEEDED": "green", "FAILED": "red", "CANCELLED": "yellow"}.get(state, "white")
    console.print(f"run {run.run_id} ({run.workflow_name}@{run.workflow_version}): "
                  f"[{colour}]{state}[/{colour}]", soft_wrap=True)
    if run.error_message:
        console.print(f"error: {run.error_message}", soft_wrap=True)
    if run.HasField("outputs"):
        console.print_json(json.dumps(json_format.MessageToDict(run.outputs)))


def runs_table(runs: list[workflow_pb2.Run]) -> Table:
    table = Table()
    for column in ("run", "workflow", "state", "steps done", "created"):
        table.add_column(column, no_wrap=column == "run")
    for run in runs:
        finished = sum(1 for s in run.steps if s.status == workflow_pb2.STEP_STATUS_SUCCEEDED)
        table.add_row(run.run_id, f"{run.workflow_name}@{run.workflow_version}",
                      workflow_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_"),
                      f"{finished}/{len(run.steps)}", run.created_at.ToJsonString())
    return table


async def call(settings: Settings, method: str, request: Any) -> Any:
    async with MeshClient.from_settings(settings) as mesh:
        try:
            return await getattr(mesh.workflow, method)(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            raise _rpc_error(exc) from exc


async def dead_letters(settings: Settings, limit: int) -> list[dict[str, Any]]:
    import nats

    from mediamesh.nats_client import nats_options
    from orchestrator.work_queue import WorkQueue

    connection = await nats.connect(settings.nats_address, connect_timeout=2,
                                    max_reconnect_attempts=1, **nats_options(settings))
    try:
        return await WorkQueue(connection.jetstream()).dead_letters(limit)
    finally:
        await connection.close()

