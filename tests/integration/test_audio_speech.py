"""AudioService.DetectSpeech (Silero VAD on Triton) on speech espeak-ng says, placed between
silence and music at known times."""
from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.v1 import audio_pb2, common_pb2

RATE = 16_000


def say(text: str, folder: Path) -> np.ndarray:
    wav = folder / "said.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), text], check=True)
    return media.decode_audio(wav, RATE, True)


def chords(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.1 * sum(np.sin(2 * np.pi * f * t) for f in (220, 277.2, 329.6))).astype(np.float32)


async def test_speech_segments_are_where_people_speak(client: MeshClient,
                                                      media_root: Path) -> None:
    folder = media_root / "speech"
    folder.mkdir(parents=True, exist_ok=True)
    first = say("Good evening, and welcome to the news at nine.", folder)
    second = say("The weather tomorrow will be dry and bright.", folder)
    pieces = [np.zeros(2 * RATE, np.float32), first, chords(4.0), second,
              np.zeros(2 * RATE, np.float32)]
    starts = np.cumsum([0] + [len(p) for p in pieces]) / RATE
    media.write_audio(folder / "programme.m4a", np.concatenate(pieces), RATE)
    reply = await client.audio.DetectSpeech(audio_pb2.DetectSpeechRequest(
        audio=common_pb2.MediaRef(uri="speech/programme.m4a"), min_silence_duration=0.5),
        timeout=60)
    spoken = [(starts[1], starts[2]), (starts[3], starts[4])]
    found = [(s.range.start, s.range.end) for s in reply.segments]
    assert found, "no speech found"
    for a, b in spoken:  # each utterance is covered, start and end within 0.4 s
        assert any(abs(fa - a) < 0.4 and abs(fb - b) < 0.6 for fa, fb in found), (found, spoken)
    for fa, fb in found:  # nothing in the silence or the music
        assert any(fa > a - 0.4 and fb < b + 0.6 for a, b in spoken), (found, spoken)
    assert 0.3 < reply.speech_ratio < 0.8
    assert all(s.confidence > 0.5 for s in reply.segments)


async def test_speech_bad_options(client: MeshClient, media_root: Path) -> None:
    (media_root / "speech").mkdir(parents=True, exist_ok=True)
    media.write_audio(media_root / "speech" / "quiet.wav", np.zeros(RATE * 2, np.float32), RATE)
    quiet = await client.audio.DetectSpeech(audio_pb2.DetectSpeechRequest(
        audio=common_pb2.MediaRef(uri="speech/quiet.wav")), timeout=60)
    assert list(quiet.segments) == [] and quiet.speech_ratio == 0.0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.audio.DetectSpeech(audio_pb2.DetectSpeechRequest(
            audio=common_pb2.MediaRef(uri="speech/quiet.wav"), threshold=1.5), timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "threshold" in caught.value.details()
