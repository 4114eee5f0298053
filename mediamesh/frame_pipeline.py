"""Decode and infer in a two-stage pipeline: Triton works on chunk n while this process
decodes chunk n+1 (two cores: both stay busy). Every per-frame video job uses it."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

from mediamesh import media
from mediamesh.media_inputs import decode_chunk

R = TypeVar("R")
F = media.DecodedFrame


async def pipelined(frames: Iterator[F], chunk_frames: int,
                    infer: Callable[[list[F]], Awaitable[R]],
                    field_name: str = "video"
                    ) -> AsyncIterator[tuple[list[F], R]]:
    """(chunk, infer(chunk)) in order, the next chunk decoding while one is inferred. A
    stream that breaks mid-way is INVALID_ARGUMENT naming `field_name`; an inference left
    running when the consumer stops is cancelled."""
    pending: tuple[list[F], asyncio.Task[R]] | None = None
    try:
        chunk = await decode_chunk(frames, chunk_frames, field_name)
        while chunk or pending:
            started = (chunk, asyncio.ensure_future(infer(chunk))) if chunk else None
            if pending:
                done, task = pending
                yield done, await task
            pending = started
            chunk = await decode_chunk(frames, chunk_frames, field_name) if started else []
    finally:
        if pending:
            pending[1].cancel()
