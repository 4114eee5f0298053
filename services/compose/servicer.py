"""ComposeService: served from day one; every RPC answers UNIMPLEMENTED until issues 4 and 9 lands."""
from __future__ import annotations

from mediamesh.grpc_server import ServiceBinding, unimplemented_service
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import compose_pb2, compose_pb2_grpc


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [unimplemented_service(compose_pb2, compose_pb2_grpc, "ComposeService")]
