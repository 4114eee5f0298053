"""RemoveSubtitles through the whole path: client -> VisionService -> Triton
(text_detection: PP-OCRv6's detector), on generated clips with subtitles burned in at known
times and boxes, scored against the same clip rendered without them
(mediamesh.synth.subtitles)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.synth import subtitles
from mediamesh.v1 import common_pb2, vision_pb2
from tests.integration.streams import assert_invalid_argument, collect
from tests.integration.test_mesh_health import cli

W, H, FPS, SECONDS, SEED = 640, 360, 25.0, 6.0, 5


@pytest.fixture(scope="module")
def clip(media_root: Path) -> tuple[np.ndarray, subtitles.SubtitleTruth]:
    """The subtitled clip (with a tone) in the media root; returns the clean frames."""
    frames, clean, truth = subtitles.render(SEED, width=W, height=H, fps=FPS, seconds=SECONDS)
    path = media_root / "tests" / "subtitled.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    with media.VideoWriter(path, W, H, FPS, audio_sample_rate=48000) as writer:
        for frame in frames:
            writer.write(frame)
        writer.write_audio(np.zeros((2, int(48000 * SECONDS)), np.float32) + 0.01)
    return clean, truth


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255 ** 2 / max(mse, 1e-9))


async def run(client: MeshClient, request: vision_pb2.RemoveSubtitlesRequest
              ) -> tuple[list[common_pb2.Progress], vision_pb2.RemoveSubtitlesResult]:
    return await collect(client.vision.RemoveSubtitles(request, timeout=300))


async def test_subtitles_are_found_erased_and_the_rest_kept(
        client: MeshClient, clip: tuple[np.ndarray, subtitles.SubtitleTruth],
        media_root: Path) -> None:
    clean, truth = clip
    progress, result = await run(client, vision_pb2.RemoveSubtitlesRequest(
        video=common_pb2.MediaRef(uri="tests/subtitled.mp4"),
        output=common_pb2.OutputSpec(uri="tests/unsubtitled.mp4", overwrite=True)))
    assert {p.stage for p in progress} == {"finding the band", "removing"}
    band = result.band_used
    lowest = min(c.box[1] for c in truth.cues)
    highest = max(c.box[1] + c.box[3] for c in truth.cues)
    assert band.y <= lowest and band.y + band.height >= highest  # the band holds every line
    assert band.height < 0.25  # and is not the whole search area
    # the erased spans are the cues, within a frame
    assert len(result.erased) == len(truth.cues)
    for span, cue in zip(result.erased, truth.cues, strict=True):
        assert span.start == pytest.approx(cue.start, abs=1.5 / FPS)
        assert span.end == pytest.approx(cue.end, abs=1.5 / FPS)
    out = media_root / result.output.uri
    info = media.probe(out)
    assert info.frame_count == truth.frame_count and info.has_audio
    source = np.stack([f.rgb for f in media.iter_frames(media_root / "tests" / "subtitled.mp4")])
    cleaned = np.stack([f.rgb for f in media.iter_frames(out)])
    top = int(band.y * H)
    text_frames = [i for i in range(truth.frame_count) if truth.cue_at(i)]
    before = psnr(source[text_frames, top:], clean[text_frames, top:])
    after = psnr(cleaned[text_frames, top:], clean[text_frames, top:])
    assert after > before + 6, (before, after)  # the text is gone, the band looks like truth
    # above the band the picture is the source's (up to the re-encode)
    assert psnr(cleaned[:, :top - 4], source[:, :top - 4]) > 38


async def test_a_given_band_and_blur(client: MeshClient,
                                     clip: tuple[np.ndarray, subtitles.SubtitleTruth],
                                     media_root: Path) -> None:
    _, truth = clip
    _, result = await run(client, vision_pb2.RemoveSubtitlesRequest(
        video=common_pb2.MediaRef(uri="tests/subtitled.mp4"),
        region=common_pb2.Box(x=0.0, y=0.75, width=1.0, height=0.25),
        method=vision_pb2.INPAINT_METHOD_BLUR,
        output=common_pb2.OutputSpec(uri="tests/blurred_subs.mp4", overwrite=True)))
    assert result.band_used.y == pytest.approx(0.75, abs=1 / H)
    assert len(result.erased) == len(truth.cues)
    cleaned = [f.rgb for f in media.iter_frames(media_root / result.output.uri)]
    cue = truth.cues[0]
    i = round((cue.start + cue.end) / 2 * FPS)
    x, y, w, h = cue.box
    patch = cleaned[i][round(y * H):round((y + h) * H), round(x * W):round((x + w) * W)]
    # white-on-black glyph strokes are gone: no near-white next to near-black any more
    assert np.abs(np.diff(patch.astype(np.float32).mean(-1), axis=1)).max() < 80


def _request(**kwargs: object) -> vision_pb2.RemoveSubtitlesRequest:
    return vision_pb2.RemoveSubtitlesRequest(video=common_pb2.MediaRef(uri="tests/subtitled.mp4"),
                                             **kwargs)  # type: ignore[arg-type]


BAD_REQUESTS = [
    ("empty_band", _request(region=common_pb2.Box(x=0, y=0.8, width=1.0, height=0.0)), "region",
     "has no area"),
    ("outside", _request(region=common_pb2.Box(x=0, y=0.9, width=1.0, height=0.3)), "region",
     "reaches outside the frame"),
    ("sliver", _request(region=common_pb2.Box(x=0, y=0.9, width=1.0, height=0.01)), "region",
     "at least 8"),
    ("method", _request(method=9), "method", "unknown method 9"),
    ("still", vision_pb2.RemoveSubtitlesRequest(video=common_pb2.MediaRef(
        uri="tests/subs_still.png")), "video", "RemoveSubtitles needs a video"),
]


@pytest.mark.parametrize("name,request_,field,text", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_input_is_invalid_argument_naming_the_field(
        client: MeshClient, clip: tuple[np.ndarray, subtitles.SubtitleTruth], media_root: Path,
        name: str, request_: vision_pb2.RemoveSubtitlesRequest, field: str, text: str) -> None:
    media.write_image(media_root / "tests" / "subs_still.png", np.zeros((90, 160, 3), np.uint8))
    await assert_invalid_argument(run(client, request_), field, text)


def test_cli_removes_and_reports_the_spans(
        mesh: Settings, clip: tuple[np.ndarray, subtitles.SubtitleTruth]) -> None:
    done = cli(mesh, "remove-subtitles", str(mesh.media_root / "tests" / "subtitled.mp4"),
               "--output", "tests/cli_unsub.mp4")
    assert done.returncode == 0, done.stderr
    assert "band: y 0." in done.stdout and "text erased (s): 0.56-2.12, 2.52-4.20" in done.stdout
    bad = cli(mesh, "remove-subtitles", str(mesh.media_root / "tests" / "subtitled.mp4"),
              "--band", "low")
    assert bad.returncode != 0 and "--band must be" in bad.stderr
