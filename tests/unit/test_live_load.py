"""Load figures of `mediamesh status` from real prometheus_client expositions."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mediamesh.mesh.live_load import load_between, quantile, read_part


def exposition(calls: dict[str, int], latencies: list[float], waiting: int | None = None) -> str:
    """A part's /metrics text as our telemetry module writes it (same names and labels)."""
    registry = CollectorRegistry()
    handled = Counter("grpc_server_handled_total", "", ["grpc_service", "grpc_method",
                                                        "grpc_code"], registry=registry)
    for code, n in calls.items():
        handled.labels("mediamesh.v1.AudioService", "AnalyzeRhythm", code).inc(n)
    seconds = Histogram("grpc_server_handling_seconds", "", ["grpc_service", "grpc_method"],
                        buckets=(0.1, 0.5, 1.0, 5.0), registry=registry)
    for value in latencies:
        seconds.labels("mediamesh.v1.AudioService", "AnalyzeRhythm").observe(value)
    Gauge("grpc_server_in_flight", "", ["grpc_service", "grpc_method"],
          registry=registry).labels("mediamesh.v1.AudioService", "AnalyzeRhythm").set(2)
    if waiting is not None:
        Gauge("mediamesh_orchestrator_queue_depth", "", registry=registry).set(waiting)
    return generate_latest(registry).decode()


def test_calls_split_into_faults_and_refusals() -> None:
    reading = read_part(exposition({"OK": 7, "INVALID_ARGUMENT": 2, "UNAVAILABLE": 1}, []))
    assert (reading.calls, reading.faults, reading.refusals, reading.in_flight) == (10, 1, 2, 2)
    assert reading.queue_waiting is None
    assert read_part(exposition({}, [], waiting=4)).queue_waiting == 4


def test_quantiles_interpolate_inside_the_bucket_like_prometheus() -> None:
    # 10 calls: 4 under 0.1 s, 6 between 0.5 and 1 s
    reading = read_part(exposition({"OK": 10}, [0.05] * 4 + [0.8] * 6))
    load = load_between(None, reading)
    # the 5th of 10 calls is the first of 6 in (0.5, 1]: 0.5 + 0.5 * (1/6)
    assert load.p50_s == pytest.approx(0.5 + 0.5 / 6)
    assert load.p99_s == pytest.approx(0.5 + 0.5 * (5.9 / 6))
    assert quantile((), 0.5) is None


def test_an_interval_counts_only_what_happened_in_it() -> None:
    before = read_part(exposition({"OK": 10}, [0.05] * 10))
    after = read_part(exposition({"OK": 14, "INTERNAL": 1}, [0.05] * 10 + [3.0] * 5))
    load = load_between(before, after)
    assert (load.calls, load.faults) == (5, 1)
    assert 1.0 < load.p50_s <= 5.0  # the slow calls only, not the fast ones before
