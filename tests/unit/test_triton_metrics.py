"""Triton's Prometheus text, read into per-model counters, and batch sizes from two scrapes."""
from __future__ import annotations

import pytest

from mediamesh.mesh.triton_metrics import (
    ModelCounters,
    batch_deltas,
    batch_stats,
    counters_by_model,
    parse_prometheus,
)

# as Triton 2.51 prints it (trimmed), plus a label with escapes
SCRAPE = """\
# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="green_keyer",version="1"} 120
nv_inference_request_success{model="beat_tcn",version="1"} 9
nv_inference_request_failure{model="green_keyer",reason="REJECTED",version="1"} 1
nv_inference_request_failure{model="green_keyer",reason="BACKEND",version="1"} 2
nv_inference_count{model="green_keyer",version="1"} 480
nv_inference_exec_count{model="green_keyer",version="1"} 40
nv_inference_exec_count{model="beat_tcn",version="1"} 9
nv_inference_queue_duration_us{model="green_keyer",version="1"} 60000
nv_inference_compute_infer_duration_us{model="green_keyer",version="1"} 400000
nv_cpu_utilization 0.5
# TYPE nv_inference_first_response_histogram_ms histogram
nv_inference_first_response_histogram_ms_bucket{model="beat_tcn",le="100"} 4
nv_inference_first_response_histogram_ms_bucket{model="beat_tcn",le="+Inf"} 9
nv_inference_first_response_histogram_ms_sum{model="beat_tcn"} 310
nv_inference_first_response_histogram_ms_count{model="beat_tcn"} 9
weird_metric{path="a \\"quoted\\" \\\\ thing",x="1"} 3 1712000000000
"""


def test_counters_and_gauges_are_parsed_with_their_labels() -> None:
    samples = parse_prometheus(SCRAPE)
    assert len(samples) == 11
    assert samples[0].name == "nv_inference_request_success"
    assert samples[0].labels == {"model": "green_keyer", "version": "1"}
    assert samples[0].value == 120
    assert samples[-2].labels == {} and samples[-2].value == 0.5
    assert samples[-1].labels == {"path": 'a "quoted" \\ thing', "x": "1"}
    assert samples[-1].value == 3  # the timestamp is not the value
    assert not any(s.name.startswith("nv_inference_first_response") for s in samples)


def test_a_line_that_is_not_a_sample_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_prometheus("ok 1\nnot a sample at all\n")


def test_counters_sum_failure_reasons_per_model() -> None:
    counters = counters_by_model(parse_prometheus(SCRAPE))
    assert set(counters) == {"green_keyer", "beat_tcn"}
    keyer = counters["green_keyer"]
    assert (keyer.requests, keyer.failures, keyer.inferences, keyer.executions) == \
        (120, 3, 480, 40)
    assert counters["beat_tcn"].inferences == 0


def test_batch_size_is_requests_per_execution_over_the_span() -> None:
    before = {"green_keyer": ModelCounters(requests=20, inferences=80, executions=20,
                                           queue_us=1000, compute_us=100_000),
              "idle": ModelCounters(requests=5, executions=5)}
    after = {"green_keyer": ModelCounters(requests=120, inferences=480, executions=45,
                                          queue_us=51_000, compute_us=350_000),
             "idle": ModelCounters(requests=5, executions=5),
             "new": ModelCounters(requests=3, inferences=3, executions=1)}
    stats = batch_deltas(before, after)
    assert set(stats) == {"green_keyer", "new"}  # idle served nothing in the span
    keyer = stats["green_keyer"]
    assert keyer.requests == 100 and keyer.executions == 25
    assert keyer.requests_per_execution == pytest.approx(4.0)
    assert keyer.items_per_execution == pytest.approx(16.0)  # 4 frames a request
    assert keyer.queue_ms_per_request == pytest.approx(0.5)
    assert keyer.run_ms_per_request == pytest.approx(2.5)  # 250 ms over 100 requests
    assert stats["new"].requests_per_execution == pytest.approx(3.0)


def test_a_span_without_executions_does_not_divide_by_zero() -> None:
    stats = batch_stats(ModelCounters(failures=2))
    assert stats.requests == 0 and stats.failures == 2 and stats.requests_per_execution == 0

