"""The one Triton python-backend model that runs `<model>/<version>/model.onnx` on CPU.

Installed by `mediamesh up` as the python-based backend `onnxrunner`, so every
`configs/cpu.pbtxt` just says `backend: "onnxrunner"`: no copied model.py per model.

Why it exists: the python backend hands a dynamic batch over as separate requests; this
runner joins the requests whose non-batch shapes agree into one onnxruntime run (that is
where batching pays off) and splits the outputs back per request.

Parameters read from the model config (all optional):
  intra_op_threads (default 1: instances x threads ~= cores)
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils  # provided by the stub at run time


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        import onnxruntime as ort

        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        if not os.path.exists(path):
            raise pb_utils.TritonModelException(
                f"{path} is missing: build it with `mediamesh models build`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("intra_op_threads") or 1)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.batched = int(config.get("max_batch_size", 0)) > 0
        self.input_names = [i["name"] for i in config["input"]]
        self.output_names = [o["name"] for o in config["output"]]
        self.output_dtypes = {
            o["name"]: pb_utils.triton_string_to_numpy(o["data_type"]) for o in config["output"]
        }

    def execute(self, requests: list[Any]) -> list[Any]:
        inputs = [
            {n: pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in self.input_names}
            for r in requests
        ]
        responses: list[Any] = [None] * len(requests)
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, feed in enumerate(inputs):
            key = tuple(feed[n].shape[1:] for n in self.input_names) if self.batched else (i,)
            groups[key].append(i)
        for members in groups.values():
            try:
                self._run_group(inputs, members, responses)
            except Exception as exc:  # one bad request must not fail the server
                error = pb_utils.TritonError(f"onnxruntime failed: {exc}")
                for i in members:
                    responses[i] = pb_utils.InferenceResponse(error=error)
        return responses

    def _run_group(self, inputs: list[dict[str, np.ndarray]], members: list[int],
                   responses: list[Any]) -> None:
        """One onnxruntime run over the requests of a group, split back per request."""
        if len(members) == 1:
            responses[members[0]] = self._respond(self._run(inputs[members[0]]))
            return
        joined = {n: np.concatenate([inputs[i][n] for i in members]) for n in self.input_names}
        outputs = self._run(joined)
        sizes = np.cumsum([inputs[i][self.input_names[0]].shape[0] for i in members])[:-1]
        split = {n: np.split(a, sizes) for n, a in outputs.items()}
        for k, i in enumerate(members):
            responses[i] = self._respond({n: parts[k] for n, parts in split.items()})

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, values))

    def _respond(self, outputs: dict[str, np.ndarray]) -> Any:
        tensors = [pb_utils.Tensor(n, np.ascontiguousarray(a, dtype=self.output_dtypes[n]))
                   for n, a in outputs.items()]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def finalize(self) -> None:
        self.session = None
