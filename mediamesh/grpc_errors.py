"""Map any exception raised by a servicer to a proper gRPC status with rich details.

Why: a client must never see UNKNOWN. Domain errors carry their code (`MeshError`); common
Python errors map by meaning; anything else becomes INTERNAL with the trace id to look up.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2, message
from google.rpc import error_details_pb2, status_pb2

from mediamesh.errors import MeshError, StatusCode

M = TypeVar("M", bound=message.Message)

ERROR_DOMAIN = "mediamesh"
_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class MappedError:
    code: grpc.StatusCode
    message: str
    status: status_pb2.Status  # the rich google.rpc.Status, trailer payload

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return ((_DETAILS_KEY, self.status.SerializeToString()),)


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def _details_for(err: MeshError) -> list[any_pb2.Any]:
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=ERROR_DOMAIN,
                                       metadata=dict(err.metadata))
    details = [_pack(info)]
    if err.field_name and err.code == StatusCode.INVALID_ARGUMENT:
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=err.field_name,
                                                        description=err.message)])))
    if err.resource:
        details.append(_pack(error_details_pb2.ResourceInfo(resource_name=err.resource,
                                                            description=err.message)))
    if err.code == StatusCode.RESOURCE_EXHAUSTED:
        details.append(_pack(error_details_pb2.QuotaFailure(violations=[
            error_details_pb2.QuotaFailure.Violation(subject=err.field_name or "",
                                                     description=err.message)])))
    if err.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(err.retry_after_s * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return details


def to_mesh_error(exc: BaseException) -> MeshError:
    """Classify any exception; unknown ones become INTERNAL with a correlation id."""
    if isinstance(exc, MeshError):
        return exc
    if isinstance(exc, NotImplementedError):
        return MeshError(str(exc) or "this RPC is not implemented in this version",
                         StatusCode.UNIMPLEMENTED, "NOT_IMPLEMENTED")
    if isinstance(exc, FileNotFoundError):
        return MeshError(f"not found: {exc.filename or exc}", StatusCode.NOT_FOUND,
                         "MEDIA_NOT_FOUND")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return MeshError("the operation ran past its deadline", StatusCode.DEADLINE_EXCEEDED,
                         "DEADLINE_EXCEEDED")
    if isinstance(exc, MemoryError):
        return MeshError("out of memory while processing the request; send smaller media",
                         StatusCode.RESOURCE_EXHAUSTED, "OUT_OF_MEMORY")
    if isinstance(exc, ValueError):
        return MeshError(str(exc), StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT_VALUE")
    incident = uuid.uuid4().hex[:12]
    return MeshError(f"internal error ({type(exc).__name__}); incident {incident} is in the "
                     "service log", StatusCode.INTERNAL, "INTERNAL_ERROR",
                     metadata={"incident": incident})


def map_exception(exc: BaseException) -> MappedError:
    err = to_mesh_error(exc)
    code = getattr(grpc.StatusCode, err.code.value)
    status = status_pb2.Status(code=code.value[0], message=err.message,
                               details=_details_for(err))
    return MappedError(code, err.message, status)


def _detail(rpc_error: grpc.RpcError, kind: type[M]) -> M | None:
    """Client side: the first `kind` detail of the rich status a failed call carries."""
    for key, value in rpc_error.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == _DETAILS_KEY:
            for detail in status_pb2.Status.FromString(value).details:
                if detail.Is(kind.DESCRIPTOR):
                    found = kind()
                    detail.Unpack(found)
                    return found
    return None


def error_info(rpc_error: grpc.RpcError) -> tuple[str | None, dict[str, str]]:
    """Client side: the ErrorInfo reason and metadata of a failed call, if the server sent them."""
    info = _detail(rpc_error, error_details_pb2.ErrorInfo)
    return (info.reason, dict(info.metadata)) if info is not None else (None, {})


def bad_fields(rpc_error: grpc.RpcError) -> list[str]:
    """Client side: the request fields an INVALID_ARGUMENT names (BadRequest violations)."""
    bad = _detail(rpc_error, error_details_pb2.BadRequest)
    return [v.field for v in bad.field_violations] if bad is not None else []
