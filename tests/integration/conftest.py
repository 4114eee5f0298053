"""A real embedded mesh for the integration tests: NATS, Triton and every service, started
from the pip wheels on free ports with a private state dir, torn down even on failure."""
from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mediamesh.client import MeshClient
from mediamesh.config import SOURCE_ROOT, Settings, load_settings
from mediamesh.mesh import control
from mediamesh.mesh.ports import free_port_base
from mediamesh.models import registry


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    state = tmp_path_factory.mktemp("mesh")
    policies = shutil.copytree(SOURCE_ROOT / "policies", state / "policies")  # tests edit them
    settings = load_settings(state_dir=state, port_base=free_port_base(),
                             inline_limit_bytes=1 << 20, orchestrator_ack_wait_s=4.0,
                             moderation_policies_dir=policies)
    registry.build(settings.model_repository)
    try:
        control.up(settings, timeout_s=120)
        yield settings
    finally:
        control.down(settings)


@pytest.fixture(scope="session")
async def client(mesh: Settings) -> AsyncIterator[MeshClient]:
    async with MeshClient.from_settings(mesh) as mesh_client:
        yield mesh_client


@pytest.fixture(scope="session")
def media_root(mesh: Settings) -> Path:
    return mesh.media_root
