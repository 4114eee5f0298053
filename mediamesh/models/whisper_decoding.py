"""The whisper_decoder graph: Whisper's greedy decoding of one 30 s window, whole, in ONNX.

  hidden             FP32  [N, 1500, 512]  the encoder's output
  prompt             INT64 [N, P]          e.g. SOT <|en|> <|transcribe|> (timestamps mode)
  max_tokens         INT64 [N, 1]          at most this many tokens per row (and P + T <= 448;
                                           0 gives one column of EOT)
  tokens             INT64 [N, T]          generated ids; a row that ended early is padded
                                           with EOT
  token_logprobs     FP32  [N, T]          each token's log-probability (0 on padding)
  language_logprobs  FP32  [N, 99]         log-softmax over the language tokens at the
                                           position after the prompt's first token (SOT)

Language detection is the same model: prompt [SOT], max_tokens 1, read language_logprobs.

How: the prompt runs through the decoder in one pass (causal mask), which gives the
self-attention K/V caches and the first logits; the cross-attention K/V of every layer are
computed once from `hidden`. Then an ONNX Loop: each iteration picks a token from the
carried logits under Whisper's rules and feeds it one step through the decoder, its K/V
appended to the caches (loop state that grows by one position). The loop stops when every
row has produced EOT, or after max_tokens; the last iteration's step is not used.

The rules (openai-whisper's SuppressBlank, SuppressTokens and ApplyTimestampRules, as
CTranslate2 applies them), as masks over the 51,865 logits:
  - never the suppressed symbols / special tokens (whisper_tokens.SUPPRESS) nor
    <|notimestamps|>;
  - the first token is a timestamp <= 1.00 s;
  - timestamps come in pairs: after <|t|> text <|t'|> comes a timestamp or EOT, after
    <|t|><|t'|> comes text (a lone timestamp may precede EOT);
  - timestamps never decrease, and a segment's end is after its start;
  - when the timestamps' summed probability beats every text token, a timestamp it is.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from mediamesh.models import whisper_tokens as wt
from mediamesh.models.onnx_graph import finish
from mediamesh.models.whisper import (
    D_MODEL,
    HEADS,
    LAYERS,
    POSITIONS,
    TEXT_CONTEXT,
    F,
    Graph,
    ModelBin,
    attend,
    feed_forward,
    heads,
    initializers,
    layer_norm,
    linear,
    load,
    self_attention,
)

I64, BOOL = TensorProto.INT64, TensorProto.BOOL
NEG = -1e30  # a masked logit: finite, so log-sum-exps over fully masked ranges stay finite
EMBEDDINGS = "decoder/embeddings/weight"


def rule_tables(g: Graph) -> dict[str, str]:
    """The constant [1, V] tables the rules combine (initializers)."""
    ids = np.arange(wt.VOCABULARY, dtype=np.int64)
    static = np.zeros(wt.VOCABULARY, bool)
    static[list(wt.SUPPRESS) + [wt.NO_TIMESTAMPS]] = True
    first = (ids < wt.TIMESTAMP_BEGIN) | (ids > wt.TIMESTAMP_BEGIN + wt.MAX_INITIAL_TIMESTAMP)
    first[list(wt.SUPPRESS_AT_BEGIN)] = True
    tables = {"ids": ids, "static": static, "first": first, "before_eot": ids < wt.EOT,
              "text": ids < wt.TIMESTAMP_BEGIN, "timestamp": ids >= wt.TIMESTAMP_BEGIN}
    return {k: g.weight(f"rules/{k}", a[None, :]) for k, a in tables.items()}


def cross_keys_values(g: Graph, v: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """Every layer's cross-attention keys [N, 8, 64, 1500] and values [N, 8, 1500, 64]."""
    out = []
    for layer in range(LAYERS):
        kv = linear(g, v, "hidden", f"decoder/layer_{layer}/attention/linear_1")
        k, val = g.multi("Split", [kv], 2, axis=-1)
        out.append((heads(g, k, keys=True), heads(g, val)))
    return out


