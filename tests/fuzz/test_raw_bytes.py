"""Every RPC fed raw bytes as its serialized request: random bytes, real requests with bytes
flipped, cut or inserted, requests glued together, unknown and absurd fields, invalid UTF-8,
nesting past protobuf's recursion limit, lengths that claim gigabytes.

Whether the bytes decode as the request or not, the answer is a status a client can act on:
bytes that are no request are INVALID_ARGUMENT (the fuzz found grpcio answering them
UNKNOWN before any handler ran; mediamesh/grpc_server.py now decodes inside the handler).
"""
from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.caller import Caller
from tests.fuzz.report import FuzzReport
from tests.fuzz.rpcs import Rpc, all_rpcs
from tests.fuzz.sizes import CALL_TIMEOUT_S, FuzzSize, hypothesis_settings
from tests.fuzz.strategies import MessageStrategies
from tests.fuzz.verdict import fail_on_surveyed, judge

RPCS = all_rpcs()
SIZE = FuzzSize.from_env(len(RPCS))


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def nested(depth: int) -> bytes:
    """Field 1 holding field 1 holding ... `depth` times (length-delimited)."""
    payload = b""
    for _ in range(depth):
        payload = b"\x0a" + varint(len(payload)) + payload
    return payload


SPECIAL_PAYLOADS = (
    b"", b"\x00", b"\x0a\x02\xc3\x28",  # field 1, invalid UTF-8
    b"\x08\x01", b"\x0d\x00\x00\x80\x7f",  # field 1 as a varint, as a fixed32
    b"\x0a\xff\xff\xff\xff\x07",  # field 1 claims a 2 GB length
    b"\x0b" * 300 + b"\x0c" * 300,  # groups nested past the recursion limit
    b"\x0b",  # a group that never ends
    varint((2**29 - 1) << 3) + b"\x01",  # the largest field number
    nested(120), nested(1000),
    b"\x12\x00" * 50_000,  # field 2 repeated 50k times, empty
    (b"\xfa\xff\xff\xff\x0f" + varint(4) + b"junk") * 1000,  # unknown fields
)


def flip(data: bytes, at: int, mask: int) -> bytes:
    if not data:
        return bytes([mask])
    buf = bytearray(data)
    buf[at % len(buf)] ^= mask
    return bytes(buf)


def wire_payloads(messages: MessageStrategies, rpc: Rpc) -> st.SearchStrategy[bytes]:
    valid = messages.of(rpc.method.input_type).map(lambda m: m.SerializeToString())
    where = st.integers(0, 1 << 16)
    return st.one_of(
        st.binary(max_size=512),
        st.builds(flip, valid, where, st.integers(1, 255)),
        st.builds(lambda d, n: d[:n % (len(d) + 1)], valid, where),
        st.builds(lambda d, n, junk: d[:n % (len(d) + 1)] + junk + d[n % (len(d) + 1):],
                  valid, where, st.binary(min_size=1, max_size=16)),
        st.tuples(valid, valid).map(b"".join),
        st.sampled_from(SPECIAL_PAYLOADS))


@pytest.mark.timeout(SIZE.raw * (CALL_TIMEOUT_S + 10) + 120)
@pytest.mark.parametrize("rpc", RPCS, ids=[r.key for r in RPCS])
def test_raw_bytes_get_an_actionable_status(rpc: Rpc, messages: MessageStrategies,
                                            caller: Caller, report: FuzzReport) -> None:
    @hypothesis_settings(SIZE.raw)
    @given(payload=wire_payloads(messages, rpc))
    def case(payload: bytes) -> None:
        judge(report, rpc, "raw", caller.call(rpc, payload), payload,
              lambda: repr(payload[:5000]))

    case()
    fail_on_surveyed(report, rpc, "raw")


#: one RPC per serving process
ONE_PER_PART = [next(r for r in RPCS if r.part == part) for part in
                ("audio", "vision", "text", "compose", "orchestrator")]


@pytest.mark.parametrize("rpc", ONE_PER_PART, ids=[r.part for r in ONE_PER_PART])
def test_undecodable_request_is_invalid_argument(rpc: Rpc, caller: Caller) -> None:
    """Found by this suite: grpcio answered UNKNOWN before any of our code ran."""
    outcome = caller.call(rpc, b"\x0b")  # a group that never ends: never decodes
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT, outcome
    assert rpc.method.name in outcome.details, outcome
