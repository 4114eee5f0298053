"""The RPCs a workflow step may call, read from the contract itself (the proto descriptors).

So `call: vision.KeyGreenScreen` is checked at submit time, `with:` keys are checked against
the request message, and `${steps.x.outputs...}` paths against the step's result message.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import ModuleType

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from mediamesh.v1 import audio_pb2, compose_pb2, text_pb2, vision_pb2

#: part name in `call:` -> (generated module, service name)
CALLABLE_SERVICES: dict[str, tuple[ModuleType, str]] = {
    "audio": (audio_pb2, "AudioService"),
    "vision": (vision_pb2, "VisionService"),
    "text": (text_pb2, "TextService"),
    "compose": (compose_pb2, "ComposeService"),
}


@dataclass(frozen=True)
class RpcInfo:
    part: str  # the mesh part serving it, e.g. "vision"
    method: str  # e.g. "KeyGreenScreen"
    path: str  # gRPC method path, e.g. "/mediamesh.v1.VisionService/KeyGreenScreen"
    request: Descriptor
    result: Descriptor  # the unary response, or the `result` of a streaming job's events
    streaming: bool
    response: Descriptor  # what the wire carries: the response, or the stream's event


def _result_of(output: Descriptor, streaming: bool) -> Descriptor:
    if not streaming:
        return output
    field = output.fields_by_name.get("result")
    if field is None or field.message_type is None:
        raise TypeError(f"{output.full_name} has no `result` message field")
    return field.message_type


def all_rpcs() -> dict[str, RpcInfo]:
    """Every callable RPC by its `call:` name (e.g. "vision.KeyGreenScreen")."""
    found: dict[str, RpcInfo] = {}
    for part, (module, service) in CALLABLE_SERVICES.items():
        descriptor = module.DESCRIPTOR.services_by_name[service]
        for method in descriptor.methods:
            streaming = bool(method.server_streaming)
            found[f"{part}.{method.name}"] = RpcInfo(
                part, method.name, f"/{descriptor.full_name}/{method.name}",
                method.input_type, _result_of(method.output_type, streaming), streaming,
                method.output_type)
    return found


_RPCS = all_rpcs()


def resolve(call: str) -> RpcInfo:
    """The RPC named by `call`; KeyError with a did-you-mean when unknown."""
    if call in _RPCS:
        return _RPCS[call]
    part = call.split(".", 1)[0]
    if part not in CALLABLE_SERVICES:
        raise KeyError(f"unknown service '{part}' in '{call}'; services: "
                       f"{', '.join(CALLABLE_SERVICES)}")
    close = difflib.get_close_matches(call, _RPCS, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise KeyError(f"unknown RPC '{call}'{hint}")


def field_type_name(field: FieldDescriptor) -> str:
    """A readable type: 'MediaRef', 'double', 'repeated string', 'enum KeyColor'."""
    if field.message_type is not None:
        base = field.message_type.name
    elif field.enum_type is not None:
        base = f"enum {field.enum_type.name}"
    else:
        base = {FieldDescriptor.TYPE_DOUBLE: "double", FieldDescriptor.TYPE_FLOAT: "float",
                FieldDescriptor.TYPE_BOOL: "bool", FieldDescriptor.TYPE_STRING: "string",
                FieldDescriptor.TYPE_BYTES: "bytes"}.get(field.type, "integer")
    repeated = field.is_repeated and not _is_map(field)
    return f"repeated {base}" if repeated else base


def _is_map(field: FieldDescriptor) -> bool:
    return (field.message_type is not None
            and field.message_type.GetOptions().map_entry)


def is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated and not _is_map(field)


def is_map(field: FieldDescriptor) -> bool:
    return _is_map(field)
