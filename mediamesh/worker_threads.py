"""Blocking work in a worker thread that a cancelled caller waits for.

`asyncio.to_thread` hands a cancellation to the awaiting task at once while the thread
runs on: the caller's cleanup (close the encoder, delete the partial file, remove the
scratch copy) then races the thread still using those things. A cancelled RPC did exactly
that: the handler flushed a VideoWriter on the event loop while a worker thread was still
encoding into it, and both hung in FFmpeg, freezing the whole service. Every service runs
its blocking work through `run_in_thread` instead: cancellation is delivered only once the
thread has let go.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


async def run_in_thread(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` in the default executor, with the context of the caller (as
    asyncio.to_thread). Cancelled while it runs: waits for the thread to finish, then
    raises CancelledError; the thread's own result or error is dropped."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            try:
                await asyncio.wait([work])
            except asyncio.CancelledError:  # cancelled again: the thread still holds on
                continue
        if not work.cancelled():
            work.exception()  # retrieved, so asyncio does not log it as never retrieved
        raise
