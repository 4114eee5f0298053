"""Static-overlay search: the edge_features graph equals its numpy definition, and the
median-of-gradients search finds a drawn logo, keeps its span, and ignores moving scenes
without one and locked-off shots (static scenery is not an overlay)."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from mediamesh.models import edge_features, registry
from mediamesh.synth import overlays
from mediamesh.synth.videos import shot_frames
from services.vision.logos import LogoParams, find_logos

W, H = edge_features.WIDTH, edge_features.HEIGHT


def features(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return edge_features.gradient_reference(frames), edge_features.luma_reference(frames)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def test_graph_equals_reference_and_declares_its_tensors() -> None:
    model = edge_features.build_graph()
    assert [o.name for o in model.graph.output] == ["gradient", "luma"]
    assert registry.find("edge_features").licence == "Apache-2.0"
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(2).integers(0, 256, (3, H, W, 3), dtype=np.uint8)
    gradient, luma = session.run(None, {"image": image})
    np.testing.assert_allclose(gradient, edge_features.gradient_reference(image), atol=1e-5)
    np.testing.assert_allclose(luma[..., 0], edge_features.luma_reference(image), atol=1e-6)


def test_a_black_to_white_step_has_gradient_one() -> None:
    image = np.zeros((1, H, W, 3), np.uint8)
    image[:, :, W // 2:] = 255
    gradient = edge_features.gradient_reference(image)
    # both pixels beside the step see all of it; two pixels away, none
    assert gradient[0, H // 2, W // 2 - 1:W // 2 + 1, 0] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert gradient[0, H // 2, W // 2 + 1, 0] == pytest.approx(0.0, abs=1e-6)
    assert np.abs(gradient[..., 1]).max() < 1e-6


@pytest.mark.parametrize("corner", overlays.CORNERS)
def test_a_drawn_logo_is_found_in_its_corner(corner: str) -> None:
    frames, truth = overlays.render(7, width=W, height=H, fps=2.0, seconds=12.0, corner=corner)
    times = np.arange(len(frames)) / 2.0
    found = find_logos(times, *features(frames), 12.0)
    assert len(found) == 1
    box = found[0].box
    assert truth.box is not None
    assert iou((box.x, box.y, box.width, box.height), truth.box) > 0.6
    assert found[0].start == 0.0 and found[0].end == 12.0


def test_a_logo_shown_for_part_of_the_video_has_that_span() -> None:
    frames, _ = overlays.render(8, width=W, height=H, fps=2.0, seconds=20.0, span=(6.0, 20.0))
    found = find_logos(np.arange(len(frames)) / 2.0, *features(frames), 20.0)
    assert len(found) == 1
    assert found[0].start == pytest.approx(6.0, abs=0.5) and found[0].end == 20.0


def test_moving_scenes_without_a_logo_give_nothing() -> None:
    frames, _ = overlays.render(9, width=W, height=H, fps=2.0, seconds=12.0, logo=False)
    assert find_logos(np.arange(len(frames)) / 2.0, *features(frames), 12.0) == []


def test_a_locked_off_shot_is_scenery_not_a_logo() -> None:
    still = np.repeat(shot_frames("shapes", 3, 1, W, H), 24, axis=0).astype(np.int16)
    noisy = np.clip(still + np.random.default_rng(1).integers(-3, 4, still.shape), 0, 255)
    frames = noisy.astype(np.uint8)
    assert find_logos(np.arange(24) / 2.0, *features(frames), 12.0) == []
    # and without the surround check the same shot is full of 'logos': the check is needed
    loose = LogoParams(min_surround_change=0.0)
    assert find_logos(np.arange(24) / 2.0, *features(frames), 12.0, loose)


def test_too_few_samples_give_nothing() -> None:
    frames, _ = overlays.render(7, width=W, height=H, fps=2.0, seconds=3.0)
    assert find_logos(np.arange(len(frames)) / 2.0, *features(frames), 3.0) == []
