"""Boot a real embedded mesh for a test session (NATS, Triton, every service), on free ports
with a private state dir, and always tear it down: the integration and fuzz suites start
their meshes the same way from here."""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mediamesh.config import SOURCE_ROOT, Settings, load_settings
from mediamesh.mesh import control
from mediamesh.mesh.ports import free_port_base
from mediamesh.models import registry


@contextlib.contextmanager
def running_mesh(state: Path, timeout_s: float = 120, **overrides: Any) -> Iterator[Settings]:
    """A healthy mesh whose state lives in `state` (policies copied there: tests edit them);
    `overrides` are further settings (TLS, tokens, a trace collector...)."""
    policies = shutil.copytree(SOURCE_ROOT / "policies", state / "policies")
    settings = load_settings(state_dir=state, port_base=free_port_base(),
                             inline_limit_bytes=1 << 20, orchestrator_ack_wait_s=4.0,
                             moderation_policies_dir=policies, **overrides)
    registry.build(settings.model_repository)
    try:
        control.up(settings, timeout_s=timeout_s)
        yield settings
    finally:
        control.down(settings)
