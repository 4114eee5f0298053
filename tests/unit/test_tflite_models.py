"""selfie_segmentation and face_detection: the TFLite files converted to ONNX by
mediamesh.models.tflite_import build, declare the tensors the configs promise, batch, and
behave on a real photo (scikit-image's astronaut.png, public domain: one person, one face).

Building downloads the two source wheels (pip, no dependencies), once per module. Parity
with the TFLite originals needs a TFLite interpreter: tools/check_tflite_parity.py."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image
from skimage import data as skimage_data

from mediamesh.models import face_detection, registry, selfie_segmentation
from mediamesh.models.face_detection import NUM_ANCHORS, SIZE, decode_faces
from mediamesh.models.tflite_import import read_tflite, same_pads

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


def _build(module: object) -> tuple[bytes, bytes, ort.InferenceSession]:
    tflite = module.tflite_bytes()
    graph = module.build_graph(tflite).SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return tflite, graph, ort.InferenceSession(graph, options,
                                               providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def selfie() -> tuple[bytes, bytes, ort.InferenceSession]:
    return _build(selfie_segmentation)


@pytest.fixture(scope="module")
def faces() -> tuple[bytes, bytes, ort.InferenceSession]:
    return _build(face_detection)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    image = skimage_data.astronaut()
    assert image.shape == (512, 512, 3)
    return image


def resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def tensors(graph: bytes) -> dict[str, tuple[int, list[int | str]]]:
    model = onnx.load_from_string(graph)
    out = {}
    for value in [*model.graph.input, *model.graph.output]:
        t = value.type.tensor_type
        out[value.name] = (t.elem_type, [d.dim_param or d.dim_value for d in t.shape.dim])
    return out


# build and interface -----------------------------------------------------------------------


@pytest.mark.parametrize("module", [selfie_segmentation, face_detection])
def test_build_is_deterministic_and_matches_the_registry_hash(module, request) -> None:
    _, graph, _ = request.getfixturevalue("selfie" if module is selfie_segmentation
                                          else "faces")
    # `models build` skips the download when model.onnx has this hash: it must be current
    assert hashlib.sha256(graph).hexdigest() == module.ONNX_SHA256
    spec = registry.find(module.__name__.rsplit(".", 1)[1])
    assert spec.sha256 == module.ONNX_SHA256 and spec.licence == "Apache-2.0"


def test_importer_knows_every_op_of_both_models(selfie, faces) -> None:
    for tflite, expected in ((selfie[0], {"Convolution2DTransposeBias", "HARD_SWISH", "MEAN"}),
                             (faces[0], {"PAD", "MAX_POOL_2D", "RESHAPE"})):
        ops = {op.op for op in read_tflite(tflite).operators}
        assert expected <= ops
        assert not any(op.startswith("#") for op in ops)


def test_selfie_tensors(selfie) -> None:
    assert tensors(selfie[1]) == {"image": (onnx.TensorProto.UINT8, ["N", 144, 256, 3]),
                                  "mask": (onnx.TensorProto.FLOAT, ["N", 144, 256, 1])}


def test_face_tensors(faces) -> None:
    assert tensors(faces[1]) == {
        "image": (onnx.TensorProto.UINT8, ["N", SIZE, SIZE, 3]),
        "regressors": (onnx.TensorProto.FLOAT, ["N", NUM_ANCHORS, 16]),
        "scores": (onnx.TensorProto.FLOAT, ["N", NUM_ANCHORS, 1])}
    assert NUM_ANCHORS == 2304


@pytest.mark.parametrize("name, dims", [
    ("selfie_segmentation", ["dims: [ 144, 256, 3 ]", "dims: [ 144, 256, 1 ]"]),
    ("face_detection", ["dims: [ 192, 192, 3 ]", "dims: [ 2304, 16 ]", "dims: [ 2304, 1 ]"]),
])
def test_configs_match_the_graph(name: str, dims: list[str]) -> None:
    for config in ("config.pbtxt", "configs/cpu.pbtxt"):
        text = (REPOSITORY / name / config).read_text()
        assert f'name: "{name}"' in text and "dynamic_batching" in text
        for dim in dims:
            assert dim in text
    assert 'backend: "onnxrunner"' in (REPOSITORY / name / "configs/cpu.pbtxt").read_text()
    assert (REPOSITORY / name / "MODEL_CARD.md").is_file()


def test_batches_equal_single_frames(selfie, faces) -> None:
    rng = np.random.default_rng(1)
    for session, shape in ((selfie[2], (144, 256, 3)), (faces[2], (SIZE, SIZE, 3))):
        batch = rng.integers(0, 256, (3, *shape), dtype=np.uint8)
        together = session.run(None, {"image": batch})
        for i in range(3):
            alone = session.run(None, {"image": batch[i:i + 1]})
            for a, b in zip(together, alone):
                np.testing.assert_allclose(a[i:i + 1], b, atol=1e-4)


# segmentation -----------------------------------------------------------------------------


def test_mask_covers_the_person_not_the_corners(selfie, astronaut) -> None:
    frame = resized(astronaut, 256, 144)[None]
    (mask,) = selfie[2].run(None, {"image": frame})
    m = mask[0, :, :, 0]
    assert m.dtype == np.float32 and 0.0 <= m.min() and m.max() <= 1.0

    def region(x0: float, x1: float, y0: float, y1: float) -> float:
        return float(m[int(y0 * 144):int(y1 * 144), int(x0 * 256):int(x1 * 256)].mean())

    assert region(0.36, 0.52, 0.15, 0.33) > 0.9  # face
    assert region(0.10, 0.50, 0.60, 0.90) > 0.9  # suit
    assert region(0.0, 0.15, 0.0, 0.15) < 0.05  # flag corner
    assert region(0.85, 1.0, 0.0, 0.15) < 0.05  # wall corner


def test_blank_frame_has_no_person(selfie) -> None:
    (mask,) = selfie[2].run(None, {"image": np.full((1, 144, 256, 3), 128, np.uint8)})
    assert mask.mean() < 0.05


# face detection ---------------------------------------------------------------------------


def detect(session: ort.InferenceSession, frame: np.ndarray, **kwargs) -> list:
    regressors, scores = session.run(None, {"image": frame[None]})
    return decode_faces(regressors[0], scores[0], **kwargs)


def test_astronaut_has_one_face_around_her_face(faces, astronaut) -> None:
    found = detect(faces[2], resized(astronaut, SIZE, SIZE))
    assert len(found) == 1
    (xmin, ymin, xmax, ymax), score, keypoints = found[0]
    assert score > 0.8
    # her face spans about x 0.34-0.55, y 0.13-0.34 of the photo (eyebrows to chin)
    assert 0.30 < xmin < 0.38 and 0.50 < xmax < 0.58
    assert 0.09 < ymin < 0.18 and 0.30 < ymax < 0.38
    assert keypoints.shape == (6, 2)
    eyes, nose, mouth = keypoints[:2], keypoints[2], keypoints[3]
    assert np.all((keypoints[:4] > [xmin, ymin]) & (keypoints[:4] < [xmax, ymax]))
    assert eyes[:, 1].max() < nose[1] < mouth[1]  # eyes above the nose above the mouth
    assert eyes[0, 0] < nose[0] < eyes[1, 0]  # keypoint 0 is on the image's left


def test_blank_and_noise_frames_have_no_face(faces) -> None:
    assert detect(faces[2], np.full((SIZE, SIZE, 3), 128, np.uint8)) == []
    assert detect(faces[2], np.zeros((SIZE, SIZE, 3), np.uint8)) == []


def test_letterbox_padding_maps_back_to_the_frame(faces, astronaut) -> None:
    """The photo centred in a wide frame, letterboxed: the face comes back in the frame's
    coordinates."""
    wide = np.zeros((512, 1024, 3), np.uint8)
    wide[:, 256:768] = astronaut
    padding = face_detection.letterbox_padding(1024, 512)
    assert padding == (0.0, 0.25, 0.0, 0.25)
    square = np.zeros((SIZE, SIZE, 3), np.uint8)
    square[SIZE // 4:SIZE * 3 // 4] = resized(wide, SIZE, SIZE // 2)
    (found,) = detect(faces[2], square, padding=padding)
    xmin, ymin, xmax, ymax = found.box
    # astronaut's face at x 0.34-0.55 of 512 px, shifted by 256 px in 1024
    assert 0.25 + 0.30 / 2 < xmin < 0.25 + 0.38 / 2 and 0.25 + 0.50 / 2 < xmax < 0.25 + 0.58 / 2
    assert 0.05 < ymin < 0.2 and 0.28 < ymax < 0.42


def _one_hot_anchor(regressors: np.ndarray, scores: np.ndarray, anchor: int, w: float,
                    score: float, dx: float = 0.0) -> None:
    regressors[anchor, 0] = dx
    regressors[anchor, 2:4] = w
    scores[anchor] = score


def test_decode_merges_overlaps_weighted_and_keeps_separate_faces() -> None:
    regressors = np.zeros((NUM_ANCHORS, 16), np.float32)
    scores = np.zeros(NUM_ANCHORS, np.float32)
    centre = 24 * 48 + 24  # anchor at (24.5 / 48, 24.5 / 48)
    _one_hot_anchor(regressors, scores, centre, 40.0, 0.9)
    _one_hot_anchor(regressors, scores, centre + 1, 40.0, 0.6, dx=-4.0)  # same box, 0 px off
    _one_hot_anchor(regressors, scores, 5 * 48 + 5, 20.0, 0.7)  # far away
    _one_hot_anchor(regressors, scores, 40 * 48 + 5, 20.0, 0.3)  # below the threshold
    found = decode_faces(regressors, scores)
    assert [round(f.score, 3) for f in found] == [0.9, 0.7]
    cx = (24.5 / 48 * 0.9 + (25.5 / 48 - 4 / 192) * 0.6) / 1.5
    xmin, ymin, xmax, ymax = found[0].box
    assert (xmin + xmax) / 2 == pytest.approx(cx, abs=1e-6)
    assert xmax - xmin == pytest.approx(40 / 192, abs=1e-6)
    assert (ymin + ymax) / 2 == pytest.approx(24.5 / 48, abs=1e-6)
    assert found[1].box[0] == pytest.approx(5.5 / 48 - 10 / 192, abs=1e-6)
    assert decode_faces(regressors, scores, max_faces=1)[0].score == found[0].score
    assert decode_faces(regressors, scores, min_score=0.95) == []


def test_anchors_are_the_48x48_grid_row_by_row() -> None:
    anchors = face_detection.anchors()
    assert anchors.shape == (NUM_ANCHORS, 2)
    np.testing.assert_allclose(anchors[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(anchors[1], [1.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(anchors[48], [0.5 / 48, 1.5 / 48])


def test_same_padding_puts_the_odd_pixel_last() -> None:
    assert same_pads(192, 3, 2) == (0, 1)
    assert same_pads(192, 3, 1) == (1, 1)
    assert same_pads(192, 5, 1) == (2, 2)
    assert same_pads(96, 2, 2) == (0, 0)
    assert same_pads(7, 3, 1, dilation=2) == (2, 2)
