"""SelectCover through the real mesh: client -> VisionService -> Triton (shot_features,
face_detection), on a generated clip whose right answer is known.

The clip (384x216, 25 fps, 11.44 s) is five shots: black; a heavily blurred texture; a
dissolve into the astronaut (a real face: mediamesh.synth.portraits) sharp and well lit
over a plain wall; a flat grey slate; sharp moving shapes. Blank shots (black, grey)
total 0, so no candidate may come from them; the best cover is the face, clear of the
cuts and the dissolve; everything animated around it must show only the face shot.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.synth import portraits, videos
from mediamesh.v1 import common_pb2, vision_pb2
from tests.integration.streams import assert_invalid_argument, collect
from tests.integration.test_mesh_health import cli

W, H, FPS = 384, 216, 25.0
URI = "tests/cover/clip.mp4"
# Truth, in frames: shot name -> [start, end). The dissolve blurred -> face spans frames
# [90, 102); its boundary (the videos module's convention) is its middle frame, 96.
SHOTS = {"black": (0, 40), "blurred": (40, 96), "face": (96, 196), "grey": (196, 236),
         "shapes": (236, 286)}
DISSOLVE = (90, 102)
FRAMES = 286
CUTS = [40 / FPS, 196 / FPS, 236 / FPS]
PURE_FACE = (DISSOLVE[1], SHOTS["face"][1])  # face frames not mixed with anything


def seconds(frames: tuple[int, int]) -> tuple[float, float]:
    return frames[0] / FPS, frames[1] / FPS


def shot_at(t: float) -> str:
    return next(name for name, (a, b) in SHOTS.items() if a / FPS <= t + 1e-6 < b / FPS)


def render_clip() -> list[np.ndarray]:
    blur_src = videos.shot_frames("texture", 12, 62, W, H)
    blurred = [np.clip(ndimage.gaussian_filter(f.astype(np.float32), (4, 4, 0)) + 0.5, 0, 255
                       ).astype(np.uint8) for f in blur_src]
    person = portraits.plan_clip(3, width=W, height=H, fps=FPS, seconds=4.5,
                                 background="plain")
    face = [person.frame(i)[0] for i in range(DISSOLVE[1] - DISSOLVE[0] + 94)]
    frames = [np.zeros((H, W, 3), np.uint8)] * 40 + blurred[:50]
    length = DISSOLVE[1] - DISSOLVE[0]
    for k in range(length):  # blurred frames 50..61 into face frames 0..11
        a = (k + 1) / (length + 1)
        mix = (1 - a) * blurred[50 + k].astype(np.float32) + a * face[k].astype(np.float32)
        frames.append(np.clip(mix + 0.5, 0, 255).astype(np.uint8))
    frames += face[length:]
    grey = np.random.default_rng(1).normal(128.0, 1.0, (H, W, 3))
    frames += [np.clip(grey, 0, 255).astype(np.uint8)] * 40
    frames += list(videos.shot_frames("shapes", 11, 50, W, H))
    assert len(frames) == FRAMES
    return frames


@pytest.fixture(scope="module")
def clip(media_root: Path) -> Path:
    path = media_root / URI
    path.parent.mkdir(parents=True, exist_ok=True)
    with media.VideoWriter(path, W, H, FPS) as writer:
        for frame in render_clip():
            writer.write(frame)
    return path


@dataclass
class Run:
    progress: list[common_pb2.Progress]
    result: vision_pb2.SelectCoverResult
    seconds: float


async def select(client: MeshClient, **fields: object) -> Run:
    fields.setdefault("video", common_pb2.MediaRef(uri=URI))
    request = vision_pb2.SelectCoverRequest(**fields)  # type: ignore[arg-type]
    started = time.monotonic()
    progress, result = await collect(client.vision.SelectCover(request, timeout=180))
    return Run(progress, result, time.monotonic() - started)


GIF_CAP = 600_000


@pytest.fixture(scope="module")
async def gif_run(client: MeshClient, clip: Path) -> Run:
    """top 4, a 2.5 s GIF under GIF_CAP and the default 5 s summary."""
    run = await select(client, top_k=4, animated=True, animated_duration=2.5,
                       max_animated_bytes=GIF_CAP, summary_plan=True,
                       output=common_pb2.OutputSpec(uri="tests/cover/best.gif", overwrite=True))
    print(f"\nSelectCover (top 4, GIF, summary) took {run.seconds:.2f} s")
    for c in run.result.candidates:
        print(f"  {c.time:.2f} s score {c.score:.3f} {c.breakdown}".replace("\n", " "))
    return run


def animated_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        frames = []
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def matched_frames(clip: Path, frames: list[np.ndarray]) -> list[int]:
    """For each animated frame, the source frame (decoded at its size) it looks most like."""
    h, w = frames[0].shape[:2]
    source = np.stack([f.rgb for f in media.iter_frames(clip, size=(w, h))]).astype(np.float32)
    assert len(source) == FRAMES
    return [int(np.argmin(((source - f.astype(np.float32)) ** 2).mean(axis=(1, 2, 3))))
            for f in frames]


async def test_the_best_cover_is_the_sharp_face_clear_of_transitions(gif_run: Run) -> None:
    candidates = gif_run.result.candidates
    assert len(candidates) == 4  # top_k: one per content shot, then the next best
    best = candidates[0]
    face_start, face_end = seconds(PURE_FACE)
    assert face_start <= best.time < face_end, best
    assert all(abs(best.time - cut) > 0.3 for cut in CUTS)
    assert best.breakdown.faces > 0.3 and best.breakdown.sharpness > 0.5
    assert best.breakdown.transition_penalty == 0.0 and best.breakdown.face_cut_penalty < 0.5
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)
    # blank shots total 0: never candidates; every other shot gives its best first
    assert {shot_at(c.time) for c in candidates} == {"blurred", "face", "shapes"}
    assert all(c.score < best.score for c in candidates[1:])
    blurred = next(c for c in candidates if shot_at(c.time) == "blurred")
    assert blurred.breakdown.sharpness < 0.2 < best.breakdown.sharpness
    for c in candidates:
        parts = c.breakdown
        assert all(0.0 <= v <= 1.0 for v in (c.score, parts.sharpness, parts.exposure,
                                             parts.colorfulness, parts.faces,
                                             parts.face_cut_penalty, parts.transition_penalty,
                                             parts.text_penalty))


async def test_candidate_images_are_that_frame_at_full_resolution(
        gif_run: Run, clip: Path, media_root: Path) -> None:
    for i, c in enumerate(gif_run.result.candidates):
        assert c.image.mime_type == "image/jpeg" and c.image.uri == f"tests/cover/best.cover{i}.jpg"
        still = media.read_image(media_root / c.image.uri)
        assert still.shape == (H, W, 3)
        frame = media.read_frame_at(clip, c.time).rgb
        assert np.abs(still.astype(np.int16) - frame.astype(np.int16)).mean() < 3.0


async def test_the_animated_gif_loops_the_face_shot_within_the_cap(
        gif_run: Run, clip: Path, media_root: Path) -> None:
    cover = gif_run.result.animated_cover
    assert cover.mime_type == "image/gif" and cover.uri == "tests/cover/best.gif"
    path = media_root / cover.uri
    assert path.stat().st_size <= GIF_CAP
    info = media.probe(path)
    assert info.fps and info.frame_count
    assert abs(info.frame_count / info.fps - 2.5) <= 1.0 / info.fps + 1e-6
    frames = animated_frames(path)
    assert len(frames) == info.frame_count
    matched = matched_frames(clip, frames)
    assert all(PURE_FACE[0] <= m < PURE_FACE[1] for m in matched), matched


async def test_the_summary_plan_spans_shots_and_fills_the_target(gif_run: Run) -> None:
    plan = gif_run.result.summary_plan
    segments = [(s.start, s.end) for s in plan.segments]
    total = sum(b - a for a, b in segments)
    assert 5.0 - 0.1 <= total <= 5.0 + 1e-6 and plan.duration == pytest.approx(total)
    assert all(0.0 <= a < b <= FRAMES / FPS for a, b in segments)
    assert all(b <= a2 for (_, b), (a2, _) in zip(segments, segments[1:]))  # chronological
    touched = {shot_at(t) for a, b in segments for t in np.linspace(a, b - 1e-3, 9)}
    assert len(touched) >= 2 and not touched & {"black", "grey"}, segments  # no slates


async def test_progress_runs_through_the_three_stages(gif_run: Run) -> None:
    stages = [p.stage for p in gif_run.progress]
    assert stages[0] == "shots" and stages[-1] == "writing" and "scoring" in stages
    assert set(stages) == {"shots", "scoring", "writing"}
    fractions = [p.fraction for p in gif_run.progress]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


async def test_a_webp_cover_shrinks_to_fit_a_tight_cap(
        client: MeshClient, clip: Path, media_root: Path, gif_run: Run) -> None:
    runs = []
    for name, cap in (("full", 0), ("small", None)):
        if cap is None:  # a third of the uncapped cover
            cap = (media_root / runs[0].result.animated_cover.uri).stat().st_size // 3
        runs.append(await select(
            client, top_k=1, animated=True, animated_format=vision_pb2.ANIMATED_FORMAT_WEBP,
            animated_duration=2.0, max_animated_bytes=cap,
            output=common_pb2.OutputSpec(uri=f"tests/cover/{name}.webp", overwrite=True)))
    full, small = (run.result for run in runs)
    assert [len(full.candidates), len(small.candidates)] == [1, 1]
    assert full.candidates[0].time == gif_run.result.candidates[0].time
    assert not small.HasField("summary_plan")
    assert small.animated_cover.mime_type == "image/webp"
    sizes = [(media_root / r.animated_cover.uri).stat().st_size for r in (full, small)]
    assert sizes[1] <= sizes[0] // 3 < sizes[0]
    infos = [media.probe(media_root / r.animated_cover.uri) for r in (full, small)]
    for info in infos:  # WebP merges repeated frames: the duration is the measure
        assert info.frame_count and abs(info.duration - 2.0) <= 0.1 + 1e-6
    assert (infos[1].width or 0) < (infos[0].width or 0) == 320  # it shrank to fit
    frames = animated_frames(media_root / small.animated_cover.uri)
    assert len(frames) == infos[1].frame_count
    assert all(PURE_FACE[0] <= m < PURE_FACE[1] for m in matched_frames(clip, frames))


async def test_a_cap_that_cannot_be_met_is_resource_exhausted(
        client: MeshClient, clip: Path, media_root: Path) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await select(client, animated=True, max_animated_bytes=300,
                     output=common_pb2.OutputSpec(uri="tests/cover/tiny.gif", overwrite=True))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
    assert error_info(caught.value)[0] == "OUTPUT_TOO_LARGE"
    assert "max_animated_bytes" in caught.value.details()
    assert "shorten animated_duration" in caught.value.details()
    # nothing half-written is left behind: neither the GIF nor the stills
    assert not list((media_root / "tests" / "cover").glob("tiny*"))


BAD_REQUESTS = [
    ("still_image", {"video": common_pb2.MediaRef(uri="tests/cover/still.png")}, "video",
     "SelectCover needs a video"),
    ("top_k", {"top_k": 1000}, "top_k", "top_k must be 1-20"),
    ("negative_animated_duration", {"animated": True, "animated_duration": -1.0},
     "animated_duration", "animated_duration must be in (0, 10]"),
    ("negative_summary_duration", {"summary_plan": True, "summary_duration": -2.0},
     "summary_duration", "summary_duration must be in [0.5, 120]"),
    ("summary_over_the_video", {"summary_plan": True, "summary_duration": 30.0},
     "summary_duration", "longer than the video"),
    ("animated_format", {"animated": True, "animated_format": 7}, "animated_format",
     "unknown animated_format 7"),
    ("extension", {"animated": True, "animated_format": vision_pb2.ANIMATED_FORMAT_WEBP,
                   "output": common_pb2.OutputSpec(uri="tests/cover/x.gif")}, "output.uri",
     "use '.webp'"),
]


@pytest.mark.parametrize("name,fields,field,text", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_input_is_invalid_argument_naming_the_field(
        client: MeshClient, clip: Path, media_root: Path, name: str, fields: dict[str, object],
        field: str, text: str) -> None:
    media.write_image(media_root / "tests" / "cover" / "still.png", np.zeros((90, 160, 3),
                                                                             np.uint8))
    await assert_invalid_argument(select(client, **fields), field, text)


def test_cli_prints_the_candidates_and_the_summary(mesh: Settings, clip: Path) -> None:
    done = cli(mesh, "cover", str(clip), "--top-k", "2", "--summary", "--output",
               "tests/cover/cli.jpg")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2 cover candidates" in out and "face cut" in out and "transition" in out
    assert "tests/cover/cli.cover0.jpg" in out and "tests/cover/cli.cover1.jpg" in out
    assert "summary plan:" in out and "animated cover" not in out
    bad = cli(mesh, "cover", str(clip), "--animated", "png")
    assert bad.returncode != 0 and "--animated must be one of gif, webp" in bad.stderr
