"""Check the ONNX graphs converted by mediamesh.models.tflite_import against their TFLite
originals: both run on the same inputs (random frames, and a real photo) and the largest
absolute difference of every output is printed, with the ms per frame of each runtime on
one thread.

A check tool only, never a dependency of the mesh: it needs a TFLite interpreter,
    .venv/bin/python -m pip install ai-edge-litert     (or tflite-runtime)
and takes the photo from scikit-image (`skimage.data.astronaut()`, public domain) when it
is installed, else draws one. Downloads the two source wheels, as `models build` does.

    .venv/bin/python tools/check_tflite_parity.py [--runs 30]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
from PIL import Image

from mediamesh.models import face_detection, selfie_segmentation


def interpreter_class() -> type | None:
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter
        return Interpreter
    except ImportError:
        return None


def photo() -> tuple[str, np.ndarray]:
    try:
        from skimage import data
        return "astronaut.png", data.astronaut()
    except ImportError:
        y, x = np.mgrid[0:512, 0:512] / 512.0
        image = np.stack([x, y, 1 - x * y], axis=-1)
        disc = (x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.04
        image[disc] = (0.9, 0.7, 0.6)
        return "generated", (image * 255).astype(np.uint8)


def resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def timed(run: Callable[[], object], runs: int) -> float:
    run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def check(name: str, tflite: bytes, graph: bytes, frames: dict[str, np.ndarray],
          to_tflite: Callable[[np.ndarray], np.ndarray],
          outputs: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]],
          interpreter: type, runs: int) -> None:
    """`outputs`: ONNX output -> (TFLite output, what the graph does to it after the model)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    tfl = interpreter(model_content=tflite, num_threads=1)
    tfl.allocate_tensors()
    (tfl_in,) = tfl.get_input_details()
    tfl_out = {d["name"]: d["index"] for d in tfl.get_output_details()}
    onnx_names = [o.name for o in session.get_outputs()]

    def run_tflite(frame: np.ndarray) -> dict[str, np.ndarray]:
        tfl.set_tensor(tfl_in["index"], to_tflite(frame[None]))
        tfl.invoke()
        return {k: tfl.get_tensor(i).copy() for k, i in tfl_out.items()}

    print(f"{name}: {len(tflite)} B tflite -> {len(graph)} B onnx")
    for label, batch in frames.items():
        got = dict(zip(onnx_names, session.run(None, {"image": batch})))
        worst = {o: 0.0 for o in outputs}
        for i, frame in enumerate(batch):
            want = run_tflite(frame)
            for onnx_name, (tfl_name, post) in outputs.items():
                diff = np.abs(got[onnx_name][i] - post(want[tfl_name][0])).max()
                worst[onnx_name] = max(worst[onnx_name], float(diff))
        text = ", ".join(f"{o} {d:.2e}" for o, d in worst.items())
        print(f"  {label:<22} max abs diff: {text}")
    one = frames["photo"][:1]
    ms_onnx = timed(lambda: session.run(None, {"image": one}), runs)
    batch8 = np.repeat(one, 8, axis=0)
    ms_onnx8 = timed(lambda: session.run(None, {"image": batch8}), max(runs // 4, 3)) / 8
    ms_tflite = timed(lambda: run_tflite(one[0]), runs)
    print(f"  ms per frame, 1 thread: onnxruntime {ms_onnx:.1f} (batch 1), {ms_onnx8:.1f} "
          f"(batch 8); tflite {ms_tflite:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    interpreter = interpreter_class()
    if interpreter is None:
        print("no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime)",
              file=sys.stderr)
        return 2
    rng = np.random.default_rng(0)
    label, image = photo()

    tflite = selfie_segmentation.tflite_bytes()
    h, w = selfie_segmentation.HEIGHT, selfie_segmentation.WIDTH
    check("selfie_segmentation", tflite, selfie_segmentation.build_graph(tflite)
          .SerializeToString(),
          {"random (4 frames)": rng.integers(0, 256, (4, h, w, 3), dtype=np.uint8),
           "photo": resized(image, w, h)[None]},
          selfie_segmentation.reference_input,
          {"mask": (selfie_segmentation.TFLITE_OUTPUT, lambda x: x)}, interpreter, args.runs)

    tflite = face_detection.tflite_bytes()
    size = face_detection.SIZE
    check("face_detection", tflite, face_detection.build_graph(tflite).SerializeToString(),
          {"random (4 frames)": rng.integers(0, 256, (4, size, size, 3), dtype=np.uint8),
           "photo": resized(image, size, size)[None]},
          face_detection.reference_input,
          {"regressors": (face_detection.TFLITE_REGRESSORS, lambda x: x),
           "scores": (face_detection.TFLITE_SCORES, lambda x: 1 / (1 + np.exp(-x)))},
          interpreter, args.runs)
    print(f"(photo: {label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
