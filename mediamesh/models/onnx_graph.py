"""Small builders shared by the ONNX graphs mediamesh writes in code (constants, the model
wrapper), so every graph comes out with the same opset, IR version and checks."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = 17
IR_VERSION = 8  # readable by the onnxruntime in Triton 2.51 images


def const(name: str, values: np.ndarray | list[float] | list[int], dtype: int,
          shape: list[int] | None = None) -> onnx.NodeProto:
    """A Constant node; `shape` defaults to the flat length of `values`."""
    flat = np.asarray(values).ravel().tolist()
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_value", dtype, shape if shape is not None else [len(flat)], flat))


def scalar(name: str, value: float) -> onnx.NodeProto:
    """A float32 scalar Constant node."""
    return const(name, [value], TensorProto.FLOAT, [])


def finish(graph: onnx.GraphProto, doc: str | None) -> onnx.ModelProto:
    """The model around `graph`, checked in full (shapes and types) before it is returned."""
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mediamesh", doc_string=doc or "")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model
