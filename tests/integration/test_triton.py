"""The shared Triton client against the real server, and the diagnostics probe."""
from __future__ import annotations

import grpc
import numpy as np
import pytest

from mediamesh.config import Settings
from mediamesh.diagnostics import numpy_to_tensor, tensor_to_numpy
from mediamesh.errors import InferenceUnavailable, ModelNotFound
from mediamesh.grpc_errors import error_info
from mediamesh.inference import TritonClient
from mediamesh.mesh.ports import free_port_base
from mediamesh.models.green_keyer import key_reference
from mediamesh.v1 import diagnostics_pb2, diagnostics_pb2_grpc

OUTPUTS = ["alpha", "alpha_chroma", "despilled_chroma"]


def inputs(batch: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch)
    chroma = rng.integers(0, 256, (batch, 2, 12, 16), dtype=np.uint8)
    params = np.tile(np.array([-30, -50, 6, 46, 0.8], np.float32), (batch, 1))
    params[-1] = [110, -18, 10, 60, 0.5]  # per-frame parameters survive batching
    return {"chroma": chroma, "params": params}


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    """Equal, but for one 8-bit level where float rounding differs (as in the unit test)."""
    assert got.shape == want.shape and got.dtype == want.dtype
    assert np.abs(got.astype(np.int16) - want).max() <= 1


async def test_triton_runs_the_keyer_exactly(mesh: Settings) -> None:
    client = TritonClient(mesh.triton_address)
    try:
        feed = inputs()
        out = await client.infer("green_keyer", feed, OUTPUTS)
        for name, want in zip(OUTPUTS, key_reference(feed["chroma"], feed["params"]),
                              strict=True):
            assert_close(out[name], want)
    finally:
        await client.close()


async def test_concurrent_requests_are_split_back_correctly(mesh: Settings) -> None:
    import asyncio

    client = TritonClient(mesh.triton_address)
    try:
        feeds = [inputs(b) for b in (1, 2, 3, 1, 2, 3, 1, 2)]
        outs = await asyncio.gather(*[client.infer("green_keyer", f, ["alpha"]) for f in feeds])
        for feed, out in zip(feeds, outs):
            assert_close(out["alpha"], key_reference(feed["chroma"], feed["params"])[0])
    finally:
        await client.close()


async def test_unknown_model_is_a_clear_error(mesh: Settings) -> None:
    client = TritonClient(mesh.triton_address)
    try:
        with pytest.raises(ModelNotFound, match="mediamesh models build"):
            await client.infer("no_such_model", inputs(), ["alpha"])
    finally:
        await client.close()


async def test_triton_down_is_unavailable_after_retries() -> None:
    client = TritonClient(f"127.0.0.1:{free_port_base()}", timeout_s=3, retries=2,
                          backoff_s=0.05)
    try:
        with pytest.raises(InferenceUnavailable, match="mediamesh up"):
            await client.infer("green_keyer", inputs(), ["alpha"])
        assert not await client.is_ready()
    finally:
        await client.close()


async def test_probe_model_through_a_service(mesh: Settings) -> None:
    feed = inputs()
    request = diagnostics_pb2.ProbeModelRequest(
        model="green_keyer", inputs=[numpy_to_tensor(n, a) for n, a in feed.items()],
        outputs=["alpha"])
    async with grpc.aio.insecure_channel(mesh.service_address("audio")) as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        reply = await stub.ProbeModel(request, timeout=10)
        assert_close(tensor_to_numpy(reply.outputs[0]),
                     key_reference(feed["chroma"], feed["params"])[0])
        assert 0 < reply.triton_ms <= reply.service_ms
        request.model = "no_such_model"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ProbeModel(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value)[0] == "MODEL_NOT_FOUND"
    assert "mediamesh models build" in caught.value.details()


def big_inputs(batch: int) -> dict[str, np.ndarray]:
    """A keying chunk of 480x640 frames: every tensor but params above triton_shm.MIN_BYTES."""
    rng = np.random.default_rng(batch)
    chroma = rng.integers(0, 256, (batch, 2, 240, 320), dtype=np.uint8)
    params = np.tile(np.array([-30, -50, 6, 46, 0.8], np.float32), (batch, 1))
    return {"chroma": chroma, "params": params}


def output_bytes(feed: dict[str, np.ndarray]) -> dict[str, int]:
    plane = feed["chroma"][:, 0].nbytes
    return {"alpha": 4 * plane, "alpha_chroma": plane, "despilled_chroma": 2 * plane}


async def test_shared_memory_carries_big_tensors_both_ways(mesh: Settings) -> None:
    import asyncio

    from mediamesh import triton_shm

    feeds = [big_inputs(b) for b in (4, 3, 4, 2)]
    assert all(f["chroma"].nbytes >= triton_shm.MIN_BYTES for f in feeds)
    shared = TritonClient(mesh.triton_address, shared_memory=True)
    try:
        for _ in range(2):  # concurrent calls lease a region each, then reuse them
            outs = await asyncio.gather(*[shared.infer("green_keyer", f, OUTPUTS,
                                                       output_bytes=output_bytes(f))
                                          for f in feeds])
            for feed, out in zip(feeds, outs, strict=True):
                for name, want in zip(OUTPUTS, key_reference(feed["chroma"], feed["params"]),
                                      strict=True):
                    assert_close(out[name], want)
        status = await shared.client.get_system_shared_memory_status(as_json=True)
        assert shared._shm is not None
        prefix = shared._shm.prefix
        ours = [r for r in status.get("regions", {}).values() if r["name"].startswith(prefix)]
        # reused: 8 calls, at most 4 at once; a pool that never reused would hold 8
        assert 1 <= len(ours) < 2 * len(feeds), ours
        # a restarted Triton has forgotten every region: the client registers them again
        await shared.client.unregister_system_shared_memory()
        out = await shared.infer("green_keyer", feeds[0], OUTPUTS,
                                 output_bytes=output_bytes(feeds[0]))
        assert_close(out["alpha"], key_reference(feeds[0]["chroma"], feeds[0]["params"])[0])
    finally:
        await shared.close()
    status = await TritonClient(mesh.triton_address).client.get_system_shared_memory_status(
        as_json=True)
    assert not [r for r in status.get("regions", {}).values() if r["name"].startswith(prefix)]
