"""Reading a long job's server stream in tests: every progress event and the one result;
and the shape every bad request must come back in."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pytest

from mediamesh.grpc_errors import bad_fields
from mediamesh.v1 import common_pb2


async def collect(stream: AsyncIterator[Any]) -> tuple[list[common_pb2.Progress], Any]:
    """The stream's progress events in order, and its result (asserting exactly one)."""
    progress, results = [], []
    async for event in stream:
        if event.WhichOneof("event") == "progress":
            progress.append(event.progress)
        else:
            results.append(event.result)
    assert len(results) == 1
    return progress, results[0]


async def assert_invalid_argument(call: Awaitable[Any], field: str, text: str) -> None:
    """`call` fails with INVALID_ARGUMENT whose message says `text` and whose BadRequest
    names exactly `field`."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert text in caught.value.details()
    assert bad_fields(caught.value) == [field]
