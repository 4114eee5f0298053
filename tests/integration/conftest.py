"""A real embedded mesh for the integration tests: NATS, Triton and every service, started
from the pip wheels on free ports with a private state dir, torn down even on failure."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mediamesh.client import MeshClient
from mediamesh.config import Settings
from tests.mesh_fixture import running_mesh


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with running_mesh(tmp_path_factory.mktemp("mesh")) as settings:
        yield settings


@pytest.fixture(scope="session")
async def client(mesh: Settings) -> AsyncIterator[MeshClient]:
    async with MeshClient.from_settings(mesh) as mesh_client:
        yield mesh_client


@pytest.fixture(scope="session")
def media_root(mesh: Settings) -> Path:
    return mesh.media_root
