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
from mediamesh.models.green_keyer import build_graph, key_params, key_reference, upsample2

SOURCE_REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
GREEN_UV = (-74.0, -94.0)  # pure green's chroma offset, roughly
BLUE_UV = (112.0, -18.0)
OUTPUTS = ["alpha", "alpha_chroma", "despilled_chroma"]


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    return ort.InferenceSession(build_graph().SerializeToString(),
                                providers=["CPUExecutionProvider"])


def run(session: ort.InferenceSession, chroma: np.ndarray,
        params: np.ndarray) -> list[np.ndarray]:
    return session.run(OUTPUTS, {"chroma": chroma, "params": params})


def assert_matches_reference(session: ort.InferenceSession, chroma: np.ndarray,
                             params: np.ndarray) -> None:
    """Equal to the numpy definition, to one 8-bit level where float rounding differs."""
    n, _, h, w = chroma.shape
    got, want = run(session, chroma, params), key_reference(chroma, params)
    shapes = [(n, 1, 2 * h, 2 * w), (n, 1, h, w), (n, 2, h, w)]
    for out, ref, shape in zip(got, want, shapes, strict=True):
        assert out.shape == ref.shape == shape and out.dtype == ref.dtype == np.uint8
        diff = np.abs(out.astype(np.int16) - ref)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_graph_is_valid_and_declares_its_tensors() -> None:
    model = build_graph()
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["chroma", "params"]
    assert [o.name for o in model.graph.output] == OUTPUTS
    assert model.opset_import[0].version == green_keyer.OPSET
    assert model.ir_version == 8


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 7, 13), (3, 32, 48), (1, 90, 160)])
def test_graph_equals_reference_on_fixed_batches(session: ort.InferenceSession,
                                                 shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    n, h, w = shape
    chroma = rng.integers(0, 256, (n, 2, h, w), dtype=np.uint8)
    params = np.stack([key_params(GREEN_UV if i % 2 == 0 else BLUE_UV, 5.0 + i, 50.0 + 7 * i,
                                  i / max(n, 2)) for i in range(n)])
    assert_matches_reference(session, chroma, params)


@st.composite
def batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 4))
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    chroma = rng.integers(0, 256, (n, 2, h, w), dtype=np.uint8)
    rows = []
    for _ in range(n):
        angle = draw(st.floats(0.0, 2 * np.pi))
        low = draw(st.floats(0.0, 200.0))
        high = low + draw(st.floats(0.5, 255.0 - low))
        spill = draw(st.floats(0.0, 1.0))
        rows.append(key_params((60 * np.cos(angle), 60 * np.sin(angle)), low, high, spill))
    return chroma, np.stack(rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches())
def test_graph_equals_reference_on_random_batches(session: ort.InferenceSession,
                                                  batch: tuple[np.ndarray, np.ndarray]) -> None:
    assert_matches_reference(session, *batch)


def uniform(u: float, v: float, h: int = 4, w: int = 4) -> np.ndarray:
    """A (1, 2, h, w) chroma stack of one colour, given as offsets from grey."""
    chroma = np.empty((1, 2, h, w), np.uint8)
    chroma[0, 0], chroma[0, 1] = 128 + u, 128 + v
    return chroma


def test_screen_is_transparent_and_skin_is_opaque(session: ort.InferenceSession) -> None:
    params = key_params((-30.0, -50.0), 6.0, 46.0, 0.0)[None]
    screen = run(session, uniform(-30, -50), params)
    assert (screen[0] == 0).all() and (screen[1] == 0).all()
    skin = run(session, uniform(-4, 20), params)  # (200, 150, 130) in RGB, roughly
    assert (skin[0] == 255).all() and (skin[1] == 255).all()


def test_alpha_ramps_linearly_with_the_screens_share(session: ort.InferenceSession) -> None:
    # along the key direction with no hue error, d = |c|: 10 (low), 30 (midway), 50 (high)
    params = key_params((30.0, 40.0), 10.0, 50.0, 0.0)[None]
    alphas = [int(run(session, uniform(6 * k, 8 * k), params)[0][0, 0, 2, 2])
              for k in (1, 3, 5)]
    assert alphas == [255, 128, 0]  # 127.5 rounds half to even -> 128


