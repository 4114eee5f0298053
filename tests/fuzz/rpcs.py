"""Every RPC the mesh serves, read from the generated descriptors, so a new RPC is fuzzed the
day it enters a contract without anyone listing it here."""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from google.protobuf import message
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass

from mediamesh.v1 import (
    audio_pb2,
    compose_pb2,
    diagnostics_pb2,
    text_pb2,
    vision_pb2,
    workflow_pb2,
)

#: The part (supervised process) serving each contract service.
CONTRACTS: tuple[tuple[ModuleType, str, str], ...] = (
    (audio_pb2, "AudioService", "audio"),
    (vision_pb2, "VisionService", "vision"),
    (text_pb2, "TextService", "text"),
    (compose_pb2, "ComposeService", "compose"),
    (workflow_pb2, "WorkflowService", "orchestrator"),
)
#: DiagnosticsService rides along in every service process; each one is its own target.
DIAGNOSTICS_PARTS = ("audio", "vision", "text", "compose", "orchestrator")
#: RPCs that are in the contract but not built yet: UNIMPLEMENTED is their answer (none now).
NOT_YET_IMPLEMENTED: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rpc:
    """One fuzz target: a method on the part that serves it."""

    part: str
    method: MethodDescriptor

    @property
    def path(self) -> str:
        """The gRPC method path, `/mediamesh.v1.AudioService/AnalyzeRhythm`."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def short(self) -> str:
        return f"{self.method.containing_service.name}/{self.method.name}"

    @property
    def key(self) -> str:
        """Unique and readable: the diagnostics targets carry their part."""
        is_diagnostics = self.method.containing_service.name == "DiagnosticsService"
        return f"{self.short}@{self.part}" if is_diagnostics else self.short

    @property
    def streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def implemented(self) -> bool:
        return self.short not in NOT_YET_IMPLEMENTED

    def request_class(self) -> type[message.Message]:
        return GetMessageClass(self.method.input_type)


def all_rpcs() -> list[Rpc]:
    found = [Rpc(part, method) for module, service, part in CONTRACTS
             for method in module.DESCRIPTOR.services_by_name[service].methods]
    probe = diagnostics_pb2.DESCRIPTOR.services_by_name["DiagnosticsService"]
    found += [Rpc(part, method) for part in DIAGNOSTICS_PARTS for method in probe.methods]
    return found