def decoder_layers(g: Graph, v: dict[str, np.ndarray], x: str, cross: list[tuple[str, str]],
                   mask: str | None, past: list[tuple[str, str]] | None
                   ) -> tuple[str, list[tuple[str, str]]]:
    """Six pre-norm decoder layers over x [N, T, 512] -> (LayerNorm-ed output, caches)."""
    caches = []
    scale = (D_MODEL // HEADS) ** -0.5
    for layer in range(LAYERS):
        p = f"decoder/layer_{layer}"
        attention, k, val = self_attention(g, v, x, f"{p}/self_attention", mask,
                                           past[layer] if past else None)
        caches.append((k, val))
        x = g("Add", x, attention)
        a = f"{p}/attention"
        q = linear(g, v, layer_norm(g, v, x, f"{a}/layer_norm"), f"{a}/linear_0",
                   v[f"{a}/linear_0/weight"].astype(np.float32) * scale,
                   v[f"{a}/linear_0/bias"].astype(np.float32) * scale)
        x = g("Add", x, linear(g, v, attend(g, heads(g, q), *cross[layer]), f"{a}/linear_2"))
        x = g("Add", x, feed_forward(g, v, x, f"{p}/ffn"))
    return layer_norm(g, v, x, "decoder/layer_norm"), caches


def logits(g: Graph, h: str, out: str | None = None) -> str:
    """[N, 512] -> [N, V] against the tied embeddings (Gemm reads them transposed)."""
    return g("Gemm", h, EMBEDDINGS, transB=1, out=out)


def pick(g: Graph, t: dict[str, str], scores: str, step: str, state: dict[str, str]
         ) -> tuple[str, str]:
    """(token [N], its log-probability [N]) from logits [N, V] under the rules."""
    # text then a timestamp: a segment just ended; a timestamp (not earlier) or EOT follows
    ended = g("And", state["last"], g("Not", state["penult"]))
    # two timestamps (or the first token): text follows
    started = g("And", state["last"], state["penult"])
    # a later timestamp than the last one, except right after a segment's end (equal is fine)
    min_ts = g("Add", state["last_ts"], g("Cast", g("Not", ended), to=I64))
    masks = [
        t["static"],
        g("And", t["first"], g("Equal", step, g.const(0, I64, scalar=True))),
        g("And", g("Unsqueeze", ended, g.const([1])), t["before_eot"]),
        g("And", g("Unsqueeze", started, g.const([1])), t["timestamp"]),
        g("And", t["timestamp"], g("Less", t["ids"], g("Unsqueeze", min_ts, g.const([1])))),
    ]
    mask = masks[0]
    for m in masks[1:]:
        mask = g("Or", mask, m)
    neg = g.const(NEG, F, scalar=True)
    masked = g("Where", mask, neg, scores)
    logprobs = g("LogSoftmax", masked, axis=-1)
    begin, end = g.const([wt.TIMESTAMP_BEGIN]), g.const([wt.VOCABULARY])
    axis = g.const([1])
    ts_mass = g("ReduceLogSumExp", g("Slice", logprobs, begin, end, axis), axes=[1],
                keepdims=1)
    text_best = g("ReduceMax", g("Slice", logprobs, g.const([0]), begin, axis), axes=[1],
                  keepdims=1)
    force = g("And", g("Greater", ts_mass, text_best), t["text"])
    final = g("Where", force, neg, masked)
    token = g("ArgMax", final, axis=1, keepdims=1)
    logprob = g("GatherElements", g("LogSoftmax", final, axis=-1), token, axis=1)
    return g("Squeeze", token, axis), g("Squeeze", logprob, axis)


def loop_body(v: dict[str, np.ndarray], weights: dict[str, np.ndarray],
              cross: list[tuple[str, str]], t: dict[str, str]) -> onnx.GraphProto:
    """One iteration: pick a token from the carried logits, then step the decoder on it."""
    g = Graph("step/", weights)
    names = ["logits", "last", "penult", "last_ts", "finished"]
    cache_names = [f"{kind}{layer}" for layer in range(LAYERS) for kind in ("k", "v")]
    state = {n: f"step/in_{n}" for n in names + cache_names}
    i = "step/i"
    done = g("Or", state["finished"], g("GreaterOrEqual", i, "max_row"))
    token, logprob = pick(g, t, state["logits"], i, state)
    eot = g.const(wt.EOT, I64, scalar=True)
    token = g("Where", done, eot, token, out="step/out_token")
    g("Where", done, g.const(0.0, F, scalar=True), logprob, out="step/out_logprob")
    finished = g("Or", done, g("Equal", token, eot), out="step/out_finished")
    is_ts = g("GreaterOrEqual", token, g.const(wt.TIMESTAMP_BEGIN, I64, scalar=True))
    g("Identity", is_ts, out="step/out_last")
    g("Or", state["last"], g("Equal", i, g.const(0, I64, scalar=True)), out="step/out_penult")
    g("Where", is_ts, token, state["last_ts"], out="step/out_last_ts")
    all_done = g("ReduceMin", g("Cast", finished, to=I64), keepdims=0)
    g("Not", g("Cast", all_done, to=BOOL), out="step/cond_out")
    # the decoder step on the picked token, at position P + i
    position = g("Gather", "decoder/positions", g("Add", "prompt_length", i))
    x = g("Add", g("Gather", EMBEDDINGS, g("Unsqueeze", token, g.const([1]))), position)
    past = [(state[f"k{layer}"], state[f"v{layer}"]) for layer in range(LAYERS)]
    h, caches = decoder_layers(g, v, x, cross, None, past)
    logits(g, g("Squeeze", h, g.const([1])), out="step/out_logits")
    for layer, (k, val) in enumerate(caches):
        g("Identity", k, out=f"step/out_k{layer}")
        g("Identity", val, out=f"step/out_v{layer}")

    def info(name: str, dtype: int) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, dtype, None)

    types = {"logits": F, "last": BOOL, "penult": BOOL, "last_ts": I64, "finished": BOOL}
    types.update({n: F for n in cache_names})
    carried = names + cache_names
    return helper.make_graph(
        g.nodes, "step",
        inputs=[helper.make_tensor_value_info(i, I64, []),
                helper.make_tensor_value_info("step/cond_in", BOOL, []),
                *[info(state[n], types[n]) for n in carried]],
        outputs=[helper.make_tensor_value_info("step/cond_out", BOOL, []),
                 *[info(f"step/out_{n}", types[n]) for n in carried],
                 info("step/out_token", I64), info("step/out_logprob", F)])


