"""A small TFLite -> ONNX importer for float models (no TensorFlow needed at build time).

`read_tflite` parses the .tflite flatbuffer with the standard library alone (a flatbuffer is
offsets into one byte string; the field numbers below are those of TensorFlow Lite's
`schema.fbs`), and `import_subgraph` emits ONNX nodes for its operators:

  CONV_2D, DEPTHWISE_CONV_2D, ADD, SUB, MUL, RELU, RELU6, PRELU, HARD_SWISH, LOGISTIC, TANH,
  AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, PAD, RESHAPE, CONCATENATION, RESIZE_BILINEAR,
  DEQUANTIZE (fp16 weights: folded into fp32 constants) and MediaPipe's custom
  `Convolution2DTransposeBias` (a ConvTranspose with bias).

Anything else raises `UnsupportedOp`: the importer is meant for the float MediaPipe models
we host, not for quantised graphs.

Layout: TFLite is NHWC, ONNX's Conv and friends NCHW. 4-D activations are kept in NCHW
inside the graph and transposed back only where an op needs the TFLite layout (RESHAPE,
a rank-changing MEAN) and at the outputs, so the imported graph's own inputs and outputs
keep TFLite's shapes. Constants are re-laid-out at import time (filters OHWI -> OIHW,
per-channel vectors -> [C, 1, 1]). TF's SAME padding is asymmetric (the odd pixel goes at
the end): pads are written out explicitly. AVERAGE_POOL_2D averages only real pixels
(count_include_pad=0). RESIZE_BILINEAR keeps TF's coordinate modes (align_corners,
half_pixel_centers, else asymmetric).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

# -- flatbuffer reading --------------------------------------------------------------------


class _Table:
    """One flatbuffer table: fields by their number in the schema."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf, self.pos = buf, pos
        vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self._vt_size = struct.unpack_from("<H", buf, vtable)[0]
        self._vtable = vtable

    def _offset(self, slot: int) -> int:
        at = 4 + 2 * slot
        if at >= self._vt_size:
            return 0
        return struct.unpack_from("<H", self.buf, self._vtable + at)[0]

    def scalar(self, slot: int, fmt: str, default: float = 0) -> float:
        off = self._offset(slot)
        return struct.unpack_from("<" + fmt, self.buf, self.pos + off)[0] if off else default

    def _target(self, slot: int) -> int | None:
        off = self._offset(slot)
        if not off:
            return None
        at = self.pos + off
        return at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, slot: int) -> _Table | None:
        at = self._target(slot)
        return None if at is None else _Table(self.buf, at)

    def vector(self, slot: int, dtype: str) -> np.ndarray:
        """A vector of scalars (numpy dtype string, e.g. '<i4', 'u1')."""
        at = self._target(slot)
        if at is None:
            return np.zeros(0, dtype)
        n = struct.unpack_from("<I", self.buf, at)[0]
        return np.frombuffer(self.buf, dtype, n, at + 4)

    def tables(self, slot: int) -> list[_Table]:
        at = self._target(slot)
        if at is None:
            return []
        n = struct.unpack_from("<I", self.buf, at)[0]
        items = []
        for i in range(n):
            p = at + 4 + 4 * i
            items.append(_Table(self.buf, p + struct.unpack_from("<I", self.buf, p)[0]))
        return items

    def string(self, slot: int) -> str:
        return self.vector(slot, "u1").tobytes().decode("utf-8")


# TensorType -> numpy
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
           7: np.int16, 9: np.int8, 10: np.float64}
# BuiltinOperator codes of the ops we know (schema.fbs)
_BUILTINS = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D",
             4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC",
             17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE",
             23: "RESIZE_BILINEAR", 25: "SOFTMAX", 28: "TANH", 32: "CUSTOM", 34: "PAD",
             39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 54: "PRELU", 60: "PADV2",
             67: "TRANSPOSE_CONV", 117: "HARD_SWISH"}
