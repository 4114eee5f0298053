"""Long green-screen clips made cheaply, for tests that must catch a job in flight.

The keyer runs at hundreds of frames a second, so a test that cancels, kills or drains a
job mid-way needs many frames; rendering and encoding them would cost the test more than
the job. Instead a short clip is rendered once and its packets are copied again and again
with shifted timestamps (a remux, no re-encode): the service still decodes, keys and
encodes every frame.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import av

from mediamesh import media
from mediamesh.synth import green_screen as synth

FPS = 25.0
LOOP_SECONDS = 2.0


def write_long_clip(path: Path, seconds: float, width: int, height: int) -> int:
    """A green-screen clip of `seconds` (a whole number of LOOP_SECONDS loops) at
    width x height; returns its frame count."""
    loops = max(1, round(seconds / LOOP_SECONDS))
    loop_frames = round(LOOP_SECONDS * FPS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="long-clip-") as tmp:
        short = Path(tmp) / "loop.mp4"
        with media.VideoWriter(short, width, height, FPS) as writer:
            for f in synth.render_clip(loop_frames, FPS, width, height):
                writer.write(f.rgb)
        with av.open(str(short)) as source, av.open(str(path), "w") as target:
            video = source.streams.video[0]
            out = target.add_stream_from_template(video)
            assert video.time_base is not None
            step = round(LOOP_SECONDS / video.time_base)  # one loop in stream ticks
            for loop in range(loops):
                source.seek(0)
                for packet in source.demux(video):
                    if packet.dts is None:  # the demuxer's flush packet
                        continue
                    packet.pts = (packet.pts or 0) + loop * step
                    packet.dts += loop * step
                    packet.stream = out
                    target.mux(packet)
    return loops * loop_frames
