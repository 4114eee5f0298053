"""Python client SDK: one object with a stub per mesh service, and a helper for long jobs.

    async with MeshClient.from_settings(load_settings()) as mesh:
        result = await mesh.run_job(mesh.vision.KeyGreenScreen(request),
                                    on_progress=lambda p: print(p.fraction))

Long-running RPCs stream `Progress` events and end with one result (see common.proto);
`run_job` hides that shape; `run_workflow` submits a workflow run and follows it.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from mediamesh.channels import open_channel
from mediamesh.config import Settings
from mediamesh.v1 import (
    audio_pb2_grpc,
    common_pb2,
    compose_pb2_grpc,
    text_pb2_grpc,
    vision_pb2_grpc,
    workflow_pb2,
    workflow_pb2_grpc,
)

DEFAULT_TIMEOUT_S = 600.0


class JobFailed(RuntimeError):
    """A long job's stream ended without a result."""


class MeshClient:
    def __init__(self, addresses: dict[str, str], *, settings: Settings | None = None) -> None:
        """Channels to each part at `addresses`, dialled as `settings` say (TLS, token);
        plaintext with default limits when no settings are given."""
        settings = settings if settings is not None else Settings()
        self._channels = {name: open_channel(settings, addr) for name, addr in addresses.items()}
        self.audio = audio_pb2_grpc.AudioServiceStub(self._channels["audio"])
        self.vision = vision_pb2_grpc.VisionServiceStub(self._channels["vision"])
        self.text = text_pb2_grpc.TextServiceStub(self._channels["text"])
        self.compose = compose_pb2_grpc.ComposeServiceStub(self._channels["compose"])
        self.workflow = workflow_pb2_grpc.WorkflowServiceStub(self._channels["orchestrator"])

    @classmethod
    def from_settings(cls, settings: Settings) -> MeshClient:
        names = ("audio", "vision", "text", "compose", "orchestrator")
        return cls({n: settings.service_address(n) for n in names}, settings=settings)

    def channel(self, name: str) -> grpc.aio.Channel:
        return self._channels[name]

    @staticmethod
    async def run_job(stream: AsyncIterator[Any],
                      on_progress: Callable[[common_pb2.Progress], None] | None = None) -> Any:
        """Consume a long job's event stream; returns its result message."""
        result = None
        async for event in stream:
            kind = event.WhichOneof("event")
            if kind == "progress":
                if on_progress:
                    on_progress(event.progress)
            elif kind == "result":
                result = event.result
        if result is None:
            raise JobFailed("the job ended without a result")
        return result

    async def run_workflow(self, workflow: str = "", inputs: dict[str, Any] | None = None, *,
                           yaml_text: str = "", idempotency_key: str = "",
                           on_event: Callable[[workflow_pb2.RunEvent], None] | None = None,
                           timeout_s: float = 3600.0) -> workflow_pb2.Run:
        """Submit a workflow run (by name, or inline YAML), follow its events, return the
        finished run. Raises grpc.aio.AioRpcError on a rejected submit (INVALID_ARGUMENT
        lists every problem)."""
        values = struct_pb2.Struct()
        json_format.ParseDict(inputs or {}, values)
        request = workflow_pb2.SubmitWorkflowRequest(inputs=values,
                                                     idempotency_key=idempotency_key)
        if yaml_text:
            request.workflow_yaml = yaml_text
        else:
            request.workflow_name = workflow
        reply = await self.workflow.SubmitWorkflow(request, timeout=60)
        events = self.workflow.WatchRun(workflow_pb2.WatchRunRequest(
            run_id=reply.run_id, from_start=True), timeout=timeout_s)
        async for event in events:
            if on_event:
                on_event(event)
        return await self.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=reply.run_id),
                                          timeout=60)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    async def __aenter__(self) -> MeshClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
