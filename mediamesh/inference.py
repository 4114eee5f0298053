"""The one Triton client every service uses: named model, numpy in, numpy out.

Every call has a deadline; UNAVAILABLE (Triton restarting, model loading) is retried with
exponential back-off; errors come out as mesh errors a person can act on. With
`shared_memory` (Triton on the same host) large tensors travel through /dev/shm
(mediamesh.triton_shm) instead of the gRPC message.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import numpy as np
import tritonclient.grpc.aio as triton_aio
from opentelemetry.trace import SpanKind, Status
from opentelemetry.trace import StatusCode as SpanStatusCode
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException, np_to_triton_dtype, triton_to_np_dtype

from mediamesh.errors import InferenceUnavailable, InvalidArgument, ModelNotFound
from mediamesh.logs import get_logger
from mediamesh.telemetry import TRITON_FAILURES, TRITON_SECONDS, inject, tracer
from mediamesh.triton_shm import Layout, Region, SharedMemoryPool

log = get_logger()

_RETRYABLE = ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED")


def _status(exc: InferenceServerException) -> str:
    return str(exc.status() or "")


def _is_unknown_model(exc: InferenceServerException) -> bool:
    text = (exc.message() or "").lower()
    return "unknown model" in text or ("not found" in text and "model" in text)


def _is_unknown_region(exc: InferenceServerException) -> bool:
    """Triton does not know a region we registered: it restarted since (2.51 says "Unable
    to find shared memory region: '<name>'", NOT_FOUND). Other region errors (too small, a
    bad offset) are not restarts and must not be retried as one."""
    return "unable to find shared memory region" in (exc.message() or "").lower()


class TritonClient:
    """Async client bound to one Triton gRPC endpoint (host:port)."""

    def __init__(self, url: str, *, timeout_s: float = 30.0, retries: int = 4,
                 backoff_s: float = 0.2, shared_memory: bool = False) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._client: triton_aio.InferenceServerClient | None = None
        self._shm = SharedMemoryPool(self._register_region, self._unregister_region) \
            if shared_memory else None

    @property
    def client(self) -> triton_aio.InferenceServerClient:
        if self._client is None:
            self._client = triton_aio.InferenceServerClient(self.url)
        return self._client

    async def close(self) -> None:
        if self._shm is not None:
            await self._shm.close()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _register_region(self, name: str, key: str, size: int) -> None:
        await self.client.register_system_shared_memory(name, key, size, client_timeout=5.0)

    async def _unregister_region(self, name: str) -> None:
        await self.client.unregister_system_shared_memory(name, client_timeout=5.0)

    async def infer(self, model: str, inputs: Mapping[str, np.ndarray],
                    outputs: Sequence[str], *, timeout_s: float | None = None,
                    request_id: str = "", output_bytes: Mapping[str, int] | None = None
                    ) -> dict[str, np.ndarray]:
        """Run `model` once; inputs keyed by tensor name; returns the requested outputs.
        `output_bytes`: upper bounds of outputs' sizes, so that large ones can come back
        through shared memory (when the client has it; others come in the reply)."""
        with tracer().start_as_current_span(
                f"triton {model}", kind=SpanKind.CLIENT,
                attributes={"mediamesh.model": model, "server.address": self.url}) as span:
            started = time.perf_counter()
            try:
                return await self._infer(model, inputs, outputs, timeout_s, request_id,
                                         output_bytes)
            except Exception as exc:
                TRITON_FAILURES.labels(model).inc()
                span.set_status(Status(SpanStatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                TRITON_SECONDS.labels(model).observe(time.perf_counter() - started)

    async def _infer(self, model: str, inputs: Mapping[str, np.ndarray],
                     outputs: Sequence[str], timeout_s: float | None, request_id: str,
                     output_bytes: Mapping[str, int] | None) -> dict[str, np.ndarray]:
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        arrays = {name: np.ascontiguousarray(array) for name, array in inputs.items()}
        layout = Layout.of(arrays, dict(output_bytes or {})) if self._shm else Layout()
        region = await self._shm.lease(layout.size) if self._shm and layout.size else None
        try:
            return await self._infer_with_retries(model, arrays, outputs, layout, region,
                                                  deadline, timeout_s or self.timeout_s,
                                                  request_id)
        finally:
            if region is not None and self._shm is not None:
                self._shm.release(region)

    async def _infer_with_retries(self, model: str, arrays: dict[str, np.ndarray],
                                  outputs: Sequence[str], layout: Layout,
                                  region: Region | None, deadline: float, budget_s: float,
                                  request_id: str) -> dict[str, np.ndarray]:
        infer_inputs = []
        for name, array in arrays.items():
            tensor = InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
            if region is not None and name in layout.inputs:
                offset, nbytes = layout.inputs[name]
                region.write(array, offset)
                tensor.set_shared_memory(region.name, nbytes, offset)
            else:
                tensor.set_data_from_numpy(array)
            infer_inputs.append(tensor)
        requested = []
        for name in outputs:
            output = InferRequestedOutput(name)
            if region is not None and name in layout.outputs:
                offset, nbytes = layout.outputs[name]
                output.set_shared_memory(region.name, nbytes, offset)
            requested.append(output)
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InferenceUnavailable(
                    f"Triton at {self.url} did not answer model '{model}' before the deadline "
                    f"({budget_s:.1f} s); is it overloaded or down? "
                    "Check `mediamesh status`.", resource=model)
            try:
                if region is not None and not region.registered and self._shm is not None:
                    await self._shm.register(region)
                result = await self.client.infer(model, infer_inputs, outputs=requested,
                                                 client_timeout=remaining,
                                                 request_id=request_id,
                                                 headers=dict(inject({})))  # Triton's spans join
                return {name: self._output(result, name, layout, region) for name in outputs}
            except InferenceServerException as exc:
                if _is_unknown_model(exc):
                    raise ModelNotFound(
                        f"model '{model}' is not loaded in Triton at {self.url}; build it with "
                        "`mediamesh models build` and restart the mesh", resource=model) from exc
                restarted = region is not None and _is_unknown_region(exc)
                if restarted and self._shm is not None:
                    self._shm.forget_registrations()  # register again, then retry
                elif _status(exc) not in _RETRYABLE and \
                        "failed to connect" not in str(exc).lower():
                    raise InvalidArgument(f"Triton rejected the request to '{model}': "
                                          f"{exc.message()}") from exc
                attempt += 1
                if attempt > self.retries:
                    raise InferenceUnavailable(
                        f"Triton at {self.url} is unavailable for model '{model}' after "
                        f"{attempt} attempts ({exc.message()}); start it with `mediamesh up` "
                        "or check `mediamesh status`", resource=model) from exc
                delay = min(self.backoff_s * 2 ** (attempt - 1),
                            max(0.0, deadline - time.monotonic()))
                log.warning("triton.retry", model=model, attempt=attempt, delay_s=delay,
                            error=exc.message())
                await asyncio.sleep(delay)

    @staticmethod
    def _output(result: triton_aio.InferResult, name: str, layout: Layout,
                region: Region | None) -> np.ndarray:
        if region is None or name not in layout.outputs:
            return result.as_numpy(name)
        tensor = result.get_output(name)
        dtype = np.dtype(triton_to_np_dtype(tensor.datatype))
        return region.read(dtype, list(tensor.shape), layout.outputs[name][0])

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
