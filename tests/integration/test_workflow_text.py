"""workflows/subtitles.yaml and workflows/tags.yaml end to end through the orchestrator:
OCR and speech to SRT side by side, then both into a search index and the speech burned
into a copy of the video; tags into an index."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import srt
from google.protobuf import json_format

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.media import remux
from mediamesh.synth import subtitles
from mediamesh.synth.speech import RATE, programme
from mediamesh.v1 import text_pb2, workflow_pb2
from tests.integration.test_workflows import events_until_end, submit

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
SAID = ["The museum opens a new exhibition about ancient ships.",
        "Tickets are free for children under twelve."]


def subtitled_clip_with_speech(path: Path) -> subtitles.SubtitleTruth:
    """A subtitled clip (mediamesh.synth.subtitles) with SAID spoken over it."""
    frames, _, truth = subtitles.render(21, width=640, height=360, seconds=9.0)
    audio, _ = programme(SAID, "en")
    audio = np.pad(audio, (0, max(0, round(9.0 * RATE) - len(audio))))[:round(9.0 * RATE)]
    with media.VideoWriter(path, 640, 360, truth.fps, audio_sample_rate=RATE,
                           audio_channels=1) as writer:
        for frame in frames:
            writer.write(frame)
        writer.write_audio(audio)
    return truth


async def run_workflow(client: MeshClient, name: str, inputs: dict[str, object]
                       ) -> dict[str, object]:
    run_id = await submit(client, (WORKFLOWS / name).read_text(), inputs)
    await events_until_end(client, run_id)
    run = await client.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=run_id))
    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED, run.error_message
    return json_format.MessageToDict(run.outputs)


def _first_cue_middle(srt_path: Path) -> float:
    first = next(srt.parse(srt_path.read_text()))
    return (first.start.total_seconds() + first.end.total_seconds()) / 2


async def test_subtitles_workflow_reads_and_hears_then_indexes(client: MeshClient,
                                                               media_root: Path) -> None:
    path = media_root / "wf" / "talk.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = subtitled_clip_with_speech(path)
    outputs = await run_workflow(client, "subtitles.yaml", {
        "video": "wf/talk.mp4", "name": "talk", "index": "wf-subtitles", "burn_in": True,
        "mux": True})
    assert outputs["cues"] == len(truth.cues) and outputs["segments"] == len(SAID)
    assert outputs["language"] == "en"
    assert outputs["indexed"] == len(truth.cues) + len(SAID)
    assert "ancient ships" in (media_root / outputs["speech_srt"]["uri"]).read_text().lower()
    assert truth.cues[0].text in (media_root / outputs["srt"]["uri"]).read_text()
    burned = media_root / outputs["subtitled_video"]["uri"]
    source_info, burned_info = media.probe(path), media.probe(burned)
    assert burned_info.has_audio and abs(burned_info.duration - source_info.duration) < 0.1
    assert (burned_info.width, burned_info.height) == (source_info.width, source_info.height)
    tracks = remux.read_subtitles(media_root / outputs["tracks_video"]["uri"])
    assert tracks[0][0] == "eng" and tracks[1][0] in ("", "und")  # speech, on-screen text
    assert len(tracks[0][1]) == len(SAID) and len(tracks[1][1]) == len(truth.cues)
    spoken_at = _first_cue_middle(media_root / outputs["speech_srt"]["uri"])
    before = media.read_frame_at(path, spoken_at).rgb.astype(int)
    after = media.read_frame_at(burned, spoken_at).rgb.astype(int)
    band = slice(int(0.70 * 360), int(0.95 * 360))  # the default text region
    assert np.abs(after[band] - before[band]).mean() > 3 * np.abs(after[:100] - before[:100]).mean()
    hits = (await client.text.Search(text_pb2.SearchRequest(
        index="wf-subtitles", query="free entry for kids", top_k=1), timeout=60)).hits
    assert hits[0].text.startswith("Tickets are free") and hits[0].media_id == "talk"
    only_ocr = await run_workflow(client, "subtitles.yaml", {
        "video": "wf/talk.mp4", "name": "talk-ocr", "speech": False, "index": "wf-subtitles"})
    assert only_ocr["indexed"] == len(truth.cues) and only_ocr.get("segments", 0) == 0


async def test_tags_workflow_tags_and_indexes(client: MeshClient, media_root: Path) -> None:
    path = media_root / "wf" / "museum.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    subtitled_clip_with_speech(path)
    outputs = await run_workflow(client, "tags.yaml", {
        "video": "wf/museum.mp4", "name": "museum", "top_k": 6, "index": "wf-library"})
    labels = [str(label).lower() for label in outputs["tags"]]  # type: ignore[union-attr]
    assert 0 < len(labels) <= 6
    assert any(word in " ".join(labels) for word in ("museum", "exhibition", "ships",
                                                      "tickets", "children"))
    assert outputs["indexed"] == len(labels) + 2  # the tags, the OCR text, the transcript
    hits = (await client.text.Search(text_pb2.SearchRequest(
        index="wf-library", query="a show about old boats", top_k=3), timeout=60)).hits
    assert hits and all(h.media_id == "museum" for h in hits)
