"""How a step's `with:` values map onto its request message — checked before, built during a run.

One module owns the mapping so the static check (submit time) and the conversion (run time)
can never disagree. Conveniences for producers, on top of protobuf's JSON mapping:
  - a string where a MediaRef is expected is its `uri` (`input: songs/a.mp3`);
  - enum values may drop their prefix (`output_mode: ALPHA_ONLY`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from orchestrator import expressions
from orchestrator.contracts import field_type_name, is_map, is_repeated

MEDIA_REF = "mediamesh.v1.MediaRef"

#: The type an expression is known to produce: a kind and whether it is a list.
#: Kinds: "media", "number", "integer", "string", "bool", "any", or a message full name.
ValueType = tuple[str, bool]
Infer = Callable[[expressions.Expression], ValueType | None]
Report = Callable[[tuple[str | int, ...], str], None]

_NUMERIC = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64,
            FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64,
            FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64}


def enum_value_name(field: FieldDescriptor, value: str) -> str | None:
    """The full enum value name for `value` (full or without the enum's prefix)."""
    names = [v.name for v in field.enum_type.values]
    if value in names:
        return value
    prefixed = [n for n in names if n.endswith("_" + value)]
    return prefixed[0] if len(prefixed) == 1 else None


def _kind_fits(field: FieldDescriptor, kind: str) -> bool:
    if kind == "any":
        return True
    if field.message_type is not None:
        return kind == field.message_type.full_name or (
            kind == "media" and field.message_type.full_name == MEDIA_REF) or (
            kind == "string" and field.message_type.full_name == MEDIA_REF)
    if field.enum_type is not None:
        return kind in ("string", "integer")
    if field.type == FieldDescriptor.TYPE_BOOL:
        return kind == "bool"
    if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return kind == "string"
    if field.type in _NUMERIC:
        return kind in ("number", "integer")
    return False


def check_arguments(request: Descriptor, values: dict[str, Any], path: tuple[str | int, ...],
                    infer: Infer, report: Report) -> None:
    """Report every key that is not a field and every value that cannot fill its field."""
    for key, value in values.items():
        field = request.fields_by_name.get(key)
        if field is None:
            known = ", ".join(f.name for f in request.fields)
            report((*path, key), f"'{key}' is not a field of {request.name} (fields: {known})")
            continue
        _check_value(field, value, (*path, key), infer, report, repeated=is_repeated(field))


def _check_value(field: FieldDescriptor, value: Any, path: tuple[str | int, ...], infer: Infer,
                 report: Report, *, repeated: bool) -> None:
    want = field_type_name(field) if repeated else field_type_name(field).removeprefix("repeated ")
    if isinstance(value, str) and (single := expressions.whole(value)) is not None:
        known = infer(single)
        if known is None:
            return
        kind, is_list = known
        if is_list != repeated and kind != "any":
            got = f"a list of {kind}" if is_list else f"a single {kind}"
            report(path, f"expects {want}, but ${{{single.source}}} gives {got}")
        elif not _kind_fits(field, kind):
            report(path, f"expects {want}, but ${{{single.source}}} gives {kind}")
        return
    if value is None:
        return
    if repeated:
        if not isinstance(value, list):
            report(path, f"expects {want} (a list), got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check_value(field, item, (*path, i), infer, report, repeated=False)
        return
    if is_map(field):
        if not isinstance(value, dict):
            report(path, f"expects a map, got {type(value).__name__}")
        return
    if field.message_type is not None:
        if field.message_type.full_name == MEDIA_REF and isinstance(value, str):
            return  # shorthand for {uri: ...}
        if not isinstance(value, dict):
            report(path, f"expects {want} (an object), got {type(value).__name__}")
            return
        check_arguments(field.message_type, value, path, infer, report)
        return
    if isinstance(value, str) and expressions.find(value):
        if not _kind_fits(field, "string"):
            report(path, f"expects {want}, but a text template gives a string")
        return
    if field.enum_type is not None:
        if not isinstance(value, str) or enum_value_name(field, value) is None:
            names = ", ".join(v.name for v in field.enum_type.values)
            report(path, f"expects one of {names}, got {value!r}")
        return
    if field.type == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            report(path, f"expects bool, got {value!r}")
    elif field.type == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            report(path, f"expects string, got {value!r}")
    elif field.type in _NUMERIC:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            report(path, f"expects {want}, got {value!r}")


def _normalise(descriptor: Descriptor, values: dict[str, Any]) -> dict[str, Any]:
    """Apply the producer conveniences so protobuf's JSON parser accepts the values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        field = descriptor.fields_by_name.get(key)
        if field is None or value is None:
            continue
        if is_repeated(field) and isinstance(value, list):
            out[key] = [_normalise_one(field, v) for v in value]
        else:
            out[key] = _normalise_one(field, value)
    return out


def _normalise_one(field: FieldDescriptor, value: Any) -> Any:
    if field.message_type is not None and not is_map(field):
        if field.message_type.full_name == MEDIA_REF and isinstance(value, str):
            return {"uri": value}
        if isinstance(value, dict):
            return _normalise(field.message_type, value)
    if field.enum_type is not None and isinstance(value, str):
        return enum_value_name(field, value) or value
    return value


def to_request(request: Descriptor, values: dict[str, Any]) -> Message:
    """Build the request message from rendered (expression-free) values."""
    message = GetMessageClass(request)()
    try:
        json_format.ParseDict(_normalise(request, values), message,
                              ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise ValueError(f"cannot build {request.name}: {exc}") from exc
    return message


def to_outputs(message: Message) -> dict[str, Any]:
    """A result message as the JSON-like value `${steps.<id>.outputs}` sees."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
