"""shot_features: the ONNX graph equals its numpy definition; histograms and thumbnails mean
what the detector assumes (fade invariance of the palette, linearity of thumbnails)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from mediamesh.models import onnx_graph, registry
from mediamesh.models.shot_features import (
    BINS,
    GRID,
    HEIGHT,
    HUE_BINS,
    SAT_BINS,
    THUMB_H,
    THUMB_W,
    WIDTH,
    build_graph,
    features_reference,
)

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(build_graph().SerializeToString(),
                                providers=["CPUExecutionProvider"])


def frames(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, HEIGHT, WIDTH, 3), dtype=np.uint8)


def test_graph_declares_its_tensors() -> None:
    model = build_graph()
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["hist", "thumb"]
    assert model.opset_import[0].version == onnx_graph.OPSET and model.ir_version == 8


@pytest.mark.parametrize("n", [1, 3, 16])
def test_graph_equals_reference(session: ort.InferenceSession, n: int) -> None:
    image = frames(n, n)
    image[0, :10] = 0  # black, white and grey pixels: hue undefined, chroma 0
    image[0, 10:20] = 255
    image[0, 20:30] = 128
    hist, thumb = session.run(["hist", "thumb"], {"image": image})
    ref_hist, ref_thumb = features_reference(image)
    assert hist.shape == (n, GRID, GRID, BINS) and thumb.shape == (n, THUMB_H, THUMB_W, 3)
    np.testing.assert_allclose(hist, ref_hist, atol=1e-5)
    np.testing.assert_allclose(thumb, ref_thumb, atol=1e-6)


def test_histogram_blocks_are_normalised() -> None:
    hist, _ = features_reference(frames(1, 2))
    sat = hist[..., HUE_BINS:HUE_BINS + SAT_BINS].sum(-1)
    val = hist[..., HUE_BINS + SAT_BINS:].sum(-1)
    np.testing.assert_allclose(sat, 1.0, atol=1e-5)
    np.testing.assert_allclose(val, 1.0, atol=1e-5)
    image = np.broadcast_to(np.array([255, 0, 0], np.uint8), (1, HEIGHT, WIDTH, 3))
    red, _ = features_reference(image)
    np.testing.assert_allclose(red[..., :HUE_BINS].sum(-1), 1.0, atol=1e-5)  # full chroma


def test_grey_frames_cast_no_hue_vote_and_hue_is_circular() -> None:
    grey = np.full((1, HEIGHT, WIDTH, 3), 90, np.uint8)
    hist, _ = features_reference(grey)
    assert hist[..., :HUE_BINS].max() == 0
    above = np.broadcast_to(np.array([200, 10, 0], np.uint8), (1, HEIGHT, WIDTH, 3))
    below = np.broadcast_to(np.array([200, 0, 10], np.uint8), (1, HEIGHT, WIDTH, 3))
    a, _ = features_reference(above)  # hue just above 0
    b, _ = features_reference(below)  # hue just below 1
    assert a[0, 0, 0, 0] > 0.5 and b[0, 0, 0, 0] > 0.5  # both land in the first bin


def test_thumbnail_is_linear_in_the_pixels() -> None:
    """A dissolve's frame is the mix of its shots' thumbnails: what the detector tests."""
    a, b = frames(5, 1).astype(np.float32), frames(6, 1).astype(np.float32)
    mix = np.round(0.3 * a + 0.7 * b).astype(np.uint8)
    _, ta = features_reference(a.astype(np.uint8))
    _, tb = features_reference(b.astype(np.uint8))
    _, tm = features_reference(mix)
    np.testing.assert_allclose(tm, 0.3 * ta + 0.7 * tb, atol=1.0 / 255)


def test_configs_match_the_graph() -> None:
    for config in ("config.pbtxt", "configs/cpu.pbtxt"):
        text = (REPOSITORY / "shot_features" / config).read_text()
        assert f"dims: [ {HEIGHT}, {WIDTH}, 3 ]" in text
        assert f"dims: [ {GRID}, {GRID}, {BINS} ]" in text
        assert f"dims: [ {THUMB_H}, {THUMB_W}, 3 ]" in text
        assert re.search(r"dynamic_batching", text)
    assert 'backend: "onnxrunner"' in (REPOSITORY / "shot_features/configs/cpu.pbtxt").read_text()


def test_registry_builds_it(tmp_path: Path) -> None:
    (tmp_path / "shot_features").mkdir()
    (tmp_path / "shot_features" / "config.pbtxt").write_text("name: \"shot_features\"\n")
    (result,) = registry.build(tmp_path, ["shot_features"])
    assert result.path == tmp_path / "shot_features" / "1" / "model.onnx" and not result.skipped
    assert registry.find("shot_features").licence == "Apache-2.0"
