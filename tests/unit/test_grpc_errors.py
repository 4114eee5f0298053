"""map_exception: every error a servicer raises becomes a precise status with rich details."""
from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import message as pb_message
from google.rpc import error_details_pb2, status_pb2

from mediamesh.errors import (
    InferenceUnavailable,
    InlineDataTooLarge,
    InvalidArgument,
    MediaNotFound,
    MediaUndecodable,
    MeshError,
    ModelNotFound,
    PathOutsideMediaRoot,
    StatusCode,
    StorageUnavailable,
    UriSchemeNotAllowed,
)
from mediamesh.grpc_errors import ERROR_DOMAIN, MappedError, error_info, map_exception
from mediamesh.media import MediaDecodeError

DOMAIN_CASES: list[tuple[MeshError, grpc.StatusCode, str]] = [
    (InvalidArgument("bad fps", field_name="fps"), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_ARGUMENT_VALUE"),
    (MediaNotFound("no such clip", resource="a.mp4"), grpc.StatusCode.NOT_FOUND,
     "MEDIA_NOT_FOUND"),
    (PathOutsideMediaRoot("outside", resource="../x", field_name="input.uri"),
     grpc.StatusCode.INVALID_ARGUMENT, "PATH_OUTSIDE_MEDIA_ROOT"),
    (UriSchemeNotAllowed("http not allowed", field_name="input.uri"),
     grpc.StatusCode.INVALID_ARGUMENT, "URI_SCHEME_NOT_ALLOWED"),
    (InlineDataTooLarge("too big", field_name="input.inline_data", limit=10),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "INLINE_DATA_TOO_LARGE"),
    (MediaUndecodable("garbage", field_name="input"), grpc.StatusCode.INVALID_ARGUMENT,
     "MEDIA_UNDECODABLE"),
    (ModelNotFound("no model", resource="green_keyer"), grpc.StatusCode.FAILED_PRECONDITION,
     "MODEL_NOT_FOUND"),
    (InferenceUnavailable("triton down", resource="green_keyer"), grpc.StatusCode.UNAVAILABLE,
     "INFERENCE_UNAVAILABLE"),
    (StorageUnavailable("nats down", resource="bucket"), grpc.StatusCode.UNAVAILABLE,
     "STORAGE_UNAVAILABLE"),
    (MeshError("exists", StatusCode.FAILED_PRECONDITION, "OUTPUT_EXISTS"),
     grpc.StatusCode.FAILED_PRECONDITION, "OUTPUT_EXISTS"),
]


def unpack(status: status_pb2.Status, kind: type[pb_message.Message]) -> list[pb_message.Message]:
    found = []
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            msg = kind()
            detail.Unpack(msg)
            found.append(msg)
    return found


def info_of(mapped: MappedError) -> error_details_pb2.ErrorInfo:
    infos = unpack(mapped.status, error_details_pb2.ErrorInfo)
    assert len(infos) == 1
    return infos[0]  # type: ignore[return-value]


@pytest.mark.parametrize(("exc", "code", "reason"), DOMAIN_CASES,
                         ids=[type(c[0]).__name__ + "-" + c[2] for c in DOMAIN_CASES])
def test_domain_errors_map_to_their_code_and_reason(exc: MeshError, code: grpc.StatusCode,
                                                    reason: str) -> None:
    mapped = map_exception(exc)
    assert mapped.code == code
    assert mapped.message == exc.message
    assert mapped.status.code == code.value[0]
    assert mapped.status.message == exc.message
    info = info_of(mapped)
    assert info.reason == reason
    assert info.domain == ERROR_DOMAIN == "mediamesh"
    if exc.resource:
        resources = unpack(mapped.status, error_details_pb2.ResourceInfo)
        assert [r.resource_name for r in resources] == [exc.resource]


def test_invalid_argument_with_field_adds_bad_request() -> None:
    mapped = map_exception(InvalidArgument("fps must be positive", field_name="fps"))
    (bad,) = unpack(mapped.status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == \
        [("fps", "fps must be positive")]


def test_invalid_argument_without_field_has_no_bad_request() -> None:
    mapped = map_exception(InvalidArgument("bad"))
    assert unpack(mapped.status, error_details_pb2.BadRequest) == []


def test_inline_too_large_adds_quota_failure_and_limit() -> None:
    mapped = map_exception(InlineDataTooLarge("5 bytes over 4", field_name="input.inline_data",
                                              limit=4))
    (quota,) = unpack(mapped.status, error_details_pb2.QuotaFailure)
    assert quota.violations[0].subject == "input.inline_data"
    assert quota.violations[0].description == "5 bytes over 4"
    assert info_of(mapped).metadata["limit_bytes"] == "4"
    assert unpack(mapped.status, error_details_pb2.BadRequest) == []  # not INVALID_ARGUMENT


@pytest.mark.parametrize("exc", [InferenceUnavailable("down"), StorageUnavailable("down")])
def test_unavailable_adds_retry_info(exc: MeshError) -> None:
    mapped = map_exception(exc)
    (retry,) = unpack(mapped.status, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToNanoseconds() == 1_000_000_000


def test_non_retryable_errors_have_no_retry_info() -> None:
    mapped = map_exception(MediaNotFound("gone"))
    assert unpack(mapped.status, error_details_pb2.RetryInfo) == []


PLAIN_CASES: list[tuple[BaseException, grpc.StatusCode]] = [
    (ValueError("width must be even"), grpc.StatusCode.INVALID_ARGUMENT),
    (FileNotFoundError(2, "No such file", "/media/x.mp4"), grpc.StatusCode.NOT_FOUND),
    (NotImplementedError(), grpc.StatusCode.UNIMPLEMENTED),
    (TimeoutError(), grpc.StatusCode.DEADLINE_EXCEEDED),
    (asyncio.TimeoutError(), grpc.StatusCode.DEADLINE_EXCEEDED),
    (MemoryError(), grpc.StatusCode.RESOURCE_EXHAUSTED),
    (MediaDecodeError("cannot decode x.mp4: invalid data"), grpc.StatusCode.INVALID_ARGUMENT),
    (RuntimeError("boom"), grpc.StatusCode.INTERNAL),
    (KeyError("k"), grpc.StatusCode.INTERNAL),
]


@pytest.mark.parametrize(("exc", "code"), PLAIN_CASES,
                         ids=[type(c[0]).__name__ for c in PLAIN_CASES])
def test_plain_python_errors_map_by_meaning(exc: BaseException, code: grpc.StatusCode) -> None:
    mapped = map_exception(exc)
    assert mapped.code == code
    assert mapped.status.code == code.value[0]
    assert info_of(mapped).domain == "mediamesh"
    assert mapped.message  # a person always gets a message


def test_value_error_keeps_its_message() -> None:
    mapped = map_exception(ValueError("width must be even"))
    assert mapped.message == "width must be even"
    assert info_of(mapped).reason == "INVALID_ARGUMENT_VALUE"


def test_file_not_found_names_the_file() -> None:
    mapped = map_exception(FileNotFoundError(2, "No such file", "x.mp4"))
    assert "x.mp4" in mapped.message
    assert info_of(mapped).reason == "MEDIA_NOT_FOUND"


def test_media_decode_error_message_reaches_the_client() -> None:
    mapped = map_exception(MediaDecodeError("cannot decode x.mp4: the file is empty (0 bytes)"))
    assert "the file is empty" in mapped.message


def test_unexpected_error_is_internal_with_incident_and_no_leak() -> None:
    secret = "password=hunter2 at /srv/private/config.py"
    mapped = map_exception(RuntimeError(secret))
    assert mapped.code == grpc.StatusCode.INTERNAL
    assert "hunter2" not in mapped.message and "/srv/private" not in mapped.message
    assert "hunter2" not in mapped.status.SerializeToString().decode("latin-1")
    info = info_of(mapped)
    incident = info.metadata["incident"]
    assert len(incident) == 12 and int(incident, 16) >= 0
    assert incident in mapped.message
    assert "RuntimeError" in mapped.message
    assert map_exception(RuntimeError(secret)).message != mapped.message  # fresh id per incident


def test_nothing_maps_to_unknown() -> None:
    everything = [c[0] for c in DOMAIN_CASES] + [c[0] for c in PLAIN_CASES] + [
        Exception("x"), OSError("disk"), PermissionError("no"), ZeroDivisionError()]
    codes = {type(e).__name__: map_exception(e).code for e in everything}
    assert grpc.StatusCode.UNKNOWN not in codes.values(), codes
    assert grpc.StatusCode.OK not in codes.values(), codes


class _FakeRpcError(grpc.RpcError):
    """The two methods error_info reads; a real grpc.aio error carries the same trailers."""

    def __init__(self, trailers: tuple[tuple[str, bytes], ...]) -> None:
        self._trailers = trailers

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailers


def test_trailer_round_trips_to_client_error_info() -> None:
    mapped = map_exception(InlineDataTooLarge("too big", limit=99))
    (key, value), = mapped.trailing_metadata()
    assert key == "grpc-status-details-bin"
    assert status_pb2.Status.FromString(value) == mapped.status
    reason, metadata = error_info(_FakeRpcError(mapped.trailing_metadata()))
    assert reason == "INLINE_DATA_TOO_LARGE"
    assert metadata == {"limit_bytes": "99"}
    assert error_info(_FakeRpcError(())) == (None, {})
