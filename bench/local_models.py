"""The mesh's models without the server, for evaluation scripts: `infer` has
TritonClient.infer's signature and runs model_repository/<model>/1/model.onnx in
onnxruntime on one thread (the work Triton's python backend does for the service), so a
bench can run a service's own job code in-process, decode and rendering included. The
session runs in a worker thread, as Triton runs beside the service: a job's pipelining
(decode and render while the model works) overlaps here as it does on the mesh."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

REPOSITORY = Path(__file__).resolve().parents[1] / "model_repository"


class LocalModels:
    def __init__(self, repository: Path = REPOSITORY) -> None:
        self.repository = repository
        self.sessions: dict[str, ort.InferenceSession] = {}

    def session(self, model: str) -> ort.InferenceSession:
        if model not in self.sessions:
            path = self.repository / model / "1" / "model.onnx"
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: run `mediamesh models build`")
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            self.sessions[model] = ort.InferenceSession(str(path), options,
                                                        providers=["CPUExecutionProvider"])
        return self.sessions[model]

    async def infer(self, model: str, inputs: Mapping[str, np.ndarray], outputs: Sequence[str],
                    *, timeout_s: float | None = None, request_id: str = "",
                    output_bytes: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
        session = self.session(model)
        values = await asyncio.to_thread(session.run, list(outputs), dict(inputs))
        return dict(zip(outputs, values, strict=True))
