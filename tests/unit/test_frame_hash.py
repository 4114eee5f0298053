"""frame_hash: the ONNX graph equals its numpy definition, and its features mean what the
fingerprint assumes (a DCT that ignores brightness offsets, a quality that sees flat frames)."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from mediamesh.models import frame_hash, onnx_graph, registry


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(frame_hash.build_graph().SerializeToString(),
                                providers=["CPUExecutionProvider"])


def run(session: ort.InferenceSession, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dct, quality = session.run(["dct", "quality"], {"image": image})
    return dct, quality


def test_graph_declares_its_tensors() -> None:
    model = frame_hash.build_graph()
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["dct", "quality"]
    assert model.opset_import[0].version == onnx_graph.OPSET
    assert registry.find("frame_hash").licence == "Apache-2.0"


@pytest.mark.parametrize("n", [1, 5, 32])
def test_graph_equals_reference(session: ort.InferenceSession, n: int) -> None:
    image = np.random.default_rng(n).integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    dct, quality = run(session, image)
    want_dct, want_quality = frame_hash.hash_reference(image)
    assert dct.shape == (n, 16, 16) and quality.shape == (n, 1)
    np.testing.assert_allclose(dct, want_dct, atol=2e-5)
    np.testing.assert_allclose(quality, want_quality, atol=1e-6)


def test_dct_rows_are_orthonormal_and_skip_dc() -> None:
    d = frame_hash.dct_matrix().astype(np.float64)
    np.testing.assert_allclose(d @ d.T, np.eye(16), atol=1e-5)
    np.testing.assert_allclose(d.sum(axis=1), 0.0, atol=1e-5)  # no DC row: offsets vanish


def test_brightness_offset_leaves_the_coefficients_and_flat_frames_have_no_quality(
        session: ort.InferenceSession) -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    pattern = (100 + 60 * np.sin(xx / 6.0) * np.cos(yy / 9.0)).astype(np.uint8)
    frames = np.stack([np.repeat(pattern[..., None], 3, -1),
                       np.repeat((pattern + 40)[..., None], 3, -1),
                       np.full((64, 64, 3), 128, np.uint8)])
    dct, quality = run(session, frames)
    np.testing.assert_allclose(dct[0], dct[1], atol=1e-4)
    assert np.abs(dct[0]).max() > 0.1
    assert quality[2, 0] < 1e-6 and quality[0, 0] > 1.0


def test_fine_noise_has_less_quality_than_structure_of_the_same_contrast(
        session: ort.InferenceSession) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(60, 196, (64, 64), dtype=np.uint8)  # pixel-scale texture
    yy, xx = np.mgrid[0:64, 0:64]
    blob = (60 + 135 * np.exp(-((xx - 20) ** 2 + (yy - 40) ** 2) / 200.0)).astype(np.uint8)
    _, quality = run(session, np.stack([np.repeat(x[..., None], 3, -1) for x in (noise, blob)]))
    assert quality[0, 0] < 0.4 * quality[1, 0]