# Options tables: field name -> (slot, struct format, default)
_PADDING = (0, "b", 0)  # Padding: SAME = 0, VALID = 1
_OPTIONS: dict[str, dict[str, tuple[int, str, int]]] = {
    "CONV_2D": {"padding": _PADDING, "stride_w": (1, "i", 1), "stride_h": (2, "i", 1),
                "activation": (3, "b", 0), "dilation_w": (4, "i", 1),
                "dilation_h": (5, "i", 1)},
    "DEPTHWISE_CONV_2D": {"padding": _PADDING, "stride_w": (1, "i", 1),
                          "stride_h": (2, "i", 1), "depth_multiplier": (3, "i", 1),
                          "activation": (4, "b", 0), "dilation_w": (5, "i", 1),
                          "dilation_h": (6, "i", 1)},
    "AVERAGE_POOL_2D": {"padding": _PADDING, "stride_w": (1, "i", 1), "stride_h": (2, "i", 1),
                        "filter_w": (3, "i", 1), "filter_h": (4, "i", 1),
                        "activation": (5, "b", 0)},
    "ADD": {"activation": (0, "b", 0)},
    "SUB": {"activation": (0, "b", 0)},
    "MUL": {"activation": (0, "b", 0)},
    "CONCATENATION": {"axis": (0, "i", 0), "activation": (1, "b", 0)},
    "RESIZE_BILINEAR": {"align_corners": (2, "?", 0), "half_pixel_centers": (3, "?", 0)},
    "MEAN": {"keep_dims": (0, "?", 0)},
}
_OPTIONS["MAX_POOL_2D"] = _OPTIONS["AVERAGE_POOL_2D"]


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None  # constants only


@dataclass
class Operator:
    op: str  # builtin name, or the custom code of a CUSTOM op
    inputs: list[int]  # tensor indices, -1 = optional input left out
    outputs: list[int]
    options: dict[str, int | float] = field(default_factory=dict)
    custom_options: bytes = b""


@dataclass
class Subgraph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


def read_tflite(data: bytes) -> Subgraph:
    """The first subgraph of a .tflite file, constants decoded (fp16 stays fp16)."""
    if data[4:8] != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = _Table(data, struct.unpack_from("<I", data, 0)[0])
    codes = []
    for code in model.tables(1):  # operator_codes
        builtin = max(int(code.scalar(0, "b", 0)), int(code.scalar(3, "i", 0)))
        codes.append(code.string(1) if builtin == 32 else _BUILTINS.get(builtin, f"#{builtin}"))
    buffers = []
    for buffer in model.tables(4):
        offset, size = int(buffer.scalar(1, "Q", 0)), int(buffer.scalar(2, "Q", 0))
        buffers.append(data[offset:offset + size] if offset > 1 else
                       buffer.vector(0, "u1").tobytes())
    graph = model.tables(2)[0]
    tensors = []
    for t in graph.tables(0):
        shape = tuple(int(d) for d in t.vector(0, "<i4"))
        type_code = int(t.scalar(1, "b", 0))
        if type_code not in _DTYPES:
            raise ValueError(f"tensor {t.string(3)}: unsupported TFLite type {type_code}")
        dtype = _DTYPES[type_code]
        raw = buffers[int(t.scalar(2, "I", 0))]
        value = np.frombuffer(raw, dtype).reshape(shape).copy() if raw else None
        tensors.append(Tensor(t.string(3), shape, dtype, value))
    operators = []
    for o in graph.tables(3):
        name = codes[int(o.scalar(0, "I", 0))]
        options: dict[str, int | float] = {}
        table = o.table(4)  # builtin_options (slot 3 is the union's type)
        if table is not None:
            for key, (slot, fmt, default) in _OPTIONS.get(name, {}).items():
                options[key] = table.scalar(slot, fmt, default)
            if name == "RESHAPE":
                options["new_shape"] = [int(d) for d in table.vector(0, "<i4")]
        operators.append(Operator(name, [int(i) for i in o.vector(1, "<i4")],
                                  [int(i) for i in o.vector(2, "<i4")], options,
                                  o.vector(5, "u1").tobytes()))
    return Subgraph(tensors, operators, [int(i) for i in graph.vector(1, "<i4")],
                    [int(i) for i in graph.vector(2, "<i4")])


