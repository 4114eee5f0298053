"""MediaPipe selfie segmentation, landscape (Apache-2.0): a person mask per frame, converted
from the TFLite file in the mediapipe 0.10.21 wheel to ONNX at build time.

mediapipe itself is never installed: `pip download --no-deps` fetches the wheel (the last
one that ships its models; it pins numpy<2, protobuf<5 and jax), the .tflite is taken out
of it, checked by sha256 and converted by `mediamesh.models.tflite_import` (no TensorFlow).
The wheel is binary, so the download is pinned to one platform's wheel: every machine
converts the same file.

MediaPipe feeds the model RGB scaled to 0..1 (ImageToTensorCalculator, float range 0..1,
no aspect kept) and reads its single output channel as the person probability (the model
ends in a sigmoid; TensorsToSegmentationCalculator applies no activation). The graph does
the scaling, so frames travel as bytes:
  image  UINT8 [N, 144, 256, 3]  RGB frames resized (stretched) to 256x144
  mask   FP32  [N, 144, 256, 1]  person probability 0..1 per pixel
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from mediamesh.models import onnx_graph
from mediamesh.models.tflite_import import import_subgraph, read_tflite
from mediamesh.models.wheels import wheel_member

VERSION = "0.10.21"
MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite"
SHA256 = "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"
# the wheel the file is taken from (any platform's carries the same file; one is pinned)
PLATFORM = ("manylinux_2_28_x86_64", "3.11", "cp", "cp311")
# sha256 of the converted model.onnx: equal = up to date, `models build` needs no download.
# Changes with the importer; tests/unit/test_tflite_models.py checks it.
ONNX_SHA256 = "8975dd884458da747e1be4a0a055e69901eddcd29f2288be97dfc06a366dcd0f"
HEIGHT, WIDTH = 144, 256
TFLITE_INPUT, TFLITE_OUTPUT = "input_1", "segment_back"
# the model's doc string (not __doc__: editing this module's prose must not change the hash)
DOC = (f"MediaPipe selfie segmentation landscape (Apache-2.0), {MEMBER} from the mediapipe "
       f"{VERSION} wheel, converted by mediamesh.models.tflite_import. "
       "image UINT8 [N,144,256,3] RGB -> mask FP32 [N,144,256,1] person probability")


def tflite_bytes() -> bytes:
    """The original .tflite, out of the mediapipe wheel."""
    return wheel_member(f"mediapipe=={VERSION}", MEMBER, SHA256, PLATFORM)


def build_graph(tflite: bytes | None = None) -> onnx.ModelProto:
    imported = import_subgraph(read_tflite(tflite or tflite_bytes()),
                               {TFLITE_INPUT: "pixels"})
    nodes = [
        helper.make_node("Cast", ["image"], ["image_f"], to=TensorProto.FLOAT),
        onnx_graph.scalar("u8max", 255.0),
        helper.make_node("Div", ["image_f", "u8max"], ["pixels"]),
        *imported.nodes,
        helper.make_node("Identity", [imported.outputs[TFLITE_OUTPUT]], ["mask"]),
    ]
    graph = helper.make_graph(
        nodes, "selfie_segmentation",
        inputs=[helper.make_tensor_value_info("image", TensorProto.UINT8,
                                              ["N", HEIGHT, WIDTH, 3])],
        outputs=[helper.make_tensor_value_info("mask", TensorProto.FLOAT,
                                               ["N", HEIGHT, WIDTH, 1])],
        initializer=imported.initializers)
    return onnx_graph.finish(graph, DOC)


def build() -> bytes:
    return build_graph().SerializeToString()


def reference_input(image: np.ndarray) -> np.ndarray:
    """What the TFLite original is fed for `image` (UINT8 [N, 144, 256, 3])."""
    return image.astype(np.float32) / np.float32(255.0)
