"""Domain errors that carry their gRPC status, so domain code never imports grpc.

The server interceptor (`mediamesh.grpc_server`) turns these into a status code, a message a
person can act on, and the google.rpc rich error details (ErrorInfo with an `ErrorReason`
from common.proto, plus BadRequest / ResourceInfo / QuotaFailure / RetryInfo where they fit).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class StatusCode(StrEnum):
    """The gRPC status codes domain code may choose (names match grpc.StatusCode)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    INTERNAL = "INTERNAL"
    CANCELLED = "CANCELLED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"


@dataclass
class MeshError(Exception):
    """Base of all mesh errors: a status, a reason (common.proto ErrorReason) and a message."""

    message: str
    code: StatusCode = StatusCode.INTERNAL
    reason: str = "INTERNAL_ERROR"
    field_name: str | None = None  # the request field at fault, for BadRequest details
    resource: str | None = None  # the path/model/bucket concerned, for ResourceInfo
    retry_after_s: float | None = None  # for RetryInfo on retryable errors
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class InvalidArgument(MeshError):
    def __init__(self, message: str, *, field_name: str | None = None,
                 reason: str = "INVALID_ARGUMENT_VALUE", **kw: object) -> None:
        super().__init__(message, StatusCode.INVALID_ARGUMENT, reason, field_name, **kw)  # type: ignore[arg-type]


class MediaTooLong(MeshError):
    """Longer than the service's duration limit (checked from the headers, before decoding)."""

    def __init__(self, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message, StatusCode.INVALID_ARGUMENT, "MEDIA_TOO_LONG", field_name)


class PictureTooLarge(MeshError):
    """More pixels than a service decodes (checked from the headers, before decoding: a
    small file can declare a huge picture)."""

    def __init__(self, message: str, *, field_name: str | None = None, limit: int = 0) -> None:
        super().__init__(message, StatusCode.RESOURCE_EXHAUSTED, "PICTURE_TOO_LARGE",
                         field_name=field_name, metadata={"limit_pixels": str(limit)})


class MediaUnusable(MeshError):
    """Decodes, but cannot be analysed as asked (silent, too short, no beat): the input is
    well-formed, so FAILED_PRECONDITION rather than INVALID_ARGUMENT."""

    def __init__(self, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message, StatusCode.FAILED_PRECONDITION, "MEDIA_UNUSABLE", field_name)


class MediaNotFound(MeshError):
    def __init__(self, message: str, *, resource: str | None = None, **kw: object) -> None:
        super().__init__(message, StatusCode.NOT_FOUND, "MEDIA_NOT_FOUND", resource=resource, **kw)  # type: ignore[arg-type]


class PathOutsideMediaRoot(MeshError):
    def __init__(self, message: str, *, resource: str | None = None, field_name: str | None = None) -> None:
        super().__init__(message, StatusCode.INVALID_ARGUMENT, "PATH_OUTSIDE_MEDIA_ROOT",
                         field_name=field_name, resource=resource)


class UriSchemeNotAllowed(MeshError):
    def __init__(self, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message, StatusCode.INVALID_ARGUMENT, "URI_SCHEME_NOT_ALLOWED",
                         field_name=field_name)


class InlineDataTooLarge(MeshError):
    def __init__(self, message: str, *, field_name: str | None = None, limit: int = 0) -> None:
        super().__init__(message, StatusCode.RESOURCE_EXHAUSTED, "INLINE_DATA_TOO_LARGE",
                         field_name=field_name, metadata={"limit_bytes": str(limit)})


class MediaUndecodable(MeshError):
    def __init__(self, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message, StatusCode.INVALID_ARGUMENT, "MEDIA_UNDECODABLE", field_name)


class ModelNotFound(MeshError):
    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(message, StatusCode.FAILED_PRECONDITION, "MODEL_NOT_FOUND",
                         resource=resource)


class InferenceUnavailable(MeshError):
    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(message, StatusCode.UNAVAILABLE, "INFERENCE_UNAVAILABLE",
                         resource=resource, retry_after_s=1.0)


class StorageUnavailable(MeshError):
    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(message, StatusCode.UNAVAILABLE, "STORAGE_UNAVAILABLE",
                         resource=resource, retry_after_s=1.0)


class AuthenticationRequired(MeshError):
    """No valid credentials on the call (checked before any work)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, StatusCode.UNAUTHENTICATED, "AUTHENTICATION_REQUIRED")


class CallerNotAllowed(MeshError):
    """Authenticated, but not a caller this server admits."""

    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(message, StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED",
                         resource=resource)


class RemoteHostNotAllowed(MeshError):
    """A remote URI names a host the server must not reach (SSRF protection)."""

    def __init__(self, message: str, *, field_name: str | None = None,
                 resource: str | None = None) -> None:
        super().__init__(message, StatusCode.PERMISSION_DENIED, "REMOTE_HOST_NOT_ALLOWED",
                         field_name=field_name, resource=resource)


class SystemPackageMissing(MeshError):
    """The server lacks an operating-system package the request needs (a CJK font, a
    program); the message says which package to install."""

    def __init__(self, message: str, *, field_name: str | None = None,
                 resource: str | None = None) -> None:
        super().__init__(message, StatusCode.FAILED_PRECONDITION, "SYSTEM_PACKAGE_MISSING",
                         field_name=field_name, resource=resource)
