"""SplitLecture through the whole path: client -> VisionService -> Triton (text_detection
+ text_recognition for the titles), on a generated screen-recorded lecture with known slide
changes and titles (mediamesh.synth.lectures): the presenter's picture-in-picture, a
cursor and a slide build must not start chapters."""
from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

import av
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.synth import lectures
from mediamesh.v1 import common_pb2, vision_pb2
from tests.integration.streams import assert_invalid_argument, collect
from tests.integration.test_mesh_health import cli

SPEC = lectures.LectureSpec(seed=11, durations=(7.0, 3.0, 5.0), language="zh", fps=15.0)
VTT_CUE = re.compile(r"^\d+\n\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n[^\n]+$")


@pytest.fixture(scope="module")
def lecture(media_root: Path) -> lectures.LectureTruth:
    path = media_root / "tests" / "lecture.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    return lectures.render_lecture(path, SPEC)


async def test_chapters_titles_and_files(client: MeshClient, lecture: lectures.LectureTruth,
                                         media_root: Path) -> None:
    progress, result = await collect(client.vision.SplitLecture(
        vision_pb2.SplitLectureRequest(
            video=common_pb2.MediaRef(uri="tests/lecture.mp4"),
            output=common_pb2.OutputSpec(uri="tests/chaptered/lecture.mp4", overwrite=True)),
        timeout=120))
    assert progress[0].stage == "detecting"
    assert {"reading titles", "writing"} <= {p.stage for p in progress}
    assert progress[-1].fraction == pytest.approx(1.0)
    starts = [c.range.start for c in result.chapters]
    assert len(starts) == len(lecture.starts)
    for found, true in zip(starts, lecture.starts, strict=True):
        assert found == pytest.approx(true, abs=1.0)
    assert result.chapters[-1].range.end == pytest.approx(lecture.duration, abs=0.1)
    assert len(result.builds) == len(lecture.builds)  # the build stayed in its chapter
    box = result.ignored_regions[0]  # the presenter, bottom right, within a cell
    x, y, w, h = lecture.presenter  # type: ignore[misc]
    assert box.x == pytest.approx(x / SPEC.width, abs=1 / 32)
    assert box.y == pytest.approx(y / SPEC.height, abs=1 / 18)
    assert box.x + box.width == pytest.approx((x + w) / SPEC.width, abs=1 / 32)
    assert box.y + box.height == pytest.approx((y + h) / SPEC.height, abs=1 / 18)
    for chapter, title in zip(result.chapters, lecture.titles, strict=True):
        similarity = difflib.SequenceMatcher(None, chapter.title, title).ratio()
        assert similarity >= 0.75, (chapter.title, title)
        assert chapter.title_confidence > 0.5
        assert chapter.range.start < chapter.key_frame_time < chapter.range.end

    video = media_root / result.video.uri
    with av.open(str(video)) as container:  # chapters in the mp4 itself, streams copied
        chapters = container.chapters()
    assert [c["metadata"]["title"] for c in chapters] == [c.title for c in result.chapters]
    assert float(chapters[1]["start"] * chapters[1]["time_base"]) == pytest.approx(starts[1])
    source = media.probe(media_root / "tests" / "lecture.mp4")
    assert media.probe(video).frame_count == source.frame_count
    first = next(media.iter_frames(video)).rgb
    original = next(media.iter_frames(media_root / "tests" / "lecture.mp4")).rgb
    assert np.array_equal(first, original)  # not re-encoded

    vtt = (media_root / result.webvtt.uri).read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n")
    cues = vtt.strip().split("\n\n")[1:]
    assert len(cues) == len(result.chapters) and all(VTT_CUE.match(c) for c in cues)
    document = json.loads((media_root / result.chapters_json.uri).read_text(encoding="utf-8"))
    assert [c["title"] for c in document["chapters"]] == [c.title for c in result.chapters]
    metadata = (media_root / result.ffmetadata.uri).read_text(encoding="utf-8")
    assert metadata.startswith(";FFMETADATA1\n") and metadata.count("[CHAPTER]") == len(starts)
    assert not list(video.parent.glob(".*partial*"))  # nothing half-written left


async def test_bad_inputs_say_what_is_wrong(client: MeshClient, media_root: Path,
                                            lecture: lectures.LectureTruth) -> None:
    still = media_root / "tests" / "slide.png"
    media.write_image(still, np.full((90, 160, 3), 200, np.uint8))
    tone = media_root / "tests" / "lecture-audio.wav"
    media.write_audio(tone, np.zeros((1, 16000), np.float32), 16000)
    with av.open(str(media_root / "tests" / "lecture-empty.mp4"), "w") as empty:
        stream = empty.add_stream("libx264", rate=25)  # a header, not one frame
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        empty.start_encoding()

    def split(uri: str, **fields: object) -> object:
        return collect(client.vision.SplitLecture(vision_pb2.SplitLectureRequest(
            video=common_pb2.MediaRef(uri=uri), **fields), timeout=60))

    await assert_invalid_argument(split("tests/slide.png"), "video", "still image")
    await assert_invalid_argument(split("tests/lecture-audio.wav"), "video", "no picture")
    await assert_invalid_argument(split("tests/lecture-empty.mp4"), "video", "no picture")
    await assert_invalid_argument(split("tests/lecture.mp4", sample_fps=50.0), "sample_fps",
                                  "sample_fps must be")
    await assert_invalid_argument(
        split("tests/lecture.mp4", output=common_pb2.OutputSpec(uri="tests/out.avi")),
        "output.uri", ".mp4 or .mkv")


def test_cli_prints_the_chapters_and_copies_the_files(
        mesh: Settings, lecture: lectures.LectureTruth, tmp_path: Path) -> None:
    done = cli(mesh, "lecture", str(mesh.media_root / "tests" / "lecture.mp4"),
               "--out", str(tmp_path / "chapters"))
    assert done.returncode == 0, done.stderr
    assert f"{len(lecture.starts)} chapters" in done.stdout
    assert lecture.titles[-1] in done.stdout
    names = sorted(p.name for p in (tmp_path / "chapters").iterdir())
    assert names == ["lecture.chapters.json", "lecture.chapters.mp4", "lecture.chapters.vtt",
                     "lecture.ffmetadata.txt"]
