"""The CLI runs jobs through the mesh: stages local files, shows progress, explains errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.config import Settings
from tests.integration.test_mesh_health import cli


def test_key_a_local_image_outside_the_media_root(mesh: Settings, tmp_path: Path) -> None:
    image = np.full((48, 64, 3), (40, 200, 60), np.uint8)
    image[12:36, 20:44] = (200, 150, 130)
    source = tmp_path / "shot.png"
    media.write_image(source, image)
    result = cli(mesh, "key", str(source), "--mode", "alpha", "--output", "cli/shot-alpha.png")
    assert result.returncode == 0, result.stderr
    output = mesh.media_root / "cli" / "shot-alpha.png"
    assert f"output: {output}" in result.stdout
    matte = media.read_image(output)[..., 0]
    assert matte[24, 32] == 255 and matte[2, 2] == 0
    assert (mesh.media_root / "inputs" / "shot.png").exists()  # staged into the media root


def test_key_errors_are_one_line(mesh: Settings, tmp_path: Path) -> None:
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500)
    result = cli(mesh, "key", str(garbage))
    assert result.returncode == 1
    assert "INVALID_ARGUMENT" in result.stderr and "broken.mp4" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    missing = cli(mesh, "key", str(tmp_path / "nope.mp4"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_run_a_workflow_from_the_cli_with_progress_and_outputs(mesh: Settings,
                                                              tmp_path: Path) -> None:
    from mediamesh.synth import green_screen as synth

    clip = tmp_path / "take.mp4"
    with media.VideoWriter(clip, 96, 64, 25.0) as writer:
        for frame in synth.render_clip(10, 25.0, 96, 64):
            writer.write(frame.rgb)
    backdrop = tmp_path / "bd.png"
    media.write_image(backdrop, synth.background_image(96, 64))
    out = tmp_path / "out"
    result = cli(mesh, "run", "greenscreen", "-i", f'clips=["{clip}"]', "-i",
                 f"backdrop={backdrop}", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "SUCCEEDED" in result.stdout and "composite" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["clip-0.gif", "clip-0.matte.mp4",
                                                     "clip-0.mp4"]
    # 10 frames at 25 fps (0..0.36 s) sampled at 8 fps: ticks 0, .125, .25 (.375 has no frame)
    assert media.probe(out / "clip-0.gif").frame_count == 3
    listed = cli(mesh, "runs", "ls", "--state", "succeeded")
    assert listed.returncode == 0 and "greenscreen" in listed.stdout
    bad = cli(mesh, "run", "greenscreen", "-i", 'clips=["nowhere.mp4"]', "-i",
              f"backdrop={backdrop}")
    assert bad.returncode == 1
    assert "inputs.clips: media 'nowhere.mp4' does not exist" in bad.stderr


def test_validate_a_workflow_file_offline(tmp_path: Path) -> None:
    broken = tmp_path / "w.yaml"
    broken.write_text("name: w\nversion: 1\nsteps:\n  - id: a\n    call: vision.Nope\n")
    result = subprocess_cli("workflows", "validate", str(broken))
    assert result.returncode == 1
    assert f"{broken}:5:11: steps[0].call: unknown RPC 'vision.Nope'" in result.stderr


def subprocess_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mediamesh.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_index_subtitles_and_search_them_from_the_cli(mesh: Settings, tmp_path: Path) -> None:
    subtitles = tmp_path / "cooking.srt"
    subtitles.write_text("1\n00:00:01,000 --> 00:00:03,000\n把鸡蛋打进碗里，加一点盐。\n\n"
                         "2\n00:00:03,000 --> 00:00:06,000\n用小火慢慢煎五分钟。\n", "utf-8")
    added = cli(mesh, "text", "index", "cli-cookbook", "omelette", "--srt", str(subtitles),
                "--meta", "chef=li")
    assert added.returncode == 0, added.stderr
    assert "2 texts in index cli-cookbook" in added.stdout
    found = cli(mesh, "text", "search", "cli-cookbook", "fry it slowly over a low flame",
                "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert hits[0]["text"] == "用小火慢慢煎五分钟。" and hits[0]["range"] == {"start": 3.0,
                                                                          "end": 6.0}
    assert hits[0]["metadata"] == {"chef": "li"}
    missing = cli(mesh, "text", "search", "cli-nothing", "x")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    assert "IndexMedia" in missing.stderr and "Traceback" not in missing.stderr
    bad = cli(mesh, "text", "index", "cli-cookbook", "x", "--srt", str(tmp_path / "none.srt"))
    assert bad.returncode == 1 and "cannot read" in bad.stderr


def test_keywords_and_moderation_from_the_cli(mesh: Settings) -> None:
    words = cli(mesh, "text", "keywords", "嫦娥六号探测器在月球背面成功着陆，将采集月球样品。",
                "--term", "嫦娥六号", "--json")
    assert words.returncode == 0, words.stderr
    assert "嫦娥六号" in [k["text"] for k in json.loads(words.stdout)["keywords"]]
    checked = cli(mesh, "text", "moderate", "加微信领取优惠", "周末去公园野餐吧", "--json")
    assert checked.returncode == 0, checked.stderr
    results = json.loads(checked.stdout)["results"]
    assert results[0]["flagged"] and not results[1].get("flagged", False)


def test_render_a_yaml_timeline_with_local_media(mesh: Settings, tmp_path: Path) -> None:
    from mediamesh.synth import timeline_media as tm

    tm.write_clip(tmp_path / "one.mp4", 1, seconds=1.0, width=320, height=96)
    tm.write_clip(tmp_path / "two.mp4", 2, seconds=1.0, width=320, height=96)
    (tmp_path / "edit.yaml").write_text("""
fps: 25
video_tracks:
  - clips:
      - {source: {uri: one.mp4}, start: 0}
      - source: {uri: two.mp4}
        start: 0.6
        transition_in: {kind: TRANSITION_KIND_CROSSFADE, duration: 0.4}
text_tracks:
  - cues: [{text: "first words", range: {start: 0.2, end: 0.8}}]
audio_tracks: [{kind: AUDIO_TRACK_KIND_CLIP}]
""")
    result = cli(mesh, "render", str(tmp_path / "edit.yaml"), "--out",
                 str(tmp_path / "edit.mp4"))
    assert result.returncode == 0, result.stderr
    assert "320x96, 40 frames, 1.60 s" in result.stdout  # size and rate from the first clip
    last = media.read_frame_at(tmp_path / "edit.mp4", 1.55)
    assert tm.read_barcode(last.rgb) == (2, 23)  # output frame 38 (1.52 s) = 0.92 s into two
    bad = tmp_path / "bad.yaml"
    bad.write_text("video_tracks: [{clips: [{source: {uri: one.mp4}, speed: 99}]}]\n")
    refused = cli(mesh, "render", str(bad))
    assert refused.returncode == 1 and "INVALID_ARGUMENT" in refused.stderr
    assert "timeline.video_tracks[0].clips[0].speed" in refused.stderr