def test_hue_error_keeps_an_off_hue_colour_opaque(session: ort.InferenceSession) -> None:
    # as much of the key direction as the screen, but as far again off its hue
    params = key_params((50.0, 0.0), 5.0, 40.0, 0.0)[None]
    assert (run(session, uniform(50, 0), params)[0] == 0).all()
    off_hue = run(session, uniform(50, 100), params)[0]
    assert (off_hue > 0).all()  # d = 50 - 0.25 * 100 = 25: partly opaque
    assert int(off_hue[0, 0, 0, 0]) == round(255 * (1 - (25 - 5) / 35))


def test_the_edge_lands_between_the_chroma_samples(session: ort.InferenceSession) -> None:
    chroma = uniform(-30, -50, 2, 4)  # screen on the left half, skin on the right
    chroma[0, 0, :, 2:], chroma[0, 1, :, 2:] = 128 - 4, 128 + 20
    alpha = run(session, chroma, key_params((-30.0, -50.0), 6.0, 46.0, 0.0)[None])[0]
    row = alpha[0, 0, 0].tolist()
    assert row[:3] == [0, 0, 0] and row[-3:] == [255, 255, 255]  # 8 luma columns
    assert row == sorted(row) and 0 < row[3] < 255  # a soft step, just left of the boundary


def test_zero_spill_leaves_chroma_unchanged(session: ort.InferenceSession) -> None:
    chroma = np.random.default_rng(7).integers(0, 256, (2, 2, 16, 16), dtype=np.uint8)
    params = np.stack([key_params(GREEN_UV, 5.0, 50.0, 0.0), key_params(BLUE_UV, 5.0, 50.0, 0.0)])
    assert np.array_equal(run(session, chroma, params)[2], chroma)


def test_full_spill_removes_the_key_direction_only(session: ort.InferenceSession) -> None:
    params = key_params((40.0, 0.0), 5.0, 40.0, 1.0)[None]
    spilled = run(session, uniform(20, 30), params)[2]  # 20 along the key, 30 across it
    assert spilled[0, :, 0, 0].tolist() == [128, 158]
    away = run(session, uniform(-20, 30), params)[2]  # pointing away from the key: kept
    assert away[0, :, 0, 0].tolist() == [108, 158]
    half = run(session, uniform(20, 30), key_params((40.0, 0.0), 5.0, 40.0, 0.5)[None])[2]
    assert half[0, :, 0, 0].tolist() == [138, 158]


@pytest.mark.parametrize(("low", "high"), [(50.0, 50.0), (80.0, 20.0)])
def test_key_params_refuses_high_not_above_low(low: float, high: float) -> None:
    with pytest.raises(ValueError, match="threshold_high"):
        key_params(GREEN_UV, low, high, 0.5)


def test_key_params_refuses_a_grey_key() -> None:
    with pytest.raises(ValueError, match="grey"):
        key_params((0.0, 0.0), 5.0, 40.0, 0.5)


def test_key_params_row_layout() -> None:
    row = key_params(BLUE_UV, 12.0, 34.0, 0.25)
    assert row.dtype == np.float32
    assert row.tolist() == [112.0, -18.0, 12.0, 34.0, 0.25]


def test_upsample2_matches_a_bilinear_resize_with_centred_samples() -> None:
    plane = np.array([[0.0, 4.0], [8.0, 12.0]], np.float32)
    up = upsample2(plane)
    assert up.shape == (4, 4)
    assert up[0].tolist() == [0.0, 1.0, 3.0, 4.0]  # edges clamp, quarter steps inside
    assert up[:, 0].tolist() == [0.0, 2.0, 6.0, 8.0]


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
    assert [o.name for o in loaded.graph.output] == OUTPUTS
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
