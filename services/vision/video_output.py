"""The end of every frame-by-frame video job: refuse an empty range, carry the source's
audio over the same span, close the file. Shared by keying and matting."""
from __future__ import annotations

import asyncio
from pathlib import Path

from mediamesh import media
from mediamesh.errors import InvalidArgument

AUDIO_RATE = 48000


async def finish_video(writer: media.VideoWriter, source: Path, start: float, end: float,
                       frames: int, keep_audio: bool) -> None:
    """Close `writer` after `frames` frames of [start, end) seconds of `source`; its audio
    goes along when `keep_audio`. No frames is INVALID_ARGUMENT on the request's range."""
    if frames == 0:
        raise InvalidArgument(f"no video frames between {start:.3f} s and {end:.3f} s",
                              field_name="range")
    if keep_audio:
        samples = await asyncio.to_thread(media.decode_audio, source, AUDIO_RATE, False, start,
                                          end - start)
        await asyncio.to_thread(writer.write_audio, samples)
    await asyncio.to_thread(writer.close)