def decoder_graph(model: ModelBin | None = None) -> onnx.ModelProto:
    v = (model or load()).variables
    g = Graph("", {})
    g.weight(EMBEDDINGS, v[EMBEDDINGS])
    g.weight("decoder/positions", v["decoder/position_encodings/encodings"])
    t = rule_tables(g)
    cross = cross_keys_values(g, v)
    # the prompt, in one pass
    length = g("Shape", "prompt", start=1, end=2)
    g("Squeeze", length, out="prompt_length")
    x = g("Add", g("Gather", EMBEDDINGS, "prompt"),
          g("Slice", "decoder/positions", g.const([0]), length, g.const([0])))
    square = g("Concat", length, length, axis=0)
    future = g("Trilu", g("ConstantOfShape", square, value=helper.make_tensor(
        "neg", F, [1], [NEG])), g.const(1, I64, scalar=True), upper=1)
    h, caches = decoder_layers(g, v, x, cross, future, None)
    first = g("Gather", h, g.const(0, I64, scalar=True), axis=1)
    last = g("Gather", h, g("Sub", "prompt_length", g.const(1, I64, scalar=True)), axis=1)
    languages = np.asarray(v[EMBEDDINGS][list(wt.LANGUAGE_TOKENS)], np.float32).T
    g("LogSoftmax", g("MatMul", first, g.weight("decoder/language_embeddings_t", languages)),
      axis=-1, out="language_logprobs")
    # the loop's limits and initial state
    g("Reshape", "max_tokens", g.const([-1]), out="max_row")
    room = g("Sub", g.const(TEXT_CONTEXT, I64, scalar=True), "prompt_length")
    # at least one iteration (a Loop with none has no scan outputs' shapes): max_tokens 0
    # gives a column of EOT
    trips = g("Max", g("Min", g("ReduceMax", "max_tokens", keepdims=0), room),
              g.const(1, I64, scalar=True))
    column = g("Gather", "prompt", g.const(0, I64, scalar=True), axis=1)
    false = g("Equal", column, g.const(-1, I64, scalar=True))  # [N] all False
    zero = g("Mul", column, g.const(0, I64, scalar=True))
    initial = [logits(g, last), false, false, zero, false]
    for k, val in caches:
        initial += [k, val]
    body = loop_body(v, g.weights, cross, t)
    carried_out = [f"final_{o.name.removeprefix('step/out_')}" for o in body.output[1:-2]]
    g.multi("Loop", [trips, g.const(True, BOOL, scalar=True), *initial],
            [*carried_out, "tokens_by_step", "logprobs_by_step"], body=body)
    g("Transpose", "tokens_by_step", perm=[1, 0], out="tokens")
    g("Transpose", "logprobs_by_step", perm=[1, 0], out="token_logprobs")
    graph = helper.make_graph(
        g.nodes, "whisper_decoder",
        inputs=[helper.make_tensor_value_info("hidden", F, ["N", POSITIONS, D_MODEL]),
                helper.make_tensor_value_info("prompt", I64, ["N", "P"]),
                helper.make_tensor_value_info("max_tokens", I64, ["N", 1])],
        outputs=[helper.make_tensor_value_info("tokens", I64, ["N", "T"]),
                 helper.make_tensor_value_info("token_logprobs", F, ["N", "T"]),
                 helper.make_tensor_value_info("language_logprobs", F,
                                               ["N", len(wt.LANGUAGES)])],
        initializer=initializers(g.weights))
    return finish(graph, __doc__)


def build_decoder() -> bytes:
    return decoder_graph().SerializeToString()
