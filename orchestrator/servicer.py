"""WorkflowService servicer. The engine lands with issue 3; until then every RPC answers
UNIMPLEMENTED, while the process already holds its NATS JetStream connection and reports
readiness on it."""
from __future__ import annotations

from mediamesh.grpc_server import ServiceBinding
from mediamesh.nats_client import NatsConnection
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import workflow_pb2, workflow_pb2_grpc


class WorkflowServicer(workflow_pb2_grpc.WorkflowServiceServicer):
    def __init__(self, ctx: ServiceContext, nats: NatsConnection) -> None:
        self.ctx = ctx
        self.nats = nats


_connections: dict[str, NatsConnection] = {}


def nats_for(ctx: ServiceContext) -> NatsConnection:
    """One NATS connection per orchestrator process."""
    url = ctx.settings.nats_address
    if url not in _connections:
        _connections[url] = NatsConnection(url)
    return _connections[url]


async def nats_ready(ctx: ServiceContext) -> bool:
    return await nats_for(ctx).is_ready()


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(WorkflowServicer(ctx, nats_for(ctx)), workflow_pb2,
                              workflow_pb2_grpc, "WorkflowService")]
