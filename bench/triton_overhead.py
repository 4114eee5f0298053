"""What does a mesh service add on top of Triton? p50/p99 of a tiny call, side by side.

Starts its own embedded mesh on free ports (or uses a running one with --state-dir), then
measures in interleaved rounds, so machine noise hits every path alike:
  grpc_floor      grpc.health Check on the vision service (one gRPC hop, no Triton)
  triton_direct   green_keyer on an 8x8 frame (4x4 chroma), tritonclient -> Triton
  via_service     the same call, client -> vision DiagnosticsService.ProbeModel -> Triton
Also reported, from inside the service (ProbeModel's own timings): triton_from_service (the
same Triton call, made by the service) and service_handler (the whole handler). So the
table shows where the added time goes: the client->service hop, the handler, and Triton.
Target (issue 2): via_service - triton_direct < 1 ms at p50. Prints a table, writes JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import tritonclient.grpc.aio as triton_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.table import Table
from tritonclient.grpc import InferInput, InferRequestedOutput

from bench.harness import bench_console, bench_mesh, latency_summary, machine
from mediamesh.config import Settings
from mediamesh.diagnostics import numpy_to_tensor
from mediamesh.grpc_server import grpc_options
from mediamesh.v1 import diagnostics_pb2, diagnostics_pb2_grpc

MODEL = "green_keyer"


def tiny_inputs() -> dict[str, np.ndarray]:
    chroma = np.random.default_rng(0).integers(0, 256, (1, 2, 4, 4), dtype=np.uint8)
    params = np.array([[-30, -50, 6, 46, 0.8]], dtype=np.float32)
    return {"chroma": chroma, "params": params}


async def measure(settings: Settings, rounds: int, per_round: int) -> dict[str, list[float]]:
    inputs = tiny_inputs()
    triton = triton_aio.InferenceServerClient(settings.triton_address)
    triton_inputs = []
    for name, array in inputs.items():
        tensor = InferInput(name, list(array.shape), "UINT8" if array.dtype == np.uint8 else "FP32")
        tensor.set_data_from_numpy(array)
        triton_inputs.append(tensor)
    outputs = [InferRequestedOutput("alpha"), InferRequestedOutput("despilled_chroma")]
    channel = grpc.aio.insecure_channel(settings.service_address("vision"),
                                        options=grpc_options(settings.grpc_max_message_bytes))
    probe = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    request = diagnostics_pb2.ProbeModelRequest(
        model=MODEL, inputs=[numpy_to_tensor(n, a) for n, a in inputs.items()],
        outputs=["alpha", "despilled_chroma"])

    async def grpc_floor() -> None:
        await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)

    async def triton_direct() -> None:
        await triton.infer(MODEL, triton_inputs, outputs=outputs, client_timeout=5)

    inside: dict[str, list[float]] = {"triton_from_service": [], "service_handler": []}

    async def via_service() -> None:
        reply = await probe.ProbeModel(request, timeout=5)
        inside["triton_from_service"].append(reply.triton_ms)
        inside["service_handler"].append(reply.service_ms)

    paths = {"grpc_floor": grpc_floor, "triton_direct": triton_direct, "via_service": via_service}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for call in paths.values():  # warm-up: connections, first-call costs
        for _ in range(50):
            await call()
    for _ in range(rounds):
        for name, call in paths.items():
            for _ in range(per_round):
                started = time.perf_counter()
                await call()
                samples[name].append((time.perf_counter() - started) * 1000)
    await channel.close()
    await triton.close()
    warmup = 50  # the first via_service calls were the warm-up
    return {**samples, **{k: v[warmup:] for k, v in inside.items()}}


def summarise(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {name: latency_summary(v) for name, v in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, help="use the mesh already running here")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench/results/triton_overhead.json"))
    args = parser.parse_args()
    console = bench_console()
    with bench_mesh(args.state_dir, console) as settings:
        samples = asyncio.run(measure(settings, args.rounds, args.per_round))
    stats = summarise(samples)
    added_p50 = stats["via_service"]["p50_ms"] - stats["triton_direct"]["p50_ms"]
    added_p99 = stats["via_service"]["p99_ms"] - stats["triton_direct"]["p99_ms"]
    table = Table(title=f"tiny call ({MODEL}, 8x8 frame), sequential, "
                        f"{args.rounds} interleaved rounds x {args.per_round}")
    for column in ("path", "p50 ms", "p99 ms", "mean ms", "calls"):
        table.add_column(column)
    for name, s in stats.items():
        table.add_row(name, f"{s['p50_ms']:.3f}", f"{s['p99_ms']:.3f}", f"{s['mean_ms']:.3f}",
                      str(s["calls"]))
    console.print(table)
    verdict = "meets" if added_p50 < 1.0 else "MISSES"
    console.print(f"service adds {added_p50:.3f} ms at p50 ({added_p99:.3f} ms at p99): "
                  f"{verdict} the < 1 ms p50 target")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "triton_overhead", "model": MODEL, "stats": stats,
        "service_added_p50_ms": added_p50, "service_added_p99_ms": added_p99,
        "target_added_p50_ms": 1.0, "meets_target": added_p50 < 1.0,
        "machine": machine(),
    }, indent=2))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
