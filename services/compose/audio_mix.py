"""MixAudio: clips cut from their sources, re-timed or re-pitched, placed on one timeline."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mediamesh.audio.mixing import Clip, render_clips
from mediamesh.audio.stretch import change_tempo_and_pitch
from services.compose.audio_requests import ClipSpec


def clip_samples(clip: ClipSpec, source: np.ndarray, rate: int) -> np.ndarray:
    """The clip's range of `source` ((channels, n) at `rate`), at its tempo and pitch."""
    first = int(round(clip.source_start * rate))
    last = int(round(clip.source_end * rate)) if clip.source_end else source.shape[-1]
    piece = source[:, first:last]
    if clip.tempo_ratio == 1.0 and clip.semitones == 0.0:
        return piece
    return change_tempo_and_pitch(piece, rate, clip.tempo_ratio, clip.semitones)


def mix_clips(clips: Sequence[ClipSpec], audio: Sequence[np.ndarray], rate: int,
              channels: int) -> np.ndarray:
    """Every clip, faded and gained, summed at its start time: (channels, n) float32."""
    return render_clips([Clip(samples, c.start, c.gain_db, c.fade_in, c.fade_out)
                         for c, samples in zip(clips, audio)], rate, channels)
