"""The CTranslate2 model.bin reader (mediamesh.models.whisper.read_model_bin) on files written
here byte by byte, then on the real Whisper base conversion from the two wheels, and the
graphs `models build` writes from it against their pinned hashes (a changed builder must
come with new hashes, or a stale model.onnx would be taken as up to date)."""
from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from mediamesh.models import whisper, whisper_decoding


def string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def variable(name: str, array: np.ndarray, type_id: int) -> bytes:
    raw = array.tobytes()
    return (string(name) + struct.pack("<B", array.ndim)
            + b"".join(struct.pack("<I", d) for d in array.shape)
            + struct.pack("<BI", type_id, len(raw)) + raw)


def model_bin(variables: list[bytes], aliases: list[tuple[str, str]], version: int = 6,
              ) -> bytes:
    return (struct.pack("<I", version) + string("WhisperSpec") + struct.pack("<II", 3,
                                                                           len(variables))
            + b"".join(variables) + struct.pack("<I", len(aliases))
            + b"".join(string(a) + string(b) for a, b in aliases))


def test_reads_names_shapes_dtypes_and_aliases() -> None:
    weight = np.arange(12, dtype=np.float16).reshape(3, 4) / 8
    bias = np.array([1.5, -2.0, 3.25], np.float32)
    heads = np.array(8, np.int16)
    bf16 = np.array([1.0, -2.5, 0.15625], np.float32)
    data = model_bin([variable("decoder/embeddings/weight", weight, 4),
                      variable("layer/bias", bias, 0), variable("num_heads", heads, 2),
                      variable("activation", np.array(3, np.int8), 1),
                      variable("bf", (bf16.view(np.uint32) >> 16).astype(np.uint16), 5)],
                     [("decoder/projection/weight", "decoder/embeddings/weight")])
    model = whisper.read_model_bin(data)
    assert (model.version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    v = model.variables
    assert v["decoder/embeddings/weight"].dtype == np.float16
    assert np.array_equal(v["decoder/embeddings/weight"], weight)
    assert v["decoder/projection/weight"] is v["decoder/embeddings/weight"]
    assert np.array_equal(v["layer/bias"], bias) and int(v["num_heads"]) == 8
    assert v["num_heads"].shape == () and int(v["activation"]) == 3
    assert np.array_equal(v["bf"], bf16) and model.dtypes["bf"] == "bfloat16"
    assert model.dtypes["decoder/projection/weight"] == "float16"


def test_rejects_what_it_cannot_read() -> None:
    good = model_bin([variable("x", np.zeros(2, np.float32), 0)], [])
    with pytest.raises(ValueError, match="bytes left"):
        whisper.read_model_bin(good + b"\0")
    for cut in (6, 20, len(good) - 3):
        with pytest.raises(ValueError, match="truncated"):
            whisper.read_model_bin(good[:-cut])
    with pytest.raises(ValueError, match="version 2"):
        whisper.read_model_bin(model_bin([], [], version=2))
    with pytest.raises(ValueError, match="dtype id 9"):
        whisper.read_model_bin(model_bin([variable("x", np.zeros(2, np.float32), 9)], []))
    wrong_size = variable("x", np.zeros(2, np.float32), 0).replace(
        struct.pack("<BI", 0, 8), struct.pack("<BI", 0, 4))
    with pytest.raises(ValueError, match="stored in 4 bytes"):
        whisper.read_model_bin(model_bin([wrong_size], []))


def test_the_wheels_model_bin_is_whisper_base_in_fp16() -> None:
    model = whisper.load()  # both wheels, joined and checked by sha256
    v = model.variables
    assert (model.version, model.spec, model.revision) == (6, "WhisperSpec", 3)
    assert len(v) == 213  # 212 stored + the tied output projection
    assert v["decoder/projection/weight"] is v["decoder/embeddings/weight"]
    assert v["decoder/embeddings/weight"].shape == (51865, 512)
    assert v["encoder/conv1/weight"].shape == (512, 80, 3)
    assert v["encoder/position_encodings/encodings"].shape == (1500, 512)
    assert v["decoder/position_encodings/encodings"].shape == (448, 512)
    assert v["decoder/layer_5/attention/linear_1/weight"].shape == (1024, 512)  # cross k, v
    assert int(v["decoder/activation"]) == 3  # GELU
    floats = {model.dtypes[k] for k, a in v.items() if a.ndim > 0}
    assert floats == {"float16"}
    parameters = sum(a.size for k, a in v.items() if a.ndim > 0 and "projection" not in k)
    assert 72e6 < parameters < 73e6  # Whisper base: 72.6 M stored weights


def test_built_graphs_have_their_pinned_hashes() -> None:
    assert hashlib.sha256(whisper.build_encoder()).hexdigest() == whisper.ENCODER_SHA256
    assert hashlib.sha256(whisper_decoding.build_decoder()).hexdigest() == whisper.DECODER_SHA256
