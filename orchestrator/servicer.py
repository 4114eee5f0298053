"""WorkflowService: submit, inspect, watch and cancel runs; list and validate workflows.

Thin: validation and state live in the engine and the workflow spec; this maps messages.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from google.protobuf import json_format, struct_pb2

from mediamesh.errors import InvalidArgument, StorageUnavailable
from mediamesh.grpc_server import ServiceBinding
from mediamesh.logs import get_logger
from mediamesh.nats_client import NatsConnection
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import workflow_pb2, workflow_pb2_grpc
from orchestrator.engine import Engine, EngineConfig
from orchestrator.registry import WorkflowRegistry
from orchestrator.run_messages import RUN_STATE_NAMES, event_message, run_message
from orchestrator.workflow_spec import WorkflowInvalid, load_workflow

log = get_logger()
DEFAULT_PAGE = 50
MAX_PAGE = 500


class WorkflowServicer(workflow_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, runtime: OrchestratorRuntime) -> None:
        self.runtime = runtime

    @property
    def engine(self) -> Engine:
        if not self.runtime.started.is_set():
            raise StorageUnavailable("the orchestrator is still connecting to NATS JetStream; "
                                     "retry shortly (see `mediamesh status`)")
        return self.runtime.engine

    async def SubmitWorkflow(self, request: workflow_pb2.SubmitWorkflowRequest,  # noqa: N802
                             context: grpc.aio.ServicerContext
                             ) -> workflow_pb2.SubmitWorkflowResponse:
        inputs = json_format.MessageToDict(request.inputs) if request.HasField("inputs") else {}
        doc = await self.engine.submit(  # the run's trace is this call's (see engine.submit)
            name=request.workflow_name, yaml_text=request.workflow_yaml, inputs=inputs,
            idempotency_key=request.idempotency_key, labels=dict(request.labels))
        return workflow_pb2.SubmitWorkflowResponse(run_id=doc["run_id"], run=run_message(doc))

    async def GetRun(self, request: workflow_pb2.GetRunRequest,  # noqa: N802
                     context: grpc.aio.ServicerContext) -> workflow_pb2.Run:
        return run_message(await self.engine.get(_run_id(request.run_id)))

    async def WatchRun(self, request: workflow_pb2.WatchRunRequest,  # noqa: N802
                       context: grpc.aio.ServicerContext
                       ) -> AsyncIterator[workflow_pb2.RunEvent]:
        async for event in self.engine.watch(_run_id(request.run_id), request.from_start):
            yield event_message(event)

    async def CancelRun(self, request: workflow_pb2.CancelRunRequest,  # noqa: N802
                        context: grpc.aio.ServicerContext) -> workflow_pb2.Run:
        return run_message(await self.engine.cancel(_run_id(request.run_id), request.reason))

    async def ListRuns(self, request: workflow_pb2.ListRunsRequest,  # noqa: N802
                       context: grpc.aio.ServicerContext) -> workflow_pb2.ListRunsResponse:
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        try:
            offset = int(request.page_token or 0)
        except ValueError:
            raise InvalidArgument("page_token is not one this server gave out",
                                  field_name="page_token") from None
        docs = await self.engine.list()
        if request.state_filter:
            docs = [d for d in docs if d["state"] == RUN_STATE_NAMES.get(request.state_filter)]
        if request.workflow_name:
            docs = [d for d in docs if d["workflow"]["name"] == request.workflow_name]
        docs.sort(key=lambda d: (d["created_at"], d["run_id"]), reverse=True)
        page = docs[offset:offset + size]
        token = str(offset + size) if offset + size < len(docs) else ""
        return workflow_pb2.ListRunsResponse(runs=[run_message(d) for d in page],
                                             next_page_token=token)

    async def ListWorkflows(self, request: workflow_pb2.ListWorkflowsRequest,  # noqa: N802
                            context: grpc.aio.ServicerContext
                            ) -> workflow_pb2.ListWorkflowsResponse:
        infos = []
        for workflow in self.runtime.registry.list():
            inputs = []
            for spec in workflow.inputs.values():
                default = struct_pb2.Value()
                if spec.default is not None:
                    json_format.ParseDict(spec.default, default)
                inputs.append(workflow_pb2.InputSpec(
                    name=spec.name, type=spec.type, required=spec.required, default=default,
                    description=spec.description))
            infos.append(workflow_pb2.WorkflowInfo(name=workflow.name, version=workflow.version,
                                                   description=workflow.description,
                                                   inputs=inputs))
        return workflow_pb2.ListWorkflowsResponse(workflows=infos)

    async def ValidateWorkflow(self, request: workflow_pb2.ValidateWorkflowRequest,  # noqa: N802
                               context: grpc.aio.ServicerContext
                               ) -> workflow_pb2.ValidateWorkflowResponse:
        try:
            load_workflow(request.workflow_yaml)
        except WorkflowInvalid as exc:
            return workflow_pb2.ValidateWorkflowResponse(valid=False, problems=[
                workflow_pb2.ValidationProblem(path=p.path, line=p.line, column=p.column,
                                               message=p.message) for p in exc.problems])
        return workflow_pb2.ValidateWorkflowResponse(valid=True)


def _run_id(value: str) -> str:
    if not value:
        raise InvalidArgument("run_id is empty", field_name="run_id")
    return value


class OrchestratorRuntime:
    """The engine of this process, started in the background once NATS answers."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.nats = NatsConnection.from_settings(ctx.settings)
        self.registry = WorkflowRegistry(ctx.settings.workflows_dir).load()
        self.engine = Engine(ctx.settings, self.nats, self.registry,
                             config=EngineConfig(ack_wait_s=ctx.settings.orchestrator_ack_wait_s,
                                                 workers=ctx.settings.orchestrator_workers),
                             media_exists=self._media_exists)
        self.started = asyncio.Event()

    def _media_exists(self, uri: str) -> bool:
        if "://" in uri:
            return True  # object-store media are checked by the step that reads them
        try:
            return self.ctx.store.confine(uri.removeprefix("file:"), "inputs").is_file()
        except Exception:  # noqa: BLE001 - a path outside the root does not exist for us
            return False

    async def run(self, ctx: ServiceContext) -> None:
        while not self.started.is_set():
            try:
                await self.engine.start()
                self.started.set()
            except Exception as exc:  # noqa: BLE001 - NATS not up yet: keep trying
                log.warning("engine.start_failed", error=str(exc))
                await asyncio.sleep(1.0)

    async def stop(self, ctx: ServiceContext) -> None:
        if self.started.is_set():
            await self.engine.stop()
        await self.nats.close()

    async def ready(self, ctx: ServiceContext) -> bool:
        return self.started.is_set() and await self.nats.is_ready()


_runtimes: dict[int, OrchestratorRuntime] = {}


def runtime_for(ctx: ServiceContext) -> OrchestratorRuntime:
    """One runtime per process (the build, background and readiness hooks share it)."""
    if id(ctx) not in _runtimes:
        _runtimes[id(ctx)] = OrchestratorRuntime(ctx)
    return _runtimes[id(ctx)]


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(WorkflowServicer(runtime_for(ctx)), workflow_pb2,
                              workflow_pb2_grpc, "WorkflowService")]
