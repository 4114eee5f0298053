"""green_keyer: the ONNX graph equals its numpy definition; the registry builds it once."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediamesh.models import green_keyer, registry
from mediamesh.models.green_keyer import apply_despill, build_graph, key_params, key_reference

GREEN = (0.0, 1.0, 0.0)
BLUE = (0.0, 0.0, 1.0)
SOURCE_REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(build_graph().SerializeToString(),
                                providers=["CPUExecutionProvider"])


def run(session: ort.InferenceSession, image: np.ndarray,
        params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """alpha and the foreground rebuilt from the graph's despilled key plane."""
    alpha, key = session.run(["alpha", "despilled_key"], {"image": image, "params": params})
    assert key.shape == alpha.shape and key.dtype == np.uint8
    channels = params[:, :3].argmax(axis=1)
    foreground = np.stack([apply_despill(f, k, int(c))
                           for f, k, c in zip(image, key, channels, strict=True)])
    return alpha, foreground


def assert_matches_reference(session: ort.InferenceSession, image: np.ndarray,
                             params: np.ndarray) -> None:
    alpha, fg = run(session, image, params)
    ref_alpha, ref_fg = key_reference(image, params)
    n, h, w, _ = image.shape
    assert alpha.shape == (n, h, w, 1) and alpha.dtype == np.uint8
    assert fg.shape == (n, h, w, 3) and fg.dtype == np.uint8
    assert ref_alpha.shape == alpha.shape and ref_fg.shape == fg.shape
    assert np.abs(alpha.astype(np.int16) - ref_alpha).max() == 0
    assert np.abs(fg.astype(np.int16) - ref_fg).max() == 0


def test_graph_is_valid_and_declares_its_tensors() -> None:
    model = build_graph()
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["image", "params"]
    assert [o.name for o in model.graph.output] == ["alpha", "despilled_key"]
    assert model.opset_import[0].version == green_keyer.OPSET
    assert model.ir_version == 8


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 7, 13), (3, 32, 48), (1, 90, 160)])
def test_graph_equals_reference_on_fixed_batches(session: ort.InferenceSession,
                                                 shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    n, h, w = shape
    image = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    params = np.stack([key_params(GREEN if i % 2 == 0 else BLUE, 10.0 + i, 90.0 + 7 * i,
                                  i / max(n, 2)) for i in range(n)])
    assert_matches_reference(session, image, params)


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 4))
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    rows = []
    for _ in range(n):
        key = draw(st.sampled_from([GREEN, BLUE]))
        low = draw(st.floats(0.0, 250.0))
        high = low + draw(st.floats(0.5, 255.0 - low))
        spill = draw(st.floats(0.0, 1.0))
        rows.append(key_params(key, low, high, spill))
    return image, np.stack(rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches())
def test_graph_equals_reference_on_random_batches(session: ort.InferenceSession,
                                                  batch: tuple[np.ndarray, np.ndarray]) -> None:
    assert_matches_reference(session, *batch)


def test_green_screen_is_transparent_and_skin_is_opaque(session: ort.InferenceSession) -> None:
    image = np.array([[[[40, 200, 40], [200, 150, 130]]]], dtype=np.uint8)
    params = key_params(GREEN, 20.0, 100.0, 0.0)[None]
    alpha, fg = run(session, image, params)
    assert alpha[0, 0, 0, 0] == 0
    assert alpha[0, 0, 1, 0] == 255
    ref_alpha, _ = key_reference(image, params)
    assert ref_alpha[0, 0, 0, 0] == 0 and ref_alpha[0, 0, 1, 0] == 255


def test_alpha_ramps_linearly_between_thresholds(session: ort.InferenceSession) -> None:
    # green excess d = g - max(r, b): 20 (low), 60 (midway), 100 (high)
    image = np.array([[[[50, 70, 50], [50, 110, 50], [50, 150, 50]]]], dtype=np.uint8)
    alpha, _ = run(session, image, key_params(GREEN, 20.0, 100.0, 0.0)[None])
    assert alpha[0, 0, :, 0].tolist() == [255, 128, 0]  # 127.5 rounds half to even -> 128


