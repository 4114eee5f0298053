"""Silero VAD (MIT) for speech activity: the ONNX file shipped in the silero-vad wheel.

Why copied at build time and not a dependency: the silero-vad package requires torch, which
the mesh must not pull in. `pip download --no-deps` fetches the wheel alone (from the package
index pip is configured for) and the ONNX file is taken out of it and checked by hash.

We use the wheel's `silero_vad_16k_sequence.onnx`: it runs a whole sequence of 32 ms windows
in one call (the LSTM steps over the rows), so a song or a speech needs one Triton request
per ten minutes of audio instead of one per window.
  input         FP32 [T, 576]     rows of 512 new samples at 16 kHz plus the 64 before them
  h, c          FP32 [1, 1, 128]  LSTM state in (zeros at the start of the audio)
  speech_probs  FP32 [T]          speech probability of each window
  hn, cn        FP32 [1, 1, 128]  LSTM state out, fed to the next request of the same audio
"""
from __future__ import annotations

from mediamesh.models.wheels import wheel_member

VERSION = "6.2.3"
MEMBER = "silero_vad/data/silero_vad_16k_sequence.onnx"
SHA256 = "9ccdacc4719d8aa7e45a77536bfabec45a03ba1f2fad5e241ab4060b24238a85"
RATE = 16_000
WINDOW = 512
CONTEXT = 64


def build() -> bytes:
    """The ONNX bytes, from the silero-vad wheel (downloaded without its dependencies)."""
    return wheel_member(f"silero-vad=={VERSION}", MEMBER, SHA256)
