"""Triton's Prometheus metrics, read as per-model counters: how well dynamic batching joins
requests, and how long requests wait for it.

Triton's counters are cumulative since it started, so anything about a time span is the
difference of two scrapes:
  requests per execution = delta nv_inference_request_success / delta nv_inference_exec_count
      (how many requests the batcher joined into one model run; 1.0 = no batching)
  items per execution    = delta nv_inference_count / delta nv_inference_exec_count
      (batch rows per run: a request may itself carry several rows, e.g. 4 video frames)
  queue ms per request   = delta nv_inference_queue_duration_us / delta requests / 1000
  run ms per request     = delta nv_inference_compute_infer_duration_us / delta requests / 1000
      (the duration of the model run a request was part of: Triton charges every request of
      a batch the whole run, so these durations add up per request, not per run)
"""
from __future__ import annotations

import urllib.request
from dataclasses import dataclass, fields

from prometheus_client.parser import text_string_to_metric_families

from mediamesh.config import Settings


@dataclass(frozen=True)
class Sample:
    name: str  # the metric family's name (a counter's without prometheus_client's "_total")
    labels: dict[str, str]
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    """The counter and gauge samples of a Prometheus text exposition, named by family.
    Histogram and summary parts (_bucket, _sum, _count) are left out."""
    return [Sample(family.name, dict(sample.labels), float(sample.value))
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name in (family.name, f"{family.name}_total")]


@dataclass(frozen=True)
class ModelCounters:
    """One model's cumulative counters (all versions summed)."""

    requests: float = 0.0  # nv_inference_request_success
    failures: float = 0.0  # nv_inference_request_failure, every reason
    inferences: float = 0.0  # nv_inference_count: batch rows
    executions: float = 0.0  # nv_inference_exec_count: model runs
    queue_us: float = 0.0  # nv_inference_queue_duration_us
    compute_us: float = 0.0  # nv_inference_compute_infer_duration_us

    def __sub__(self, other: ModelCounters) -> ModelCounters:
        return ModelCounters(**{f.name: getattr(self, f.name) - getattr(other, f.name)
                                for f in fields(self)})

    def __add__(self, other: ModelCounters) -> ModelCounters:
        return ModelCounters(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                                for f in fields(self)})


_COUNTERS = {
    "nv_inference_request_success": "requests",
    "nv_inference_request_failure": "failures",
    "nv_inference_count": "inferences",
    "nv_inference_exec_count": "executions",
    "nv_inference_queue_duration_us": "queue_us",
    "nv_inference_compute_infer_duration_us": "compute_us",
}


def counters_by_model(samples: list[Sample]) -> dict[str, ModelCounters]:
    """Per-model counters out of a scrape."""
    totals: dict[str, dict[str, float]] = {}
    for sample in samples:
        field_name = _COUNTERS.get(sample.name)
        model = sample.labels.get("model")
        if field_name is None or model is None:
            continue
        row = totals.setdefault(model, {})
        row[field_name] = row.get(field_name, 0.0) + sample.value
    return {model: ModelCounters(**row) for model, row in totals.items()}


@dataclass(frozen=True)
class BatchStats:
    """What dynamic batching achieved over a span (see the module docstring)."""

    requests: int
    failures: int
    executions: int
    requests_per_execution: float
    items_per_execution: float
    queue_ms_per_request: float
    run_ms_per_request: float


def batch_stats(delta: ModelCounters) -> BatchStats:
    """Averages out of the difference of two scrapes of one model."""
    runs = max(delta.executions, 1.0)
    served = max(delta.requests, 1.0)
    return BatchStats(int(delta.requests), int(delta.failures), int(delta.executions),
                      delta.requests / runs, delta.inferences / runs,
                      delta.queue_us / served / 1000, delta.compute_us / served / 1000)


def batch_deltas(before: dict[str, ModelCounters], after: dict[str, ModelCounters]
                 ) -> dict[str, BatchStats]:
    """BatchStats of every model that served or failed a request between two scrapes."""
    out = {}
    for model, now in sorted(after.items()):
        delta = now - before.get(model, ModelCounters())
        if delta.requests > 0 or delta.failures > 0:
            out[model] = batch_stats(delta)
    return out


def metrics_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.triton_metrics_port}/metrics"


def scrape(url: str, timeout_s: float = 5.0) -> dict[str, ModelCounters]:
    """Per-model counters of the Triton serving `url` (blocking: one small HTTP GET)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as reply:
        return counters_by_model(parse_prometheus(reply.read().decode()))
