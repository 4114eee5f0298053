"""The transcriber against the real Triton of the mesh: whisper_encoder and whisper_decoder
(its greedy search an ONNX Loop) loaded from their configs by the embedded server's ONNX
runner, two audios transcribed at once (their requests may be joined into one run)."""
from __future__ import annotations

import asyncio

from mediamesh.config import Settings
from mediamesh.inference import TritonClient
from mediamesh.synth.speech import programme
from services.text import transcriber


async def test_two_audios_are_transcribed_concurrently_on_triton(mesh: Settings) -> None:
    english, lines = programme(["Good evening and welcome to the news.",
                                "Our next story comes from the city library."], "en")
    chinese, _ = programme(["今天天气很好，我们去公园散步吧。"], "zh")
    client = TritonClient(mesh.triton_address, timeout_s=120)
    try:
        en, zh = await asyncio.gather(transcriber.transcribe(client, english),
                                      transcriber.transcribe(client, chinese))
    finally:
        await client.close()
    assert en.language == "en" and zh.language == "zh"
    assert "welcome to the news" in en.text.lower() and "library" in en.text.lower()
    assert len(en.segments) == 2
    for segment, line in zip(en.segments, lines, strict=True):
        assert abs(segment.start - line.start) < 1.0 and abs(segment.end - line.end) < 1.0
    assert "公园" in zh.text
