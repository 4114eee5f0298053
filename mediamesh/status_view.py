"""Tables and JSON of the mesh's load for `mediamesh status` (one reading, or live)."""
from __future__ import annotations

from typing import Any

from rich.table import Table

from mediamesh.mesh.live_load import MeshReading, load_between, triton_between


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _rate(count: float, seconds: float | None) -> str:
    return f"{count:.0f}" if seconds is None else f"{count / seconds:.2f}/s"


def load_tables(before: MeshReading | None, after: MeshReading,
                seconds: float | None) -> list[Table]:
    """Calls, faults, refusals and latency per part; batching per Triton model. Rates over
    `seconds` when two readings are given, totals since start otherwise."""
    span = f"last {seconds:.0f} s" if seconds else "since start"
    parts = Table(title=f"load ({span})")
    for column in ("part", "calls", "faults", "refused", "in flight", "p50", "p99", "queue"):
        parts.add_column(column, justify="left" if column == "part" else "right")
    for part, reading in after.parts.items():
        if reading is None:
            parts.add_row(part, *["-"] * 6, "[red]no /metrics[/red]")
            continue
        old = before.parts.get(part) if before else None
        load = load_between(old, reading)
        queue = "-" if load.queue_waiting is None else \
            f"{load.queue_waiting:.0f} waiting, {load.queue_in_progress or 0:.0f} running"
        faults = f"[red]{load.faults:.0f}[/red]" if load.faults else "0"
        parts.add_row(part, _rate(load.calls, seconds), faults, f"{load.refusals:.0f}",
                      f"{load.in_flight:.0f}", _ms(load.p50_s), _ms(load.p99_s), queue)
    models = Table(title=f"Triton batching ({span})")
    for column in ("model", "requests", "runs", "requests/run", "queue/request",
                   "compute/request", "failures"):
        models.add_column(column, justify="left" if column == "model" else "right")
    for model, stats in triton_between(before, after).items():
        models.add_row(model, _rate(stats.requests, seconds), str(stats.executions),
                       f"{stats.requests_per_execution:.2f}",
                       f"{stats.queue_ms_per_request:.1f} ms",
                       f"{stats.run_ms_per_request:.1f} ms", str(stats.failures))
    return [parts, models] if models.row_count else [parts]


def load_json(reading: MeshReading) -> dict[str, Any]:
    """Totals since start, for `mediamesh status --json`."""
    parts: dict[str, Any] = {}
    for part, value in reading.parts.items():
        if value is None:
            parts[part] = None
            continue
        load = load_between(None, value)
        parts[part] = {"calls": load.calls, "faults": load.faults, "refusals": load.refusals,
                       "in_flight": load.in_flight, "p50_s": load.p50_s, "p99_s": load.p99_s,
                       "queue_waiting": load.queue_waiting, "runs_finished": load.runs}
    models = {model: {"requests": s.requests, "executions": s.executions,
                      "requests_per_execution": round(s.requests_per_execution, 3),
                      "queue_ms_per_request": round(s.queue_ms_per_request, 3),
                      "failures": s.failures}
              for model, s in triton_between(None, reading).items()}
    return {"parts": parts, "triton": models}
