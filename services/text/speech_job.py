"""The transcriber as a stream: progress (windows done, windows in all) while Whisper works,
then the transcript; for Transcribe and TagMedia, whose callers see a progress bar."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from mediamesh.audio.voice_activity import InferenceClient
from services.text import transcriber
from services.text.transcriber import Transcript


async def transcribe_streaming(client: InferenceClient, samples: np.ndarray,
                               language: str = "") -> AsyncIterator[tuple[int, int] | Transcript]:
    updates: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    task = asyncio.ensure_future(transcriber.transcribe(
        client, samples, language, progress=lambda d, t: updates.put_nowait((d, t))))
    try:
        while not task.done() or not updates.empty():
            waiter = asyncio.ensure_future(updates.get())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                yield waiter.result()
            else:
                waiter.cancel()
        yield task.result()
    finally:
        if not task.done():
            task.cancel()
