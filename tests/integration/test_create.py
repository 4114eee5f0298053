"""One-click creation through the mesh: SynthesizeSpeech (espeak-ng), MatchScript (the
multilingual encoder on Triton, across languages), PlanCreation, and workflows/create.yaml
end to end on a library the repo renders (mediamesh.synth.library)."""
from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import json_format

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.grpc_errors import bad_fields
from mediamesh.synth import library
from mediamesh.v1 import audio_pb2, common_pb2, compose_pb2, text_pb2
from tests.integration.test_workflow_text import run_workflow

SUBJECTS = ["sunset", "forest", "city", "mountains"]


@pytest.fixture(scope="module")
def small_library(media_root: Path) -> library.LibraryTruth:
    return library.write_library(media_root / "create-lib", SUBJECTS, seconds=3.0,
                                 music_seconds=15.0, scripts=False)


async def speak(client: MeshClient, text: str, language: str = "", uri: str = ""
                ) -> audio_pb2.SynthesizeSpeechResult:
    request = audio_pb2.SynthesizeSpeechRequest(
        text=text, language=language, output=common_pb2.OutputSpec(uri=uri, overwrite=True))
    return await MeshClient.run_job(client.audio.SynthesizeSpeech(request, timeout=60))


async def test_synthesize_speech_times_every_sentence(client: MeshClient,
                                                      media_root: Path) -> None:
    said = await speak(client, "Dr. Lee walks to the sea. The sun sets! Is it late?",
                       uri="create/said.wav")
    assert [s.text for s in said.sentences] == ["Dr. Lee walks to the sea.", "The sun sets!",
                                                "Is it late?"]
    assert said.language == "en" and said.voice == "espeak-ng:en-us"
    ends = [0.0] + [x for s in said.sentences for x in (s.range.start, s.range.end)]
    assert ends == sorted(ends) and said.sentences[-1].range.end < said.duration
    audio = media.decode_audio(media_root / said.output.uri, said.sample_rate)
    assert abs(len(audio) / said.sample_rate - said.duration) < 0.01
    first = said.sentences[0].range
    voice = audio[int(first.start * said.sample_rate):int(first.end * said.sample_rate)]
    assert np.sqrt(np.mean(voice ** 2)) > 0.05 > np.abs(audio[:100]).max()
    chinese = await speak(client, "夕阳落在海面上。森林很安静！")
    assert chinese.language == "zh" and len(chinese.sentences) == 2


