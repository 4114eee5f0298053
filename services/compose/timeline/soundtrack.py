"""The timeline's sound: music, voice and clip-sound tracks, each clip cut from its source
(only its range is decoded), re-timed, faded and gained; music ducked under speech; the
sum mastered to the requested loudness and true-peak ceiling.

Ducking follows the voice itself, not the clips' boundaries: Silero VAD (the silero_vad
model on Triton, the detector AudioService.DetectSpeech uses) finds the speech segments in
the voice tracks' sum, and the ducked tracks' gain goes to `duck_db` inside them, ramping
in dB over ATTACK_S before each segment and RELEASE_S after it, as a broadcast ducker.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import resample_poly

from mediamesh.audio import mixing, voice_activity
from mediamesh.audio.mixing import Fade, FadeCurve
from mediamesh.audio.stretch import change_tempo_and_pitch
from services.compose.audio_requests import ClipSpec, media_name
from services.compose.timeline.spec import (
    AudioTrackSpec,
    TimelineSpec,
    TrackKind,
    TransitionKind,
    VideoClipSpec,
)

RATE = 48_000  # video audio is 48 kHz by convention
CHANNELS = 2
ATTACK_S = 0.15
RELEASE_S = 0.35
CUT_FADE_S = 0.005  # a hard cut in the sound clicks; 5 ms fades do not
CLIP_SOUND_SPEEDS = (0.5, 2.0)  # the stretcher's range; beyond it a clip plays silent


@dataclass(frozen=True)
class Segment:
    start: float
    end: float


def clip_sound(clips: Sequence[VideoClipSpec], has_audio: Mapping[str, bool]
               ) -> tuple[list[ClipSpec], list[str]]:
    """The sound of a video track's clips as audio clips that follow the picture: same
    ranges and speed, crossfaded over the picture's transitions. Returns notes for clips
    left silent (no audio stream, or a speed the stretcher cannot keep the pitch at)."""
    out: list[ClipSpec] = []
    notes: list[str] = []
    for i, clip in enumerate(clips):
        if clip.still or not has_audio.get(clip.where, False):
            continue
        if not CLIP_SOUND_SPEEDS[0] <= clip.speed <= CLIP_SOUND_SPEEDS[1]:
            notes.append(f"{clip.where}: sound left out at speed {clip.speed:g} (the clip "
                         f"sound follows speeds {CLIP_SOUND_SPEEDS[0]:g}-"
                         f"{CLIP_SOUND_SPEEDS[1]:g})")
            continue
        fade_in = Fade(CUT_FADE_S, FadeCurve.LINEAR)
        if clip.transition.kind is not TransitionKind.CUT:
            curve = FadeCurve.LINEAR if clip.transition.kind is TransitionKind.DIP_TO_BLACK \
                else FadeCurve.EQUAL_POWER
            fade_in = Fade(clip.transition.duration, curve)
        fade_out = Fade(CUT_FADE_S, FadeCurve.LINEAR)
        following = clips[i + 1] if i + 1 < len(clips) else None
        if following is not None and following.transition.kind is not TransitionKind.CUT:
            overlap = clip.end - following.start
            if overlap > CUT_FADE_S:
                fade_out = Fade(min(overlap, clip.end - clip.start), FadeCurve.EQUAL_POWER)
        out.append(ClipSpec(
            index=i, where=clip.where, label=f"{clip.where} ({media_name(clip.source, 'clip')})",
            source=clip.source, source_start=clip.source_start, source_end=clip.source_end,
            start=clip.start, gain_db=0.0, fade_in=fade_in, fade_out=fade_out,
            tempo_ratio=clip.speed, semitones=0.0))
    return out, notes


def retimed(clip: ClipSpec, piece: np.ndarray) -> np.ndarray:
    """The decoded range at the clip's tempo and pitch, fades fitted to its length."""
    if clip.tempo_ratio != 1.0 or clip.semitones != 0.0:
        piece = change_tempo_and_pitch(piece, RATE, clip.tempo_ratio, clip.semitones)
    return piece


def track_mix(track: AudioTrackSpec, clips: Sequence[ClipSpec], pieces: Sequence[np.ndarray],
              total: int) -> np.ndarray:
    """One track's clips placed, faded and gained on a (CHANNELS, total) buffer."""
    placed = []
    for clip, piece in zip(clips, pieces, strict=True):
        length = piece.shape[-1] / RATE
        fade_in = replace(clip.fade_in, duration=min(clip.fade_in.duration, length / 2)) \
            if clip.fade_in.duration + clip.fade_out.duration > length else clip.fade_in
        fade_out = replace(clip.fade_out, duration=min(clip.fade_out.duration, length / 2)) \
            if clip.fade_in.duration + clip.fade_out.duration > length else clip.fade_out
        placed.append(mixing.Clip(piece, clip.start, clip.gain_db + track.gain_db, fade_in,
                                  fade_out))
    return mixing.render_clips(placed, RATE, CHANNELS, total / RATE)


def duck_gain(segments: Sequence[Segment], total: int, duck_db: float, rate: int = RATE
              ) -> np.ndarray:
    """Per-sample gain: `duck_db` inside speech, 0 dB away from it, ramps linear in dB
    over ATTACK_S before each segment and RELEASE_S after it (overlaps take the deeper)."""
    depth = np.zeros(total, np.float32)  # attenuation in dB, as a positive number
    full = -duck_db
    attack, release = round(ATTACK_S * rate), round(RELEASE_S * rate)
    for seg in segments:
        a, b = round(seg.start * rate), round(seg.end * rate)
        lo, hi = max(0, a - attack), min(total, b + release)
        if hi <= lo:
            continue
        index = np.arange(lo, hi)
        ramp_in = (index - (a - attack)) / max(1, attack)
        ramp_out = ((b + release) - index) / max(1, release)
        shape = np.clip(np.minimum(ramp_in, ramp_out), 0.0, 1.0) * full
        depth[lo:hi] = np.maximum(depth[lo:hi], shape.astype(np.float32))
    return (10.0 ** (-depth / 20.0)).astype(np.float32)


async def speech_segments(triton: voice_activity.InferenceClient, voice: np.ndarray
                          ) -> list[Segment]:
    """Where the voice tracks speak (Silero VAD on Triton at 16 kHz)."""
    mono = resample_poly(voice.mean(axis=0), 1, RATE // voice_activity.RATE).astype(np.float32)
    probs = await voice_activity.probabilities(triton, mono)
    found = voice_activity.segments(probs, voice_activity.SpeechOptions(),
                                    len(mono) / voice_activity.RATE)
    return [Segment(a, b) for a, b, _ in found]


def total_samples(spec: TimelineSpec) -> int:
    return round(spec.frame_count / spec.fps * RATE)


def is_voice(track: AudioTrackSpec) -> bool:
    return track.kind is TrackKind.VOICE
