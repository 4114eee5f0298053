"""Run documents and run events as WorkflowService messages."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2

from mediamesh.v1 import common_pb2, workflow_pb2

RUN_STATES = {"PENDING": workflow_pb2.RUN_STATE_PENDING,
              "RUNNING": workflow_pb2.RUN_STATE_RUNNING,
              "SUCCEEDED": workflow_pb2.RUN_STATE_SUCCEEDED,
              "FAILED": workflow_pb2.RUN_STATE_FAILED,
              "CANCELLED": workflow_pb2.RUN_STATE_CANCELLED}
RUN_STATE_NAMES = {v: k for k, v in RUN_STATES.items()}


def _timestamp(stamp: str | None) -> timestamp_pb2.Timestamp | None:
    if not stamp:
        return None
    value = timestamp_pb2.Timestamp()
    value.FromDatetime(datetime.fromisoformat(stamp))
    return value


def _struct(value: Any) -> struct_pb2.Struct | None:
    if not isinstance(value, dict):
        return None
    message = struct_pb2.Struct()
    json_format.ParseDict(value, message)
    return message


def _set_present(message: Any, values: dict[str, Any]) -> None:
    """Set the message fields whose value exists (unset fields stay unset, not empty)."""
    for name, value in values.items():
        if value is not None:
            getattr(message, name).CopyFrom(value)


def step_state(step_id: str, st: dict[str, Any]) -> workflow_pb2.StepState:
    items = st["items"]
    done = sum(1 for i in items if i["status"] == "SUCCEEDED")
    error = st.get("error") or {}
    message = workflow_pb2.StepState(
        step_id=step_id, status=getattr(workflow_pb2, f"STEP_STATUS_{st['status']}"),
        attempts=max((i["attempt"] for i in items), default=0), items_total=len(items),
        items_done=done, error_message=error.get("message", ""),
        progress=common_pb2.Progress(fraction=done / len(items) if items else
                                     float(st["status"] == "SUCCEEDED"),
                                     done=done, total=len(items), stage=st["status"].lower()))
    _set_present(message, {name: _timestamp(st.get(name))
                           for name in ("started_at", "finished_at")})
    return message


def run_message(doc: dict[str, Any]) -> workflow_pb2.Run:
    error = doc.get("error") or {}
    run = workflow_pb2.Run(
        run_id=doc["run_id"], workflow_name=doc["workflow"]["name"],
        workflow_version=doc["workflow"]["version"], state=RUN_STATES[doc["state"]],
        steps=[step_state(sid, st) for sid, st in doc["steps"].items()],
        error_message=error.get("message", ""), labels=doc.get("labels") or {})
    _set_present(run, {"inputs": _struct(doc.get("inputs")),
                       "outputs": _struct(doc.get("outputs")),
                       "created_at": _timestamp(doc.get("created_at")),
                       "updated_at": _timestamp(doc.get("updated_at"))})
    return run


def event_message(event: dict[str, Any]) -> workflow_pb2.RunEvent:
    data = dict(event.get("data") or {})
    message = workflow_pb2.RunEvent(
        run_id=event["run_id"], sequence=int(event["sequence"]), type=event["type"],
        step_id=str(data.get("step_id") or ""), item_index=int(data.get("item_index", -1)),
        error_message=str(data.get("error_message") or ""))
    if "fraction" in data or "item_fraction" in data:
        message.progress.CopyFrom(common_pb2.Progress(
            fraction=float(data.get("fraction", data.get("item_fraction")) or 0.0),
            done=int(data.get("done", 0)), total=int(data.get("total", 0)),
            stage=str(data.get("stage", ""))))
    _set_present(message, {"time": _timestamp(event.get("time")), "data": _struct(data)})
    return message
