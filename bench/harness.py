"""What every bench script needs: a mesh (its own on free ports, or the running one),
latency percentiles, a console that prints full tables into logs, and machine facts for
the JSON."""
from __future__ import annotations

import platform
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from mediamesh.config import Settings, load_settings
from mediamesh.mesh import control
from mediamesh.mesh.ports import free_port_base
from mediamesh.models import registry


def bench_console() -> Console:
    """Wide enough for the tables when stdout is a file or a pipe."""
    return Console(width=None if sys.stdout.isatty() else 160)


@contextmanager
def bench_mesh(state_dir: Path | None, console: Console, timeout_s: float = 120.0,
               **overrides: Any) -> Iterator[Settings]:
    """The mesh running in `state_dir`, or (None) a fresh one on free ports with its models
    built, started here and stopped on the way out even when the bench fails."""
    if state_dir is not None:  # the settings `mediamesh up` resolved, when it wrote them
        resolved = state_dir / "mesh.json"
        yield load_settings(resolved) if resolved.exists() else load_settings(state_dir=state_dir)
        return
    state = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    settings = load_settings(state_dir=state, port_base=free_port_base(), **overrides)
    registry.build(settings.model_repository)
    try:
        with console.status("starting a mesh for the benchmark..."):
            control.up(settings, timeout_s=timeout_s)
        yield settings
    finally:
        control.down(settings)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation, as numpy), None for no values."""
    return float(np.percentile(values, q)) if len(values) else None


def latency_summary(values_ms: Sequence[float]) -> dict[str, Any]:
    """p50, p99 and mean of latencies in ms, and how many there were."""
    return {"p50_ms": percentile(values_ms, 50), "p99_ms": percentile(values_ms, 99),
            "mean_ms": float(np.mean(values_ms)) if len(values_ms) else None,
            "calls": len(values_ms)}


def machine() -> dict[str, str]:
    return {"python": sys.version.split()[0], "platform": platform.platform()}
