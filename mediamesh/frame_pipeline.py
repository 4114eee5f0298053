"""Decode, infer and consume in a three-stage pipeline: Triton works on one chunk while
this process decodes the next and the job renders the one before (two cores: both stay
busy). Every per-frame video job uses it."""
from __future__ import annotations

import asyncio
import contextlib
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
    """(chunk, infer(chunk)) in order. While the consumer handles chunk n, chunk n+1 is
    inferred and chunk n+2 decodes (in a worker thread), so decoding, the model and the
    consumer's rendering overlap. A stream that breaks mid-way is INVALID_ARGUMENT naming
    `field_name`; work left running when the consumer stops is cancelled (a decode in
    its thread is waited for, so `frames` is never torn down under it)."""
    pending: tuple[list[F], asyncio.Future[R]] | None = None
    upcoming: asyncio.Future[list[F]] | None = None
    try:
        chunk = await decode_chunk(frames, chunk_frames, field_name)
        while chunk or pending:
            started = (chunk, asyncio.ensure_future(infer(chunk))) if chunk else None
            upcoming = asyncio.ensure_future(decode_chunk(frames, chunk_frames, field_name)) \
                if chunk else None
            if pending:
                done, task = pending
                yield done, await task
            pending = started
            chunk = await upcoming if upcoming else []
    finally:
        for future in (pending[1] if pending else None, upcoming):
            if future is None:
                continue
            if not future.done():
                future.cancel()
            with contextlib.suppress(BaseException):
                await future  # also retrieves a failure nobody will ask for any more
