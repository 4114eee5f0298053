"""One fuzz case on the wire: bytes in (serialized or not), the status out, and the verdict.

Calls go through a generic channel with identity serializers, so a request that is not a
valid message reaches the server exactly as sent; streams are read to the end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import grpc

from mediamesh.grpc_errors import error_info
from tests.fuzz.rpcs import Rpc

#: Statuses a server may answer bad input with. UNIMPLEMENTED only where the RPC is not
#: built yet; never UNKNOWN (an exception escaped the mapping) or INTERNAL (an unmapped
#: exception on bad input: a bug), UNAVAILABLE (a part fell over) or CANCELLED.
ALLOWED = frozenset({
    grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED,
})
MAX_MESSAGE_BYTES = 64 << 20


def _identity(data: bytes) -> bytes:
    return data


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    details: str
    reason: str | None  # the ErrorInfo reason the server sent, if any
    seconds: float
    events: int  # responses received (stream events, or 1 for a unary reply)

    @property
    def status(self) -> str:
        return self.code.name


def allowed(rpc: Rpc, outcome: Outcome) -> bool:
    if outcome.code == grpc.StatusCode.UNIMPLEMENTED:
        return not rpc.implemented
    return outcome.code in ALLOWED  # an RPC not built yet still refuses bytes that are no request


class Caller:
    """Channels to every part, opened once per session."""

    def __init__(self, addresses: dict[str, str], timeout_s: float) -> None:
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        self.channels = {part: grpc.insecure_channel(address, options=options)
                         for part, address in addresses.items()}
        self.timeout_s = timeout_s

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()

    def call(self, rpc: Rpc, payload: bytes) -> Outcome:
        channel = self.channels[rpc.part]
        started = time.perf_counter()
        events = 0
        try:
            if rpc.streaming:
                stream = channel.unary_stream(rpc.path, request_serializer=_identity,
                                              response_deserializer=_identity)
                for _ in stream(payload, timeout=self.timeout_s):
                    events += 1
            else:
                channel.unary_unary(rpc.path, request_serializer=_identity,
                                    response_deserializer=_identity)(payload,
                                                                     timeout=self.timeout_s)
                events = 1
        except grpc.RpcError as exc:
            return Outcome(exc.code(), exc.details() or "", error_info(exc)[0],  # type: ignore[attr-defined]
                           time.perf_counter() - started, events)
        return Outcome(grpc.StatusCode.OK, "", None, time.perf_counter() - started, events)
