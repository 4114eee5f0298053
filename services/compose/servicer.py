"""ComposeService servicer. Every RPC answers UNIMPLEMENTED (the generated base class, mapped by
the shared interceptor) until the issue that implements it lands."""
from __future__ import annotations

from mediamesh.grpc_server import ServiceBinding
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import compose_pb2, compose_pb2_grpc


class ComposeServicer(compose_pb2_grpc.ComposeServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(ComposeServicer(ctx), compose_pb2, compose_pb2_grpc, "ComposeService")]
