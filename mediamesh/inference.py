"""The one Triton client every service uses: named model, numpy in, numpy out.

Every call has a deadline; UNAVAILABLE (Triton restarting, model loading) is retried with
exponential back-off; errors come out as mesh errors a person can act on.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import numpy as np
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from mediamesh.errors import InferenceUnavailable, InvalidArgument, ModelNotFound
from mediamesh.logs import get_logger

log = get_logger()

_RETRYABLE = ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED")


def _status(exc: InferenceServerException) -> str:
    return str(exc.status() or "")


def _is_unknown_model(exc: InferenceServerException) -> bool:
    text = (exc.message() or "").lower()
    return "unknown model" in text or ("not found" in text and "model" in text)


class TritonClient:
    """Async client bound to one Triton gRPC endpoint (host:port)."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, retries: int = 4,
                 backoff_s: float = 0.2) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._client: triton_aio.InferenceServerClient | None = None

    @property
    def client(self) -> triton_aio.InferenceServerClient:
        if self._client is None:
            self._client = triton_aio.InferenceServerClient(self.url)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def infer(self, model: str, inputs: Mapping[str, np.ndarray],
                    outputs: Sequence[str], *, timeout_s: float | None = None,
                    request_id: str = "") -> dict[str, np.ndarray]:
        """Run `model` once; inputs keyed by tensor name; returns the requested outputs."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        infer_inputs = []
        for name, array in inputs.items():
            array = np.ascontiguousarray(array)
            tensor = InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            tensor.set_data_from_numpy(array)
            infer_inputs.append(tensor)
        requested = [InferRequestedOutput(name) for name in outputs]
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InferenceUnavailable(
                    f"Triton at {self.url} did not answer model '{model}' before the deadline "
                    f"({timeout_s or self.timeout_s:.1f} s); is it overloaded or down? "
                    "Check `mediamesh status`.", resource=model)
            try:
                result = await self.client.infer(model, infer_inputs, outputs=requested,
                                                 client_timeout=remaining,
                                                 request_id=request_id)
                return {name: result.as_numpy(name) for name in outputs}
            except InferenceServerException as exc:
                if _is_unknown_model(exc):
                    raise ModelNotFound(
                        f"model '{model}' is not loaded in Triton at {self.url}; build it with "
                        "`mediamesh models build` and restart the mesh", resource=model) from exc
                if _status(exc) not in _RETRYABLE and "failed to connect" not in str(exc).lower():
                    raise InvalidArgument(f"Triton rejected the request to '{model}': "
                                          f"{exc.message()}") from exc
                attempt += 1
                if attempt > self.retries:
                    raise InferenceUnavailable(
                        f"Triton at {self.url} is unavailable for model '{model}' after "
                        f"{attempt} attempts ({exc.message()}); start it with `mediamesh up` "
                        "or check `mediamesh status`", resource=model) from exc
                delay = min(self.backoff_s * 2 ** (attempt - 1), max(0.0, deadline - time.monotonic()))
                log.warning("triton.retry", model=model, attempt=attempt, delay_s=delay,
                            error=exc.message())
                await asyncio.sleep(delay)

    async def is_ready(self, models: Sequence[str] = ()) -> bool:
        """True when the server and every named model are ready; never raises."""
        try:
            if not await self.client.is_server_ready(client_timeout=2.0):
                return False
            for model in models:
                if not await self.client.is_model_ready(model, client_timeout=2.0):
                    return False
            return True
        except InferenceServerException:
            return False

    async def wait_ready(self, models: Sequence[str] = (), timeout_s: float = 60.0) -> None:
        """Block until ready or raise InferenceUnavailable naming what is missing."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self.is_ready(models):
                return
            await asyncio.sleep(0.25)
        raise InferenceUnavailable(f"Triton at {self.url} not ready with models {list(models)} "
                                   f"after {timeout_s:.0f} s; see `mediamesh logs triton`")

    async def models(self) -> list[dict[str, str]]:
        """The repository index: name, version, state (READY, UNAVAILABLE...), reason."""
        index = await self.client.get_model_repository_index(as_json=True, client_timeout=5.0)
        return [{"name": m.get("name", ""), "version": m.get("version", ""),
                 "state": m.get("state", ""), "reason": m.get("reason", "")}
                for m in index.get("models", [])]