@pytest.mark.parametrize(("text", "language", "code", "says"), [
    ("Bonjour.", "fr", grpc.StatusCode.INVALID_ARGUMENT, "language 'fr'"),
    ("   ", "", grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
    ("word. " * 1000, "en", grpc.StatusCode.RESOURCE_EXHAUSTED, "at most 5000"),
])
async def test_synthesize_speech_refuses_bad_text(client: MeshClient, text: str,
                                                  language: str, code: grpc.StatusCode,
                                                  says: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await speak(client, text, language)
    assert caught.value.code() == code and says in caught.value.details()


def _library_request(sentences: list[str], captions: list[str]) -> text_pb2.MatchScriptRequest:
    return text_pb2.MatchScriptRequest(
        sentences=sentences,
        media=[common_pb2.MediaRef(uri=f"lib/{i}.mp4") for i in range(len(captions))],
        shots=[text_pb2.ShotList(ranges=[common_pb2.TimeRange(start=0, end=2),
                                         common_pb2.TimeRange(start=2, end=4)])
               for _ in captions],
        descriptions=[text_pb2.MediaTexts(texts=[
            text_pb2.IndexedText(text=c, range=common_pb2.TimeRange(start=0, end=2)),
            text_pb2.IndexedText(text="a grey wall", range=common_pb2.TimeRange(start=2, end=4)),
        ]) for c in captions])


async def test_match_script_crosses_languages_without_reusing_a_shot(
        client: MeshClient) -> None:
    captions = [library.SUBJECTS[s][0] for s in SUBJECTS]
    sentences = [text for text, _ in library.SCRIPT_ZH]
    reply = await client.text.MatchScript(_library_request(sentences, captions), timeout=60)
    chosen = [(m.media_index, m.range.start) for m in reply.matches]
    assert [captions[m] for m, _ in chosen] == [library.SUBJECTS[s][0] for _, s in
                                                library.SCRIPT_ZH]
    assert all(start == 0 for _, start in chosen) and reply.candidates == 8
    assert len(set(chosen)) == len(chosen)
    assert all(m.score > 0.2 and m.matched_text == captions[m.media_index]
               for m in reply.matches)


async def test_match_script_needs_a_shot_per_sentence(client: MeshClient) -> None:
    request = _library_request(["one.", "two.", "three."], ["a red sunset"])
    request.shots[0].ranges.pop()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.text.MatchScript(request, timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "3 sentences but only 1 described shots" in caught.value.details()


async def test_plan_creation_names_the_bad_shot(client: MeshClient,
                                                small_library: library.LibraryTruth) -> None:
    said = await speak(client, "One. Two.", "en")
    request = compose_pb2.PlanCreationRequest(
        narration=said.output, narration_duration=said.duration,
        sentences=[compose_pb2.CreationSentence(text=s.text, range=s.range)
                   for s in said.sentences],
        shots=[compose_pb2.CreationShot(media=common_pb2.MediaRef(uri=f"create-lib/{c}"),
                                        range=common_pb2.TimeRange(start=0, end=end))
               for c, end in zip(small_library.clips.values(), (2.0, 9.0), strict=False)],
        width=320, height=180)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.compose.PlanCreation(request, timeout=60)
    assert bad_fields(caught.value) == ["shots[1].range"]


async def test_create_workflow_end_to_end(client: MeshClient, media_root: Path,
                                          small_library: library.LibraryTruth) -> None:
    script = [(text, subject) for text, subject in library.SCRIPT_ZH if subject != "mountains"]
    outputs = await run_workflow(client, "create.yaml", {
        "script": "".join(text for text, _ in script),
        "media": [f"create-lib/{small_library.clips[s]}" for s in SUBJECTS],
        "music": f"create-lib/{small_library.music}",
        "width": 320, "height": 180, "name": "create/e2e"})
    assert outputs["language"] == "zh" and len(outputs["matches"]) == len(script)
    for match, (_, subject) in zip(outputs["matches"], script, strict=True):
        assert match["media"].endswith(f"/{subject}.mp4"), match
    timeline = json_format.Parse((media_root / outputs["timeline"]["uri"]).read_text(),
                                 compose_pb2.Timeline())
    cues = timeline.text_tracks[0].cues
    assert [c.text for c in cues] == [text for text, _ in script]
    video = media_root / outputs["video"]["uri"]
    info = media.probe(video)
    narration = media.probe(media_root / outputs["narration"]["uri"]).duration
    assert abs(info.duration - narration) < 0.1 and (info.width, info.height) == (320, 180)
    for cue, (_, subject) in zip(cues, script, strict=True):
        frame = media.read_frame_at(video, (cue.range.start + cue.range.end) / 2).rgb
        seen = np.array(_band_colour(frame), float)
        nearest = min(small_library.colours, key=lambda s: np.linalg.norm(
            seen - np.array(small_library.colours[s], float)))
        assert nearest == subject, (seen, small_library.colours)
    sheet = media.read_image(media_root / outputs["contact_sheet"]["uri"])
    assert sheet.shape[1] > 3 * 320 and sheet.shape[0] > 180


def _band_colour(frame: np.ndarray) -> tuple[int, int, int]:
    """library.picture_colour on any frame size: the band between caption and subtitles."""
    h = frame.shape[0]
    band = frame[round(h * 0.3):round(h * 0.75)]
    return tuple(int(v) for v in band.reshape(-1, 3).mean(axis=0))  # type: ignore[return-value]
