"""run_in_thread: a cancelled caller gets its CancelledError only once the thread is done,
so its cleanup never races the thread (the frozen-encoder bug); results and errors pass
through as asyncio.to_thread's do."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mediamesh.worker_threads import run_in_thread


async def test_results_and_errors_pass_through() -> None:
    assert await run_in_thread(lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        await run_in_thread(lambda: 1 / 0)


async def test_a_cancelled_caller_waits_for_the_thread() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[float] = []

    def work() -> str:
        started.set()
        release.wait(5)
        time.sleep(0.05)
        finished.append(time.monotonic())
        return "done"

    cleanup_at: list[float] = []

    async def caller() -> None:
        try:
            await run_in_thread(work)
        except asyncio.CancelledError:
            cleanup_at.append(time.monotonic())  # where a job closes its writer
            raise

    task = asyncio.create_task(caller())
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    await asyncio.sleep(0.05)
    assert not task.done()  # the thread still runs: the caller must not clean up yet
    task.cancel()  # a second cancel does not cut the wait short either
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finished and cleanup_at and cleanup_at[0] >= finished[0]


async def test_a_thread_that_fails_after_the_cancel_still_ends_cancelled() -> None:
    started = threading.Event()

    def work() -> None:
        started.set()
        time.sleep(0.1)
        raise RuntimeError("the encoder gave up")

    task = asyncio.create_task(run_in_thread(work))
    await asyncio.to_thread(started.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
