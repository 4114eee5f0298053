"""DiagnosticsService: every service process can probe a Triton model through its own client.

Why: "can this service reach Triton, and at what cost?" is the first question when a
deployment misbehaves; it is also what bench/triton_overhead.py measures.
"""
from __future__ import annotations

import time

import grpc
import numpy as np
from tritonclient.utils import np_to_triton_dtype, triton_to_np_dtype

from mediamesh.errors import InvalidArgument
from mediamesh.grpc_server import ServiceBinding
from mediamesh.inference import TritonClient
from mediamesh.v1 import diagnostics_pb2, diagnostics_pb2_grpc


def tensor_to_numpy(tensor: diagnostics_pb2.RawTensor) -> np.ndarray:
    dtype = triton_to_np_dtype(tensor.datatype)
    if dtype is None or tensor.datatype == "BYTES":
        raise InvalidArgument(f"inputs['{tensor.name}'].datatype '{tensor.datatype}' is not a "
                              "numeric Triton datatype", field_name="inputs.datatype")
    shape = tuple(int(d) for d in tensor.shape)
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if len(tensor.data) != expected:
        raise InvalidArgument(f"inputs['{tensor.name}'] has {len(tensor.data)} bytes but shape "
                              f"{list(shape)} of {tensor.datatype} needs {expected}",
                              field_name="inputs.data")
    return np.frombuffer(tensor.data, dtype=dtype).reshape(shape)


def numpy_to_tensor(name: str, array: np.ndarray) -> diagnostics_pb2.RawTensor:
    return diagnostics_pb2.RawTensor(name=name, datatype=np_to_triton_dtype(array.dtype),
                                     shape=list(array.shape), data=array.tobytes())


class DiagnosticsServicer(diagnostics_pb2_grpc.DiagnosticsServiceServicer):
    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def ProbeModel(self, request: diagnostics_pb2.ProbeModelRequest,  # noqa: N802
                         context: grpc.aio.ServicerContext) -> diagnostics_pb2.ProbeModelResponse:
        started = time.perf_counter()
        if not request.model:
            raise InvalidArgument("model is empty: name a model of the Triton repository",
                                  field_name="model")
        inputs = {t.name: tensor_to_numpy(t) for t in request.inputs}
        called = time.perf_counter()
        outputs = await self.triton.infer(request.model, inputs, list(request.outputs))
        triton_ms = (time.perf_counter() - called) * 1000
        reply = diagnostics_pb2.ProbeModelResponse(
            outputs=[numpy_to_tensor(n, a) for n, a in outputs.items()], triton_ms=triton_ms)
        reply.service_ms = (time.perf_counter() - started) * 1000
        return reply


def diagnostics_binding(triton: TritonClient) -> ServiceBinding:
    return ServiceBinding.of(DiagnosticsServicer(triton), diagnostics_pb2, diagnostics_pb2_grpc,
                             "DiagnosticsService")
