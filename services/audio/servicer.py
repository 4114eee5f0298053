"""AudioService: served from day one; every RPC answers UNIMPLEMENTED until issue 4 lands."""
from __future__ import annotations

from mediamesh.grpc_server import ServiceBinding, unimplemented_service
from mediamesh.service_runtime import ServiceContext
from mediamesh.v1 import audio_pb2, audio_pb2_grpc


def bindings(ctx: ServiceContext) -> list[ServiceBinding]:
    return [unimplemented_service(audio_pb2, audio_pb2_grpc, "AudioService")]
