"""Reading a long job's server stream in tests: every progress event and the one result."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

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
