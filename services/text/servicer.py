"""TextService: served from day one; every RPC answers UNIMPLEMENTED until issue 6 lands."""
from __future__ import annotations

from mediamesh.grpc_server import ServiceBinding, unimplemented_service
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import text_pb2, text_pb2_grpc


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [unimplemented_service(text_pb2, text_pb2_grpc, "TextService")]