# -- ONNX emission -------------------------------------------------------------------------


class UnsupportedOp(NotImplementedError):
    pass


_TO_NCHW = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)
_NHWC_AXIS_IN_NCHW = (0, 2, 3, 1)  # NHWC axis a sits at NCHW position _NHWC_AXIS_IN_NCHW[a]


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF's SAME padding of one axis: (before, after); the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


@dataclass
class Imported:
    nodes: list[onnx.NodeProto]
    initializers: list[onnx.TensorProto]
    outputs: dict[str, str]  # TFLite output name -> ONNX tensor (TFLite layout)


class _Emitter:
    def __init__(self, graph: Subgraph, inputs: dict[str, str], prefix: str) -> None:
        self.g, self.prefix = graph, prefix
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.const: dict[int, np.ndarray] = {i: t.data for i, t in enumerate(graph.tensors)
                                             if t.data is not None}
        self.tf: dict[int, str] = {}  # tensor -> ONNX name in TFLite layout
        self.nchw: dict[int, str] = {}  # 4-D tensor -> ONNX name in NCHW
        self.counter = 0
        for index in graph.inputs:
            name = graph.tensors[index].name
            if graph.tensors[index].dtype != np.float32:
                raise UnsupportedOp(f"input '{name}' is not FP32: quantised models are not "
                                    "supported")
            if name not in inputs:
                raise KeyError(f"no ONNX tensor given for the TFLite input '{name}'")
            self.tf[index] = inputs[name]

    # names and constants
    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{self.prefix}{hint}_{self.counter}"

    def initializer(self, hint: str, value: np.ndarray) -> str:
        name = self.fresh(hint)
        self.inits[name] = numpy_helper.from_array(np.ascontiguousarray(value), name)
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs: object) -> str:
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def shape(self, index: int) -> tuple[int, ...]:
        return self.g.tensors[index].shape

    def value(self, index: int) -> np.ndarray:
        """A constant input (fp16 weights read as fp32 are folded by DEQUANTIZE)."""
        if index not in self.const:
            raise UnsupportedOp(f"tensor '{self.g.tensors[index].name}' must be a constant")
        return self.const[index]

    def weight(self, index: int) -> np.ndarray:
        """A float constant (filters, biases, slopes): integer ones would be quantised."""
        value = self.value(index)
        if value.dtype.kind != "f":
            raise UnsupportedOp(f"tensor '{self.g.tensors[index].name}' is {value.dtype}: "
                                "quantised weights are not supported")
        return value.astype(np.float32)

    # layouts
    def as_tf(self, index: int) -> str:
        if index in self.tf:
            return self.tf[index]
        if index in self.nchw:
            self.tf[index] = self.node("Transpose", [self.nchw[index]], "to_nhwc",
                                       perm=list(_TO_NHWC))
            return self.tf[index]
        if index in self.const:
            value = self.const[index]
            self.tf[index] = self.initializer("const", value.astype(np.float32)
                                              if value.dtype == np.float16 else value)
            return self.tf[index]
        raise KeyError(f"tensor '{self.g.tensors[index].name}' is used before it is computed")

    def as_nchw(self, index: int) -> str:
        if index in self.nchw:
            return self.nchw[index]
        if index in self.const:  # broadcast operand of an elementwise op on 4-D tensors
            value = self.const[index].astype(np.float32)
            value = value.reshape((1,) * (4 - value.ndim) + value.shape).transpose(_TO_NCHW)
            self.nchw[index] = self.initializer("const_nchw", value)
            return self.nchw[index]
        if len(self.shape(index)) != 4:
            raise UnsupportedOp(f"tensor '{self.g.tensors[index].name}' is not 4-D")
        self.nchw[index] = self.node("Transpose", [self.as_tf(index)], "to_nchw",
                                     perm=list(_TO_NCHW))
        return self.nchw[index]

    def is_nchw(self, index: int) -> bool:
        return index in self.nchw

    def activation(self, name: str, kind: int) -> str:
        if kind == 0:
            return name
        if kind == 1:
            return self.node("Relu", [name], "relu")
        if kind in (2, 3):  # RELU_N1_TO_1, RELU6
            low, high = (-1.0, 1.0) if kind == 2 else (0.0, 6.0)
            return self.node("Clip", [name, self.initializer("lo", np.float32(low)),
                                      self.initializer("hi", np.float32(high))], "clip")
        if kind == 4:
            return self.node("Tanh", [name], "tanh")
        raise UnsupportedOp(f"fused activation {kind}")

    # ops
    def run(self) -> None:
        for op in self.g.operators:
            handler = getattr(self, "op_" + op.op, None)
            if handler is None:
                raise UnsupportedOp(f"TFLite op {op.op} is not supported by this importer")
            handler(op)

    def _conv_pads(self, op: Operator, index: int, kh: int, kw: int) -> list[int]:
        o = op.options
        if o["padding"] == 1:  # VALID
            return [0, 0, 0, 0]
        _, h, w, _ = self.shape(index)
        top, bottom = same_pads(h, kh, int(o["stride_h"]), int(o.get("dilation_h", 1)))
        left, right = same_pads(w, kw, int(o["stride_w"]), int(o.get("dilation_w", 1)))
        return [top, left, bottom, right]

    def _conv(self, op: Operator, weight: np.ndarray, group: int) -> None:
        x, _, b = (op.inputs + [-1])[:3]
        kh, kw = weight.shape[2:]
        inputs = [self.as_nchw(x), self.initializer("w", weight)]
        if b >= 0:
            inputs.append(self.initializer("b", self.weight(b)))
        o = op.options
        y = self.node("Conv", inputs, "conv", kernel_shape=[kh, kw], group=group,
                      strides=[int(o["stride_h"]), int(o["stride_w"])],
                      dilations=[int(o["dilation_h"]), int(o["dilation_w"])],
                      pads=self._conv_pads(op, x, kh, kw))
        self.nchw[op.outputs[0]] = self.activation(y, int(o["activation"]))

    def op_CONV_2D(self, op: Operator) -> None:  # filter OHWI
        self._conv(op, self.weight(op.inputs[1]).transpose(0, 3, 1, 2), group=1)

    def op_DEPTHWISE_CONV_2D(self, op: Operator) -> None:  # filter 1HW(C*M)
        weight = self.weight(op.inputs[1]).transpose(3, 0, 1, 2)
        self._conv(op, weight, group=self.shape(op.inputs[0])[3])

    def op_Convolution2DTransposeBias(self, op: Operator) -> None:
        # MediaPipe's custom op: inputs x, filter OHWI, bias; options TfLiteTransposeConvParams
        # {padding (1 SAME, 2 VALID), stride_w, stride_h}
        padding, stride_w, stride_h = struct.unpack_from("<iii", op.custom_options)
        x, w, b = op.inputs
        weight = self.weight(w).transpose(3, 0, 1, 2)  # -> I O kH kW
        _, kh, kw = weight.shape[1:]
        (_, h_in, w_in, _), (_, h_out, w_out, _) = self.shape(x), self.shape(op.outputs[0])
        pads, extra = [], []
        for size_in, size_out, k, s in ((h_in, h_out, kh, stride_h), (w_in, w_out, kw, stride_w)):
            total = (size_in - 1) * s + k - size_out
            if padding == 2 or total < 0:  # VALID, or output wider than the full transpose
                pads.append((0, 0))
                extra.append(max(-total, 0))
            else:
                pads.append((total // 2, total - total // 2))
                extra.append(0)
        self.nchw[op.outputs[0]] = self.node(
            "ConvTranspose", [self.as_nchw(x), self.initializer("w", weight),
                              self.initializer("b", self.weight(b))],
            "deconv", kernel_shape=[kh, kw], strides=[stride_h, stride_w],
            pads=[pads[0][0], pads[1][0], pads[0][1], pads[1][1]], output_padding=extra)

    def _pool(self, op: Operator, onnx_op: str, **attrs: object) -> None:
        o = op.options
        kh, kw = int(o["filter_h"]), int(o["filter_w"])
        y = self.node(onnx_op, [self.as_nchw(op.inputs[0])], onnx_op.lower(),
                      kernel_shape=[kh, kw], strides=[int(o["stride_h"]), int(o["stride_w"])],
                      pads=self._conv_pads(op, op.inputs[0], kh, kw), **attrs)
        self.nchw[op.outputs[0]] = self.activation(y, int(o["activation"]))

    def op_AVERAGE_POOL_2D(self, op: Operator) -> None:
        self._pool(op, "AveragePool", count_include_pad=0)

    def op_MAX_POOL_2D(self, op: Operator) -> None:
        self._pool(op, "MaxPool")

    def _binary(self, op: Operator, onnx_op: str) -> None:
        out = op.outputs[0]
        variables = [i for i in op.inputs if i not in self.const]
        if len(self.shape(out)) == 4 and all(len(self.shape(i)) == 4 for i in variables):
            y = self.node(onnx_op, [self.as_nchw(i) for i in op.inputs], onnx_op.lower())
            self.nchw[out] = self.activation(y, int(op.options.get("activation", 0)))
        else:
            y = self.node(onnx_op, [self.as_tf(i) for i in op.inputs], onnx_op.lower())
            self.tf[out] = self.activation(y, int(op.options.get("activation", 0)))

    def op_ADD(self, op: Operator) -> None:
        self._binary(op, "Add")

    def op_SUB(self, op: Operator) -> None:
        self._binary(op, "Sub")

    def op_MUL(self, op: Operator) -> None:
        self._binary(op, "Mul")

    def op_PRELU(self, op: Operator) -> None:
        self._binary(op, "PRelu")

    def _unary(self, op: Operator, onnx_op: str) -> None:
        x, out = op.inputs[0], op.outputs[0]
        if self.is_nchw(x):
            self.nchw[out] = self.node(onnx_op, [self.nchw[x]], onnx_op.lower())
        else:
            self.tf[out] = self.node(onnx_op, [self.as_tf(x)], onnx_op.lower())

    def op_RELU(self, op: Operator) -> None:
        self._unary(op, "Relu")

    def op_HARD_SWISH(self, op: Operator) -> None:
        self._unary(op, "HardSwish")

    def op_LOGISTIC(self, op: Operator) -> None:
        self._unary(op, "Sigmoid")

    def op_TANH(self, op: Operator) -> None:
        self._unary(op, "Tanh")

    def op_RELU6(self, op: Operator) -> None:
        x, out = op.inputs[0], op.outputs[0]
        layout = self.nchw if self.is_nchw(x) else self.tf
        layout[out] = self.activation(self.nchw[x] if layout is self.nchw else self.as_tf(x), 3)

    def op_DEQUANTIZE(self, op: Operator) -> None:
        x, out = op.inputs[0], op.outputs[0]
        if x in self.const:
            if self.const[x].dtype != np.float16:
                raise UnsupportedOp("DEQUANTIZE of quantised integers")
            self.const[out] = self.const[x].astype(np.float32)
        else:
            self.tf[out] = self.node("Cast", [self.as_tf(x)], "cast", to=onnx.TensorProto.FLOAT)

    def op_PAD(self, op: Operator) -> None:
        x, out = op.inputs[0], op.outputs[0]
        pads = self.value(op.inputs[1]).astype(np.int64)  # [rank, 2] in NHWC order
        if len(self.shape(x)) == 4:
            pads, source, layout = pads[list(_TO_NCHW)], self.as_nchw(x), self.nchw
        else:
            source, layout = self.as_tf(x), self.tf
        inputs = [source, self.initializer("pads", np.concatenate([pads[:, 0], pads[:, 1]]))]
        if op.op == "PADV2" and len(op.inputs) > 2:
            inputs.append(self.initializer("pad_value", self.value(op.inputs[2])))
        layout[out] = self.node("Pad", inputs, "pad", mode="constant")

    op_PADV2 = op_PAD

    def op_RESHAPE(self, op: Operator) -> None:
        x, out = op.inputs[0], op.outputs[0]
        shape = list(self.shape(out))
        if shape and self.shape(x) and shape[0] == self.shape(x)[0]:
            shape[0] = 0  # keep the batch dimension whatever it is at run time
        self.tf[out] = self.node("Reshape", [self.as_tf(x), self.initializer(
            "shape", np.asarray(shape, np.int64))], "reshape")

    def op_CONCATENATION(self, op: Operator) -> None:
        out = op.outputs[0]
        rank = len(self.shape(out))
        axis = int(op.options["axis"]) % rank
        if rank == 4:
            y = self.node("Concat", [self.as_nchw(i) for i in op.inputs], "concat",
                          axis=_NHWC_AXIS_IN_NCHW[axis])
            self.nchw[out] = self.activation(y, int(op.options["activation"]))
        else:
            y = self.node("Concat", [self.as_tf(i) for i in op.inputs], "concat", axis=axis)
            self.tf[out] = self.activation(y, int(op.options["activation"]))

    def op_MEAN(self, op: Operator) -> None:
        x, out = op.inputs[0], op.outputs[0]
        axes = [int(a) % len(self.shape(x)) for a in self.value(op.inputs[1]).ravel()]
        keep = bool(op.options.get("keep_dims", False))
        if keep and len(self.shape(x)) == 4:
            self.nchw[out] = self.node("ReduceMean", [self.as_nchw(x)], "mean", keepdims=1,
                                       axes=sorted(_NHWC_AXIS_IN_NCHW[a] for a in axes))
        else:
            self.tf[out] = self.node("ReduceMean", [self.as_tf(x)], "mean",
                                     keepdims=int(keep), axes=axes)

    def op_RESIZE_BILINEAR(self, op: Operator) -> None:
        x, out = op.inputs[0], op.outputs[0]
        height, width = (int(v) for v in self.value(op.inputs[1]).ravel())
        o = op.options
        mode = ("align_corners" if o.get("align_corners") else
                "half_pixel" if o.get("half_pixel_centers") else "asymmetric")
        source = self.as_nchw(x)
        batch_channels = self.node("Slice", [
            self.node("Shape", [source], "shape"), self.initializer("start", np.int64([0])),
            self.initializer("end", np.int64([2]))], "nc")
        sizes = self.node("Concat", [batch_channels, self.initializer(
            "hw", np.int64([height, width]))], "sizes", axis=0)
        self.nchw[out] = self.node("Resize", [source, "", "", sizes], "resize", mode="linear",
                                   coordinate_transformation_mode=mode)


def import_subgraph(graph: Subgraph, inputs: dict[str, str], prefix: str = "tfl/") -> Imported:
    """ONNX nodes computing `graph`. `inputs` maps each TFLite input name to the ONNX tensor
    that feeds it (FP32, TFLite layout, any batch size); the result's `outputs` maps each
    TFLite output name to the ONNX tensor holding it, again in TFLite layout."""
    emitter = _Emitter(graph, inputs, prefix)
    emitter.run()
    outputs = {graph.tensors[i].name: emitter.as_tf(i) for i in graph.outputs}
    return Imported(emitter.nodes, list(emitter.inits.values()), outputs)