def test_blue_key_keys_a_blue_screen(session: ort.InferenceSession) -> None:
    image = np.array([[[[30, 40, 210], [40, 200, 40], [200, 150, 130]]]], dtype=np.uint8)
    alpha_blue, _ = run(session, image, key_params(BLUE, 20.0, 100.0, 0.0)[None])
    assert alpha_blue[0, 0, :, 0].tolist() == [0, 255, 255]  # only the blue pixel is screen
    alpha_green, _ = run(session, image, key_params(GREEN, 20.0, 100.0, 0.0)[None])
    assert alpha_green[0, 0, :, 0].tolist() == [255, 0, 255]


def test_zero_spill_leaves_foreground_unchanged(session: ort.InferenceSession) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    params = np.stack([key_params(GREEN, 20.0, 100.0, 0.0), key_params(BLUE, 5.0, 50.0, 0.0)])
    _, fg = run(session, image, params)
    assert np.array_equal(fg, image)


def test_full_spill_pulls_key_channel_down_to_the_others(session: ort.InferenceSession) -> None:
    image = np.array([[[[120, 180, 90], [200, 150, 130], [10, 30, 250]]]], dtype=np.uint8)
    _, fg = run(session, image, key_params(GREEN, 20.0, 100.0, 1.0)[None])
    assert fg[0, 0, 0].tolist() == [120, 120, 90]  # green 180 -> max(120, 90)
    assert fg[0, 0, 1].tolist() == [200, 150, 130]  # not greenish: untouched
    assert fg[0, 0, 2].tolist() == [10, 30, 250]  # blue dominance is not green spill
    _, fg_half = run(session, image, key_params(GREEN, 20.0, 100.0, 0.5)[None])
    assert fg_half[0, 0, 0].tolist() == [120, 150, 90]  # halfway: 180 - 0.5 * 60


@pytest.mark.parametrize(("low", "high"), [(50.0, 50.0), (80.0, 20.0)])
def test_key_params_refuses_high_not_above_low(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="threshold_high"):
        key_params(GREEN, low, high, 0.5)


def test_key_params_row_layout() -> None:
    row = key_params(BLUE, 12.0, 34.0, 0.25)
    assert row.dtype == np.float32
    assert row.tolist() == [0.0, 0.0, 1.0, 12.0, 34.0, 0.25]


# registry -------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "model_repository"
    shutil.copytree(SOURCE_REPOSITORY, target, ignore=shutil.ignore_patterns("*.onnx"))
    return target


def test_registry_builds_missing_model_then_skips(repo: Path) -> None:
    onnx_file = repo / "green_keyer" / "1" / "model.onnx"
    assert not onnx_file.exists()
    assert registry.missing(repo) == [s.name for s in registry.MODELS]

    first, *_ = registry.build(repo)
    assert first.name == "green_keyer"
    assert first.path == onnx_file
    assert first.skipped is False
    assert onnx_file.is_file()
    assert first.size_bytes == onnx_file.stat().st_size > 0
    assert registry.missing(repo) == []
    loaded = onnx.load(str(onnx_file))
    assert [o.name for o in loaded.graph.output] == ["alpha", "despilled_key"]
    assert not list(onnx_file.parent.glob("*.tmp"))

    second, *_ = registry.build(repo)
    assert second.skipped is True
    assert second.sha256 == first.sha256

    (forced,) = registry.build(repo, ["green_keyer"], force=True)
    assert forced.skipped is False
    assert forced.sha256 == first.sha256  # the graph is deterministic


def test_registry_refuses_repository_without_config(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.pbtxt"):
        registry.build(tmp_path)


def test_unknown_model_names_the_known_ones(repo: Path) -> None:
    with pytest.raises(KeyError, match="green_keyer") as info:
        registry.build(repo, ["no_such_model"])
    assert "no_such_model" in str(info.value)
    with pytest.raises(KeyError, match="known models"):
        registry.find("nope")


def test_registry_replaces_a_stale_model_file(repo: Path) -> None:
    onnx_file = repo / "green_keyer" / "1" / "model.onnx"
    (fresh,) = registry.build(repo, ["green_keyer"])
    onnx_file.write_bytes(b"an older export")
    (again,) = registry.build(repo, ["green_keyer"])
    assert again.skipped is False and again.sha256 == fresh.sha256
    assert onnx.load(str(onnx_file)).graph.output[0].name == "alpha"
