"""Any protobuf message, built by hypothesis from its descriptor alone.

Hostile scalars favour the values that break code: 0, -0.0, negatives, the type's extremes,
NaN and infinities, empty and 100k-character strings, NUL bytes, bidi overrides, paths and
URIs; enums include numbers the contract does not define; repeated fields are empty, short
or long; oneofs get any member. `Hints` swap in domain-aware strategies for some message
types and fields (media references that point at the corpus, output specs, workflow
YAML...); plausible requests use them alone so that a request gets past the first check.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import message
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

F = FieldDescriptor
MAX_DEPTH = 5

EDGE_DOUBLES = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-9, 5e-324, 1e9, -1e9, 2.0**53, 1e308, -1e308,
                math.nan, math.inf, -math.inf)
EDGE_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-45, 3.4e38, -3.4e38, math.nan, math.inf,
               -math.inf)
HOSTILE_STRINGS = (
    "", " ", "\x00", "a\x00b", "x" * 100_000, "é" * 20_000, "ünïcødé 中文 😀", "\u202egnp.exe",
    "\ufeff", "\n", "\t", "../../etc/passwd", "/etc/passwd", "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/", "nats-object://nope/x", "s3://bucket/key",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "${inputs.x}", "${", "}", "*", ">", "run.*", "'", '"',
    "\\", "-1", "NaN", "null", "[]", "{}", "<script>", "A" * 1025,
)
_INT_RANGES = {
    F.TYPE_INT32: (-2**31, 2**31 - 1), F.TYPE_SINT32: (-2**31, 2**31 - 1),
    F.TYPE_SFIXED32: (-2**31, 2**31 - 1), F.TYPE_INT64: (-2**63, 2**63 - 1),
    F.TYPE_SINT64: (-2**63, 2**63 - 1), F.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}


def integers_of(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [v for v in (0, 1, -1, 2, 3, 255, 256, 65_535, 2**31 - 1, -2**31, 2**32 - 1,
                         2**53, 2**63 - 1, -2**63, 2**64 - 1, low, high) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(max(low, -3), min(high, 100)),
                     st.integers(low, high))


def doubles() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(EDGE_DOUBLES), st.floats(-10, 100), st.floats())


def floats32() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(EDGE_FLOATS), st.floats(-10, 100, width=32),
                     st.floats(width=32))


def strings() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=40))


def byte_strings() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from((b"", b"\x00" * 16, b"\xff" * 64)), st.binary(max_size=64))


@dataclass
class Hints:
    """Domain-aware strategies: by message full name (`mediamesh.v1.MediaRef`), by field full
    name (`mediamesh.v1.SubmitWorkflowRequest.workflow_yaml`) or, for string fields, by
    field name alone (`run_id`)."""

    messages: Mapping[str, st.SearchStrategy[Any]] = field(default_factory=dict)
    fields: Mapping[str, st.SearchStrategy[Any]] = field(default_factory=dict)
    field_names: Mapping[str, st.SearchStrategy[Any]] = field(default_factory=dict)

    def for_message(self, descriptor: Descriptor) -> st.SearchStrategy[Any] | None:
        return self.messages.get(descriptor.full_name)

    def for_field(self, fd: FieldDescriptor) -> st.SearchStrategy[Any] | None:
        hinted = self.fields.get(fd.full_name)
        if hinted is None and fd.type == F.TYPE_STRING:
            hinted = self.field_names.get(fd.name)
        return hinted


HINTED_SHARE = 3  # in hostile requests, a hinted value is this many times likelier


class MessageStrategies:
    """Requests of a type, half of two kinds.

    Hostile: any field may hold anything (hints mixed with generic values): exercises the
    checks. Plausible: scalars sane, hinted fields only hinted values, every media reference
    of the request set (to good or malformed corpus media): gets past the checks and
    exercises the decoders and the jobs behind them.
    """

    def __init__(self, hostile: Hints | None = None, plausible: Hints | None = None) -> None:
        self.hostile = hostile or Hints()
        self.plausible = plausible or Hints()

    def of(self, descriptor: Descriptor) -> st.SearchStrategy[message.Message]:
        return st.one_of(self._message(descriptor, 0, plausible=True),
                         self._message(descriptor, 0, plausible=False))

    def _message(self, descriptor: Descriptor, depth: int,
                 plausible: bool) -> st.SearchStrategy[Any]:
        hinted = (self.plausible if plausible else self.hostile).for_message(descriptor)
        if hinted is not None and plausible:
            return hinted
        generic = self._fields(descriptor, depth, plausible)
        return generic if hinted is None else st.one_of(*[hinted] * HINTED_SHARE, generic)

    def _fields(self, descriptor: Descriptor, depth: int,
                plausible: bool) -> st.SearchStrategy[message.Message]:
        cls = GetMessageClass(descriptor)
        if depth >= MAX_DEPTH:
            return st.just(cls())
        required, optional = {}, {}
        for fd in descriptor.fields:
            value = st.deferred(lambda fd=fd: self._field(fd, depth, plausible))
            always = plausible and fd.message_type is not None and not fd.is_repeated and \
                fd.containing_oneof is None and fd.message_type.full_name in REQUIRED_WHEN_PLAUSIBLE
            (required if always else optional)[fd.name] = value
        return st.fixed_dictionaries(required, optional=optional).map(
            lambda values: build(cls, values))

    def _field(self, fd: FieldDescriptor, depth: int, plausible: bool) -> st.SearchStrategy[Any]:
        if _is_map(fd):
            key_fd, value_fd = fd.message_type.fields_by_name["key"], \
                fd.message_type.fields_by_name["value"]
            return st.dictionaries(self._single(key_fd, depth + 1, plausible),
                                   self._single(value_fd, depth + 1, plausible), max_size=4)
        single = self._single(fd, depth, plausible)
        if not fd.is_repeated:
            return single
        if plausible:
            return st.lists(single, max_size=3)
        long_list = 200 if fd.message_type is None else 40
        return st.one_of(st.just([]), st.lists(single, max_size=4),
                         st.lists(single, min_size=long_list, max_size=long_list))

    def _single(self, fd: FieldDescriptor, depth: int, plausible: bool) -> st.SearchStrategy[Any]:
        hinted = (self.plausible if plausible else self.hostile).for_field(fd)
        if hinted is not None and plausible:
            return hinted
        if fd.message_type is not None:
            generic = self._message(fd.message_type, depth + 1, plausible)
        else:
            generic = sane_scalar(fd) if plausible else scalar(fd)
        return generic if hinted is None else st.one_of(*[hinted] * HINTED_SHARE, generic)


#: message types a plausible request always sets (when singular and outside a oneof)
REQUIRED_WHEN_PLAUSIBLE = frozenset({"mediamesh.v1.MediaRef"})


def sane_scalar(fd: FieldDescriptor) -> st.SearchStrategy[Any]:
    """Values a careful client would send: defaults, small counts, fractions."""
    if fd.type in _INT_RANGES:
        return st.one_of(st.just(0), st.integers(0, 10))
    if fd.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.one_of(st.just(0.0), st.sampled_from((0.25, 0.5, 1.0, 2.0)),
                         st.floats(0, 4, width=32))
    if fd.type == F.TYPE_BOOL:
        return st.booleans()
    if fd.type == F.TYPE_STRING:
        return st.sampled_from(("", "a"))
    if fd.type == F.TYPE_BYTES:
        return st.binary(max_size=8)
    if fd.type == F.TYPE_ENUM:
        return st.sampled_from([v.number for v in fd.enum_type.values])
    raise TypeError(f"no strategy for field {fd.full_name} of type {fd.type}")


def scalar(fd: FieldDescriptor) -> st.SearchStrategy[Any]:
    if fd.type in _INT_RANGES:
        return integers_of(*_INT_RANGES[fd.type])
    if fd.type == F.TYPE_DOUBLE:
        return doubles()
    if fd.type == F.TYPE_FLOAT:
        return floats32()
    if fd.type == F.TYPE_BOOL:
        return st.booleans()
    if fd.type == F.TYPE_STRING:
        return strings()
    if fd.type == F.TYPE_BYTES:
        return byte_strings()
    if fd.type == F.TYPE_ENUM:
        defined = [v.number for v in fd.enum_type.values]
        return st.one_of(st.sampled_from(defined), st.sampled_from(defined),
                         integers_of(-2**31, 2**31 - 1))
    raise TypeError(f"no strategy for field {fd.full_name} of type {fd.type}")


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def build(cls: type[message.Message], values: Mapping[str, Any]) -> message.Message:
    """A message of `cls` with `values` set field by field (later oneof members win)."""
    built = cls()
    for name, value in values.items():
        fd = cls.DESCRIPTOR.fields_by_name[name]
        target = getattr(built, name) if fd.message_type is not None or \
            fd.is_repeated else None
        if _is_map(fd):
            value_fd = fd.message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_fd.message_type is not None:
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif fd.is_repeated:
            target.extend(value)
        elif fd.message_type is not None:
            target.CopyFrom(value)
        else:
            setattr(built, name, value)
    return built
