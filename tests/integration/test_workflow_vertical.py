"""workflows/vertical.yaml end to end through the orchestrator and NATS: RemoveSubtitles ->
Reframe -> SelectCover on Triton, each step's output the next one's input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf import json_format

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.synth import subtitles
from mediamesh.v1 import workflow_pb2
from tests.integration.test_workflows import events_until_end, submit

WORKFLOW = Path(__file__).resolve().parents[2] / "workflows" / "vertical.yaml"


async def test_a_subtitled_landscape_clip_becomes_a_clean_vertical_one(
        client: MeshClient, media_root: Path) -> None:
    path = media_root / "tests" / "landscape.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = subtitles.write_clip(path, 8, width=640, height=360, seconds=4.0)
    run_id = await submit(client, WORKFLOW.read_text(), {"video": "tests/landscape.mp4",
                                                         "name": "landscape"})
    events = await events_until_end(client, run_id)
    run = await client.workflow.GetRun(workflow_pb2.GetRunRequest(run_id=run_id))
    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED, run.error_message
    assert [e.type for e in events].count("step.succeeded") == 3
    outputs = json_format.MessageToDict(run.outputs)
    assert len(outputs["erased"]) == len(truth.cues)
    video = media.probe(media_root / outputs["video"]["uri"])
    assert (video.width, video.height) == (202, 360)
    assert video.frame_count == truth.frame_count
    cover = media.read_image(media_root / outputs["cover"]["uri"])
    assert cover.shape == (360, 202, 3) and cover.std() > 5
    gif = media.probe(media_root / outputs["animated_cover"]["uri"])
    assert gif.duration > 0.5 and outputs["cameras"]
    # the vertical clip's bottom band carries no subtitle: compare with the clean render
    _, clean, _ = subtitles.render(8, width=640, height=360, seconds=4.0)
    cue = truth.cues[0]
    frame = round((cue.start + cue.end) / 2 * truth.fps)
    picture = next(f.rgb for f in media.iter_frames(media_root / outputs["video"]["uri"],
                                                    start=frame / truth.fps))
    band = picture[int(0.8 * 360):].astype(np.float32)
    assert (band.mean(-1) > 245).mean() < 0.002  # no white glyph strokes left
