"""RawTensor <-> numpy conversion used by DiagnosticsService.ProbeModel."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh.diagnostics import numpy_to_tensor, tensor_to_numpy
from mediamesh.errors import InvalidArgument, StatusCode
from mediamesh.v1 import diagnostics_pb2

RNG = np.random.default_rng(3)


@pytest.mark.parametrize(("array", "datatype"), [
    (RNG.integers(0, 256, (2, 4, 5, 3), dtype=np.uint8), "UINT8"),
    (RNG.standard_normal((3, 6)).astype(np.float32), "FP32"),
    (RNG.integers(-2**62, 2**62, (7,), dtype=np.int64), "INT64"),
    (np.zeros((0, 6), np.float32), "FP32"),
    (np.array(np.float32(1.5)), "FP32"),  # a scalar: shape ()
])
def test_round_trip(array: np.ndarray, datatype: str) -> None:
    tensor = numpy_to_tensor("image", array)
    assert tensor.name == "image"
    assert tensor.datatype == datatype
    assert list(tensor.shape) == list(array.shape)
    assert len(tensor.data) == array.nbytes
    back = tensor_to_numpy(diagnostics_pb2.RawTensor.FromString(tensor.SerializeToString()))
    assert back.dtype == array.dtype
    assert back.shape == array.shape
    assert np.array_equal(back, array)


def test_non_contiguous_array_round_trips() -> None:
    array = np.arange(24, dtype=np.int64).reshape(4, 6)[:, ::2]
    assert np.array_equal(tensor_to_numpy(numpy_to_tensor("x", array)), array)


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_byte_count_names_the_tensor(delta: int) -> None:
    tensor = numpy_to_tensor("params", np.zeros((2, 6), np.float32))
    tensor.data = tensor.data[:delta] if delta < 0 else tensor.data + b"\x00"
    with pytest.raises(InvalidArgument) as info:
        tensor_to_numpy(tensor)
    assert "params" in info.value.message
    assert "48" in info.value.message  # the bytes the shape needs
    assert info.value.field_name == "inputs.data"
    assert info.value.code is StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("datatype", ["BYTES", "NOPE", ""])
def test_non_numeric_datatypes_are_refused(datatype: str) -> None:
    tensor = diagnostics_pb2.RawTensor(name="text_in", datatype=datatype, shape=[1], data=b"abcd")
    with pytest.raises(InvalidArgument) as info:
        tensor_to_numpy(tensor)
    assert "text_in" in info.value.message
    assert info.value.field_name == "inputs.datatype"
