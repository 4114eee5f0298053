"""TextService servicer. Every RPC answers UNIMPLEMENTED (the generated base class, mapped by
the shared interceptor) until the issue that implements it lands."""
from __future__ import annotations

from mediamesh.grpc_server import ServiceBinding
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import text_pb2, text_pb2_grpc


class TextServicer(text_pb2_grpc.TextServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [ServiceBinding.of(TextServicer(ctx), text_pb2, text_pb2_grpc, "TextService")]
