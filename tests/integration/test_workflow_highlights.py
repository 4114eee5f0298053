"""workflows/highlights.yaml end to end: SelectCover's summary plan and animated cover,
then RenderSummary cutting the plan into a short video with crossfades."""
from __future__ import annotations

from pathlib import Path

from google.protobuf import json_format

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.synth import videos
from mediamesh.v1 import workflow_pb2
from tests.integration.test_workflows import events_until_end, submit

WORKFLOW = Path(__file__).resolve().parents[2] / "workflows" / "highlights.yaml"


async def test_a_video_becomes_a_five_second_summary_and_a_capped_animated_cover(
        client: MeshClient, media_root: Path) -> None:
    path = media_root / "tests" / "story.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = videos.write_clip(path, 31, shots=6, width=480, height=270)
    run_id = await submit(client, WORKFLOW.read_text(), {
        "video": "tests/story.mp4", "name": "story", "seconds": 5, "max_bytes": 300_000})
    await events_until_end(client, run_id)
    run = await client.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=run_id))
    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED, run.error_message
    outputs = json_format.MessageToDict(run.outputs)
    summary = media.probe(media_root / outputs["summary"]["uri"])
    assert abs(summary.duration - 5.0) <= 2 / truth.fps
    assert abs(outputs["summary_seconds"] - 5.0) <= 1 / truth.fps
    assert (summary.width, summary.height) == (480, 270) and summary.video_codec == "h264"
    cover = media_root / outputs["animated_cover"]["uri"]
    assert cover.suffix == ".webp" and 0 < cover.stat().st_size <= 300_000
    assert len(outputs["covers"]) == 3
